"""Kernel-netdev rows (bash bench/run.sh --netdev): vswitchd's af_xdp port next
to its tap port, one busy poller on cpu 1, in interleaved rounds.

- Frames (tap with offloads=off: raw frames need none): a dpdk-testpmd generator (forwarding lcore on cpu 0) with two
  net_af_packet ports loops 64-byte frames through the switch in io-forward,
  as the vhost-user rows do with virtio-user. For af_xdp the generator's ports
  are the far ends of two veth pairs whose near ends are the switch's af_xdp
  ports (native XDP); for tap they are the switch's two TAP devices. Either way
  a frame crosses one kernel netdev on its way in and one on its way out. Mpps:
  frames the switch forwarded per second (its tx counters), over the least
  disturbed of the windows.
- TCP: two network namespaces, each behind one port (the veth's far end, or
  the TAP device moved in), iperf3 for --seconds; Gbit/s at the receiver. TAP
  with offloads=on hands the switch 64 KB segments, AF_XDP carries MTU-sized
  frames only: both TAP settings are measured.
"""

import json
import os
import shutil
import sys
import time

import procs
import testpmd
from report import log, spread

SWITCH_CPU = 1
BACKENDS = ("af_xdp", "tap-offloads-off")
TCP_BACKENDS = ("af_xdp", "tap-offloads-off", "tap")
NETDEV_TOOLS = ("dpdk-testpmd", "stdbuf", "iperf3", "ethtool", "ip")


def sh(*argv, check=True):
    return procs.run(list(argv), check=check)


class Switch:
    """vswitchd with two ports on a fresh config; names carry the run's tag."""

    def __init__(self, args, d, ports):
        self.args = args
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.ctl_sock = os.path.join(d, "ctl.sock")
        cfg = os.path.join(d, "vswitchd.yaml")
        with open(cfg, "w") as f:
            f.write("pollers:\n  cpus: [%d]\n  mode: busy\n" % SWITCH_CPU)
            f.write("memory:\n  hugepage_size: %s\n  buffers: 32768\n" %
                    ("2M" if args.hugepages else "none"))
            f.write("control:\n  socket: %s\nports:\n" % self.ctl_sock)
            for p in ports:
                f.write("  - {%s}\n" % ", ".join("%s: %s" % kv for kv in p.items()))
        self.proc = procs.Proc("vswitchd", [args.vswitchd, "-c", cfg],
                               os.path.join(d, "vswitchd.log"))

        def ready():
            try:
                self.ctl("version", timeout=1)
                return True
            except Exception:
                return False
        procs.wait_for(ready, 30, "vswitchd control socket", self.proc, step=0.2)

    def ctl(self, *a, timeout=5):
        out = procs.run([self.args.vswitchctl, "-s", self.ctl_sock, "--json", "--timeout",
                         str(timeout)] + list(a), timeout=timeout + 5)
        return json.loads(out) if out.strip() else {}

    def forwarded(self):
        return sum(p["tx_packets"] for p in self.ctl("list-ports")["ports"])

    def stop(self):
        rc = self.proc.stop(timeout=15)
        if rc not in (0, None):
            raise RuntimeError("vswitchd exited with status %s (log %s)" %
                               (rc, os.path.join(self.dir, "vswitchd.log")))


def _quiet_link(dev, ns=None, mac=None):
    pre = ["ip", "netns", "exec", ns] if ns else []
    sh(*pre, "sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % dev, check=False)
    if mac:
        sh(*pre, "ip", "link", "set", dev, "address", mac)
    sh(*pre, "ip", "link", "set", dev, "up")


def frames(kind, rd, args, workdir, tag):
    d = os.path.join(workdir, "%s-frames-%d" % (kind, rd))
    links = []
    sw = gen = None
    try:
        if kind == "af_xdp":
            gen_if = []
            for i in range(2):
                g, s = "%sg%d" % (tag, i), "%ss%d" % (tag, i)
                sh("ip", "link", "add", g, "type", "veth", "peer", "name", s)
                links.append(g)
                _quiet_link(s)
                _quiet_link(g, mac=testpmd.GEN_MACS[i])
                gen_if.append(g)
            sw = Switch(args, d, [{"name": "p%d" % i, "type": "af_xdp",
                                   "ifname": "%ss%d" % (tag, i)} for i in range(2)])
        else:
            gen_if = ["%st%d" % (tag, i) for i in range(2)]
            off = kind == "tap-offloads-off"
            sw = Switch(args, d, [{"name": "p%d" % i, "type": "tap", "ifname": gen_if[i],
                                   "offloads": '"off"' if off else '"on"'} for i in range(2)])
            for i in range(2):
                _quiet_link(gen_if[i], mac=testpmd.GEN_MACS[i])
        vdevs = []
        for i, g in enumerate(gen_if):
            vdevs += ["--vdev", "net_af_packet%d,iface=%s,qpairs=1" % (i, g)]
        app = ["--total-num-mbufs=16384", "--forward-mode=io",
               "--eth-peer=0,%s" % testpmd.GEN_MACS[1], "--eth-peer=1,%s" % testpmd.GEN_MACS[0]]
        prefix = "%s-%s-%d" % (args.prefix, kind, rd)
        gen = testpmd.TestPmd("gen-%s-%d" % (kind, rd), workdir,
                              testpmd.eal_args(1, hugepages=False) + vdevs, app, prefix)
        gen.cmd("set txpkts 64")
        gen.cmd("set burst 32")
        gen.cmd("start tx_first %d" % max(1, args.inflight // 32), timeout=15)
        time.sleep(args.warmup)
        best = None
        for _ in range(args.windows):
            t0, f0 = time.monotonic(), sw.forwarded()
            s0 = procs.sched_sample([sw.proc.pid, gen.proc.pid])
            time.sleep(args.seconds)
            t1, f1 = time.monotonic(), sw.forwarded()
            s1 = procs.sched_sample([sw.proc.pid, gen.proc.pid])
            lost = procs.busiest_thread_wait(s0, s1, t1 - t0) or 0.0
            w = {"mpps": (f1 - f0) / (t1 - t0) / 1e6, "lost": lost}
            if best is None or lost < best["lost"]:
                best = w
            if lost <= args.max_lost:
                break
        details = sw.ctl("show", "p0").get("details", {})
        return {"backend": kind, "round": rd, "mpps": best["mpps"], "lost": best["lost"],
                "p0_details": details}
    finally:
        if gen:
            gen.stop()
        if sw:
            sw.stop()
        for l in links:
            sh("ip", "link", "del", l, check=False)


def tcp(kind, rd, args, workdir, tag):
    d = os.path.join(workdir, "%s-tcp-%d" % (kind, rd))
    # run.py's sweep removes namespaces of a killed run by this prefix.
    ns = ["vsbench%d-n%d" % (os.getpid(), i) for i in range(2)]
    links = []
    sw = srv = None
    try:
        for n in ns:
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        if kind == "af_xdp":
            for i in range(2):
                s, p = "%ss%d" % (tag, i), "%sp%d" % (tag, i)
                sh("ip", "link", "add", s, "type", "veth", "peer", "name", p, "netns", ns[i])
                links.append(s)
                _quiet_link(s)
                # AF_XDP carries no checksum-offload metadata: the sender's
                # stack completes its checksums.
                sh("ip", "netns", "exec", ns[i], "ethtool", "-K", p, "tx", "off")
            sw = Switch(args, d, [{"name": "p%d" % i, "type": "af_xdp",
                                   "ifname": "%ss%d" % (tag, i)} for i in range(2)])
            devs = ["%sp%d" % (tag, i) for i in range(2)]
        else:
            devs = ["%st%d" % (tag, i) for i in range(2)]
            off = kind == "tap-offloads-off"
            sw = Switch(args, d, [{"name": "p%d" % i, "type": "tap", "ifname": devs[i],
                                   "offloads": '"off"' if off else '"on"'} for i in range(2)])
            for i in range(2):
                sh("ip", "link", "set", devs[i], "netns", ns[i])
        for i in range(2):
            sh("ip", "-n", ns[i], "addr", "add", "10.96.%d.%d/24" % (rd % 200, i + 1), "dev", devs[i])
            _quiet_link(devs[i], ns=ns[i])
        peer = "10.96.%d.2" % (rd % 200)
        srv = procs.Proc("iperf3-server", ["ip", "netns", "exec", ns[1], "iperf3", "-s", "-1",
                                           "-B", peer], os.path.join(d, "iperf3-server.log"))
        procs.wait_for(lambda: "5201" in sh("ip", "netns", "exec", ns[1], "ss", "-ltn"), 10,
                       "iperf3 server", srv, step=0.1)
        out = procs.run(["ip", "netns", "exec", ns[0], "iperf3", "-c", peer, "-t",
                         str(int(args.seconds)), "-J"], timeout=args.seconds + 30)
        j = json.loads(out)
        e = j["end"]
        return {"backend": kind, "round": rd,
                "gbps": e["sum_received"]["bits_per_second"] / 1e9,
                "retransmits": e["sum_sent"].get("retransmits")}
    finally:
        if srv:
            srv.stop(timeout=5)
        if sw:
            sw.stop()
        for l in links:
            sh("ip", "link", "del", l, check=False)
        for n in ns:
            sh("ip", "netns", "del", n, check=False)


def _median(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return spread(v) if v else None


def main(args, workdir, results_dir, stamp, facts):
    tag = "vsb%d" % (os.getpid() % 100000)
    stem = "netdev-" + stamp
    runs, errors = [], []
    t_start = time.time()
    try:
        for rd in range(args.rounds):
            for kind in BACKENDS:
                try:
                    r = frames(kind, rd, args, workdir, tag)
                    runs.append(dict(r, row="frames"))
                    log("round %d %-16s 64 B: %.3f Mpps (lost to others %.0f%%)" %
                        (rd + 1, kind, r["mpps"], 100 * r["lost"]))
                except Exception as e:
                    errors.append("%s frames round %d: %s" % (kind, rd + 1, e))
                    log("ERROR " + errors[-1])
            for kind in TCP_BACKENDS:
                try:
                    r = tcp(kind, rd, args, workdir, tag)
                    runs.append(dict(r, row="tcp"))
                    log("round %d %-16s iperf3: %.3f Gbit/s (%s retransmits)" %
                        (rd + 1, kind, r["gbps"], r["retransmits"]))
                except Exception as e:
                    errors.append("%s tcp round %d: %s" % (kind, rd + 1, e))
                    log("ERROR " + errors[-1])
    except KeyboardInterrupt as e:
        errors.append("interrupted (%s)" % e)
    finally:
        procs.stop_all()

    summ = {}
    for kind in BACKENDS + TCP_BACKENDS:
        summ.setdefault(kind, {})["mpps"] = _median(
            [r for r in runs if r["row"] == "frames" and r["backend"] == kind], "mpps")
    for kind in TCP_BACKENDS:
        summ.setdefault(kind, {})["gbps"] = _median(
            [r for r in runs if r["row"] == "tcp" and r["backend"] == kind], "gbps")

    def med(kind, key):
        s = summ.get(kind, {}).get(key)
        return s["median"] if s else None

    print("\n| kernel netdevs, one poller | 64 B Mpps | iperf3 Gbit/s |")
    print("| --- | --- | --- |")
    for kind, label in (("af_xdp", "af_xdp (veth, native XDP, copy mode)"),
                        ("tap", "tap, offloads=on"), ("tap-offloads-off", "tap, offloads=off")):
        m, g = med(kind, "mpps"), med(kind, "gbps")
        print("| %s | %s | %s |" % (label, "%.3f" % m if m else "-", "%.2f" % g if g else "-"))
    ratios = {}
    for k in ("tap", "tap-offloads-off"):
        if med("af_xdp", "mpps") and med(k, "mpps"):
            ratios["mpps_af_xdp_over_" + k] = med("af_xdp", "mpps") / med(k, "mpps")
    for k in ("tap", "tap-offloads-off"):
        if med("af_xdp", "gbps") and med(k, "gbps"):
            ratios["gbps_af_xdp_over_" + k] = med("af_xdp", "gbps") / med(k, "gbps")
    for k, v in ratios.items():
        print("%s: %.2fx" % (k, v))
    doc = {"when": stamp, "duration_s": round(time.time() - t_start), "row": "netdev",
           "command": " ".join(sys.argv), "machine": facts,
           "config": {k: v for k, v in vars(args).items() if k not in ("prefix",)},
           "summary": summ, "ratios": ratios, "runs": runs, "errors": errors}
    jpath = os.path.join(results_dir, stem + ".json")
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True, default=str)
    log("results: %s" % jpath)
    for e in errors:
        print("  - " + e)
    if errors or args.keep:
        log("logs kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if errors else 0
