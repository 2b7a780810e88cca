"""Latency of the first frame after idle, seen from outside vswitchd.

vswitchd in adaptive mode with four TAP ports, each in its own network
namespace. A probe pings from namespace a to b every `interval` seconds (pinned
to cpu 0), so before each request the poller has been idle far longer than it
spins (200 us) and sleeps on the ports' fds; the reply follows within
microseconds, while the poller is still awake. The same probe is then repeated
while a side flow between namespaces c and d (10k pings per second, pinned to
the poller's cpu 1) keeps the poller awake. Everything else is the same in both
series, including the probe's own core and process waking up, so the
difference of the two median RTTs is the cost of waking a sleeping poller for
the first frame. Both series run with pollers.max_nap_us: 0, so that naps
under the side flow's light load do not blur that difference; a third series,
the side flow with the default naps, shows what naps add to each frame under
light load. The same probe runs against busy pollers for reference.

TAP ports are used because they need no peer with its own timestamps; a
vhost-user kick wakes the poller through the same poll() call."""

import json
import os
import re
import statistics
import subprocess
import time

import procs

_TIME_RE = re.compile(r"time=([\d.]+) ms")


def _ns(ns, *argv, timeout=15):
    return procs.run(["ip", "netns", "exec", ns] + list(argv), timeout=timeout)


def _ping_ok(ns, peer, deadline):
    while True:  # the first frames also teach the switch both MACs
        r = subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", peer],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("no ping reply from %s through vswitchd TAP ports" % peer)


def _probe(ns, peer, pings, interval):
    out = _ns(ns, "taskset", "-c", "0", "ping", "-c", str(pings), "-i", str(interval), "-W", "1",
              peer, timeout=pings * (interval + 1) + 10)
    rtts = [float(x) * 1000.0 for x in _TIME_RE.findall(out)]
    if not rtts:
        raise RuntimeError("ping printed no round-trip times")
    return rtts


def _one_mode(args, workdir, mode, pings, interval, side_flow, max_nap_us=None, idle=True):
    """Probe RTTs after idle ("idle", unless idle=False) and, with side_flow,
    while a side flow keeps the poller from sleeping ("awake")."""
    pid = os.getpid()
    tag = "%d" % (pid % 100000)
    d = os.path.join(workdir, "latency-%s-%s" % (mode, max_nap_us))
    os.makedirs(d, exist_ok=True)
    ctl = os.path.join(d, "ctl.sock")
    names = "abcd"
    taps = ["vsb%s%s" % (c.upper(), tag) for c in names]
    nss = ["vsbench%d-%s" % (pid, c) for c in names]
    net = pid % 200
    addr = ["10.250.%d.1" % net, "10.250.%d.2" % net, "10.251.%d.1" % net, "10.251.%d.2" % net]
    cfg = os.path.join(d, "vswitchd.yaml")
    with open(cfg, "w") as f:
        f.write("pollers:\n  cpus: [1]\n  mode: %s\n" % mode)
        if max_nap_us is not None:
            f.write("  max_nap_us: %d\n" % max_nap_us)
        f.write("memory:\n  hugepage_size: %s\n  buffers: 4096\n" %
                ("2M" if args.hugepages else "none"))
        f.write("control:\n  socket: %s\n" % ctl)
        f.write("ports:\n")
        for i, t in enumerate(taps):
            f.write("  - name: t%d\n    type: tap\n    ifname: %s\n" % (i, t))
    proc = side = None
    try:
        for ns in nss:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, timeout=10)
            procs.run(["ip", "netns", "add", ns])
        proc = procs.Proc("vswitchd-latency-" + mode, [args.vswitchd, "-c", cfg],
                          os.path.join(d, "vswitchd.log"))
        procs.wait_for(lambda: all(os.path.exists("/sys/class/net/" + t) for t in taps), 20,
                       "TAP devices %s" % ", ".join(taps), proc)
        for t, ns, a in zip(taps, nss, addr):
            procs.run(["ip", "link", "set", t, "netns", ns])
            _ns(ns, "ip", "addr", "add", a + "/24", "dev", t)
            _ns(ns, "ip", "link", "set", t, "up")
            _ns(ns, "ip", "link", "set", "lo", "up")
        deadline = time.monotonic() + 15
        _ping_ok(nss[0], addr[1], deadline)
        _ping_ok(nss[2], addr[3], deadline)
        def sleeps():
            out = procs.run([args.vswitchctl, "-s", ctl, "--json", "--timeout", "5", "pollers"],
                            timeout=10)
            return sum(p.get("sleeps", 0) for p in json.loads(out)["pollers"])

        res = {}
        if idle:
            s0 = sleeps()
            res["idle"] = _probe(nss[0], addr[1], pings, interval)
            res["sleeps_idle"] = sleeps() - s0
        if side_flow:
            secs = int(pings * interval + 3)
            side = procs.Proc("side-flow", [
                "ip", "netns", "exec", nss[2], "taskset", "-c", "1", "ping", "-q", "-i", "0.0001",
                "-w", str(secs), addr[3]], os.path.join(d, "side-flow.log"))
            time.sleep(0.5)
            s1 = sleeps()
            res["awake"] = _probe(nss[0], addr[1], pings, interval)
            res["sleeps_awake"] = sleeps() - s1
        return res
    finally:
        if side:
            side.stop(timeout=5)
        if proc:
            proc.stop(timeout=10)
        for ns in nss:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, timeout=10)


def _stats(rtts):
    return {"rtt_us_median": statistics.median(rtts), "rtt_us_min": min(rtts),
            "rtt_us_max": max(rtts), "pings": len(rtts)}


def first_frame_after_idle(args, workdir, pings=30, interval=0.2):
    a = _one_mode(args, workdir, "adaptive", pings, interval, side_flow=True, max_nap_us=0)
    n = _one_mode(args, workdir, "adaptive", pings, interval, side_flow=True, idle=False)
    b = _one_mode(args, workdir, "busy", pings, interval, side_flow=False)
    res = {"adaptive_after_idle": _stats(a["idle"]), "adaptive_kept_awake": _stats(a["awake"]),
           "adaptive_light_load_naps": _stats(n["awake"]), "busy": _stats(b["idle"])}
    # Sanity of the method: the poller slept between probes in the first
    # series and (almost) never during the second.
    res["poller_sleeps"] = {"after_idle": a["sleeps_idle"], "kept_awake": a["sleeps_awake"]}
    res["wake_us"] = (res["adaptive_after_idle"]["rtt_us_median"] -
                      res["adaptive_kept_awake"]["rtt_us_median"])
    res["method"] = ("ping between two TAP ports in network namespaces, pinned to cpu 0, one "
                     "every %.1f s; adaptive pollers; median RTT with the poller asleep before "
                     "each ping minus median RTT while a 10 kpps side flow on two other TAP "
                     "ports keeps it awake" % interval)
    return res
