"""Latency of the first frame after idle, seen from outside vswitchd.

Two TAP ports of vswitchd, each in its own network namespace; one ping every
`interval` seconds, so before each request the poller has been idle far longer
than it spins (200 us) and, in adaptive mode, sleeps on the ports' fds. The
reply follows within microseconds, while the poller is still awake. The median
RTT in adaptive mode minus the median RTT in busy mode is therefore the cost of
waking one sleeping poller for the first frame. TAP is used because it needs no
peer program with its own timestamps; a vhost-user kick wakes the poller the
same way (an eventfd in the same poll() call)."""

import os
import re
import statistics
import subprocess
import time

import procs

_TIME_RE = re.compile(r"time=([\d.]+) ms")


def _ns(ns, *argv, timeout=15):
    return procs.run(["ip", "netns", "exec", ns] + list(argv), timeout=timeout)


def _one_mode(args, workdir, mode, series):
    tag = "%d" % (os.getpid() % 100000)
    d = os.path.join(workdir, "latency-" + mode)
    os.makedirs(d, exist_ok=True)
    ctl = os.path.join(d, "ctl.sock")
    taps = ("vsbA" + tag, "vsbB" + tag)
    nss = ("vsbench%d-a" % os.getpid(), "vsbench%d-b" % os.getpid())
    cfg = os.path.join(d, "vswitchd.yaml")
    with open(cfg, "w") as f:
        f.write("pollers:\n  cpus: [1]\n  mode: %s\n" % mode)
        f.write("memory:\n  hugepage_size: %s\n  buffers: 4096\n" %
                ("2M" if args.hugepages else "none"))
        f.write("control:\n  socket: %s\n" % ctl)
        f.write("ports:\n")
        for i, t in enumerate(taps):
            f.write("  - name: t%d\n    type: tap\n    ifname: %s\n" % (i, t))
    proc = None
    try:
        for ns in nss:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, timeout=10)
            procs.run(["ip", "netns", "add", ns])
        proc = procs.Proc("vswitchd-latency-" + mode, [args.vswitchd, "-c", cfg],
                          os.path.join(d, "vswitchd.log"))
        procs.wait_for(lambda: all(os.path.exists("/sys/class/net/" + t) for t in taps), 20,
                       "TAP devices %s" % ", ".join(taps), proc)
        for i, (t, ns) in enumerate(zip(taps, nss)):
            procs.run(["ip", "link", "set", t, "netns", ns])
            _ns(ns, "ip", "addr", "add", "10.250.%d.%d/24" % (os.getpid() % 200, i + 1), "dev", t)
            _ns(ns, "ip", "link", "set", t, "up")
            _ns(ns, "ip", "link", "set", "lo", "up")
        peer = "10.250.%d.2" % (os.getpid() % 200)
        deadline = time.monotonic() + 15
        while True:  # the first frames also teach the switch both MACs
            r = subprocess.run(["ip", "netns", "exec", nss[0], "ping", "-c", "1", "-W", "1", peer],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no ping reply through vswitchd TAP ports (%s mode)" % mode)
        res = {}
        for name, pings, interval in series:
            # ping on the other core: on the poller's core a busy poller would
            # delay ping itself by a scheduler time slice.
            out = _ns(nss[0], "taskset", "-c", "0", "ping", "-c", str(pings), "-i", str(interval),
                      "-W", "1", peer, timeout=pings * (interval + 1) + 10)
            rtts = [float(x) * 1000.0 for x in _TIME_RE.findall(out)]
            if not rtts:
                raise RuntimeError("ping printed no round-trip times (%s mode)" % mode)
            res[name] = rtts
        return res
    finally:
        if proc:
            proc.stop(timeout=10)
        for ns in nss:
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL, timeout=10)


def _stats(rtts):
    return {"rtt_us_median": statistics.median(rtts), "rtt_us_min": min(rtts),
            "rtt_us_max": max(rtts), "pings": len(rtts)}


def first_frame_after_idle(args, workdir, pings=30, interval=0.2):
    """Adaptive mode: pings `interval` apart (the poller sleeps before each)
    against pings 50 us apart (it never sleeps). The difference of the
    median RTTs bounds what sleeping adds to the first frame from above: it
    also holds the ping side's own wake-up (its core leaving an idle state,
    the ping process being scheduled), which a busy-mode run would share.
    Busy mode is measured too, for the record, but is no baseline with TAP
    ports: the kernel's deferred work for the TAP devices can land on the
    poller's core and then waits for a time slice that a spinning poller
    does not give up (ms, not us, on this machine)."""
    a = _one_mode(args, workdir, "adaptive",
                  [("idle", pings, interval), ("awake", pings * 10, 0.00005)])
    b = _one_mode(args, workdir, "busy", [("idle", pings, interval)])
    res = {"adaptive_after_idle": _stats(a["idle"]), "adaptive_awake": _stats(a["awake"]),
           "busy_after_idle": _stats(b["idle"])}
    res["wake_us_upper_bound"] = (res["adaptive_after_idle"]["rtt_us_median"] -
                                  res["adaptive_awake"]["rtt_us_median"])
    res["method"] = ("ping between two TAP ports in network namespaces, pinned to the other "
                     "core; adaptive pollers; median RTT of pings %.1f s apart minus median RTT "
                     "of pings 50 us apart (an upper bound of the wake-up cost)" % interval)
    return res
