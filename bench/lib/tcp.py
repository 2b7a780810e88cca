"""The guest TCP row (bench/run.sh --guest-tcp): two QEMU guests (TCG, Debian's
Linux 6.1 virtio-net driver with QEMU's default offloads) on two vhost-user
ports of each switch in turn, iperf3 from one to the other. What a VM feels:
a guest's TCP is only fast when the switch lets it hand over checksums and
64 KB segments (TSO), so this row measures the offloads the 64 B and 1518 B
rows cannot see.

Per backend and round: the switch starts, both guests boot on its sockets
(once: booting under TCG takes seconds to tens of seconds), the guests ping
each other until the path works, then iperf3 runs for --seconds from guest a
to guest b (and with --reverse back, iperf3 -R). A backend whose guests do
not boot, do not ping, or ping but cannot carry TCP is reported as failing,
with the reason, and the rounds go on. Rounds are interleaved (A B C D, A B C
D, ...) like the other rows. See bench/README.md."""

import json
import os
import shutil
import subprocess
import sys
import time

import backends
import guests
import procs
from report import fmt_spread, log, spread

# vswitchd twice: its default poll mode (adaptive: the poller sleeps on the
# guests' kicks when idle, and the guests get its core meanwhile) and busy
# polling, which spins like testpmd and OVS's PMD do by default; OVS also
# with PMD sleeping (pmd-maxsleep), its counterpart of adaptive pollers.
DEFAULT_BACKENDS = "vswitchd-adaptive,vswitchd,testpmd-tso,ovs-dpdk,ovs-dpdk-tso,ovs-dpdk-tso-sleep"
KNOWN = ("vswitchd", "vswitchd-base", "vswitchd-adaptive", "testpmd-tso", "testpmd",
         "ovs-dpdk", "ovs-dpdk-tso", "ovs-dpdk-tso-sleep", "ovs-dpdk-server",
         "ovs-dpdk-tso-server")
# pmd-maxsleep of ovs-dpdk-tso-sleep, in microseconds (OVS allows 1..10000).
OVS_MAX_SLEEP_US = 250  # the same as vswitchd's default pollers.max_nap_us
# The sender's TCP extended counters (/proc/net/netstat) that say why a
# segment was sent again: tail loss probes and timeouts fire on delay alone
# (an ACK late, nothing lost); fast retransmits follow a loss or reordering.
RETRANS_REASONS = ("TCPLossProbes", "TCPTimeouts", "TCPFastRetrans", "TCPSlowStartRetrans",
                   "TCPSpuriousRTOs", "TCPLostRetransmit", "TCPSynRetrans")
GUEST_MACS = ("52:54:00:7c:00:01", "52:54:00:7c:00:02")
GUEST_IPS = ("10.0.0.1", "10.0.0.2")
PING_PROBE_S = 60
CONNECT_TIMEOUT_MS = 5000
# Command the row needs beyond the peers' (test/common/deps_coverage.py checks
# that an install script provides each).
BENCH_GUEST_TOOLS = ("qemu-system-x86_64", "iperf3", "taskset", "busybox", "cpio")


class Failed(Exception):
    """The backend failed the row (guests, ping or TCP): a result, not an
    error of the harness."""


def make_backend(name, workdir, args):
    if name == "vswitchd":
        return backends.Vswitchd(workdir, args, "busy")
    if name == "vswitchd-adaptive":
        return backends.Vswitchd(workdir, args, "adaptive")
    if name == "vswitchd-base":
        return backends.Vswitchd(workdir, args, "busy", binary=args.baseline, name=name)
    if name in ("testpmd", "testpmd-tso"):
        return backends.TestPmdVhostBackend(workdir, args, tso=name.endswith("-tso"), name=name)
    if name.startswith("ovs-dpdk") and name in KNOWN:
        # dpdkvhostuserclient (OVS's recommended mode: QEMU listens) unless
        # -server: dpdkvhostuser, where OVS 3.1 with userspace TSO offers CSUM
        # but not HOST_TSO4/6 and the guests' TCP does not connect.
        return backends.Ovs(workdir, args, "normal", tso="-tso" in name, name=name,
                            vhost_client=not name.endswith("-server"),
                            max_sleep_us=OVS_MAX_SLEEP_US if name.endswith("-sleep") else 0)
    raise SystemExit("unknown backend %r for --guest-tcp (known: %s)" % (name, ", ".join(KNOWN)))


DIRECTIONS = ("a2b", "b2a")  # guest a -> b; b -> a (iperf3 -R from a)


def directions(args):
    return list(DIRECTIONS) if args.reverse else list(DIRECTIONS[:1])


def _iperf_json(out):
    i, j = out.find("{"), out.rfind("}")
    if i < 0 or j < i:
        return None
    try:
        return json.loads(out[i:j + 1])
    except ValueError:
        return None


def _cpu_busy_steal():
    """(busy, steal) jiffies of all CPUs together, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    steal = v[7] if len(v) > 7 else 0
    return sum(v[:8]) - v[3] - v[4] - steal, steal


def _ticks(pids):
    t = 0
    for p in pids:
        try:
            t += procs.cpu_ticks(p)
        except (OSError, IndexError, ValueError):
            pass
    return t


def measure(b, ga, gb, direction, args):
    """One iperf3 run; returns the run's record ("failed" set when TCP did
    not work)."""
    sender = ga if direction == "a2b" else gb
    gs = {"a": ga, "b": gb}
    snd0 = sender.tcp_counters()
    b.window_begin()
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    q0 = {t: procs.cpu_ticks(g.proc.pid) for t, g in gs.items()}
    ours = [g.proc.pid for g in gs.values()] + b.pids() + [os.getpid()]
    o0, c0 = _ticks(ours), _cpu_busy_steal()
    s0 = ({t: procs.sched_sample(g.pids()) for t, g in gs.items()}, procs.sched_sample(b.pids()))
    cmd = "timeout %d iperf3 -c %s -t %g -J --connect-timeout %d%s" % (
        args.seconds + 30, GUEST_IPS[1], args.seconds, CONNECT_TIMEOUT_MS,
        " -R" if direction == "b2a" else "")
    rc, out = ga.exec(cmd, args.seconds + 60)
    dt = time.monotonic() - t0
    q1 = {t: procs.cpu_ticks(g.proc.pid) for t, g in gs.items()}
    o1, c1 = _ticks(ours), _cpu_busy_steal()
    s1 = ({t: procs.sched_sample(g.pids()) for t, g in gs.items()}, procs.sched_sample(b.pids()))
    sw = b.window_end()
    snd1 = sender.tcp_counters() if rc != 124 else {}
    hz = os.sysconf("SC_CLK_TCK")
    r = {"direction": direction, "command": cmd, "rc": rc, "window_s": round(dt, 2),
         "loadavg": load0, "switch": sw,
         # The host's view of each guest: QEMU's CPU time (all threads) in %
         # of one core, and the share of the window its busiest thread
         # (the vCPU) sat runnable while something else had the CPU.
         "qemu_cpu_percent": {n: round(100.0 * (q1[n] - q0[n]) / hz / dt, 1) for n in q0},
         "qemu_lost": {n: procs.busiest_thread_wait(s0[0][n], s1[0][n], dt) for n in q0},
         "switch_wait_share": procs.busiest_thread_wait(s0[1], s1[1], dt),
         "switch_cpu_share": procs.busiest_thread_run(s0[1], s1[1], dt),
         # What the rest of the machine (other users' programs) used meanwhile,
         # in cores: all CPUs' busy time less that of the guests, the switch
         # and this harness. Steal: time the hypervisor gave our vCPUs away.
         "others_cores": round(max(0, (c1[0] - c0[0]) - (o1 - o0)) / hz / dt, 2),
         "steal_cores": round((c1[1] - c0[1]) / hz / dt, 2)}
    if sw.get("busy_of_running") is not None and r["switch_cpu_share"] is not None:
        sw["busy_share"] = sw["busy_of_running"] * r["switch_cpu_share"]
    if snd0 and snd1:
        r["sender_retrans_segs"] = snd1.get("RetransSegs", 0) - snd0.get("RetransSegs", 0)
        r["sender_out_segs"] = snd1.get("OutSegs", 0) - snd0.get("OutSegs", 0)
        r["sender_retrans_reasons"] = {k: snd1[k] - snd0[k] for k in RETRANS_REASONS
                                       if k in snd0 and k in snd1 and snd1[k] != snd0[k]}
    j = _iperf_json(out)
    if rc == 124:
        r["failed"] = "iperf3 did not finish within %ds (guest agent stuck)" % (args.seconds + 60)
        return r
    if j is None:
        r["failed"] = "iperf3 exit %d, no JSON: %s" % (rc, out.strip()[-200:])
        return r
    if j.get("error"):
        r["failed"] = "ping works, TCP does not: iperf3: %s" % j["error"]
        return r
    end = j.get("end", {})
    sent, recv = end.get("sum_sent", {}), end.get("sum_received", {})
    if rc != 0:
        r["failed"] = "iperf3 exit %d" % rc
        return r
    r["gbps"] = recv.get("bits_per_second", 0) / 1e9
    r["sender_gbps"] = sent.get("bits_per_second", 0) / 1e9
    r["bytes"] = recv.get("bytes", 0)
    # iperf3 reads the sender's tcp_info (the server's with -R).
    r["retransmits"] = sent.get("retransmits", r.get("sender_retrans_segs"))
    cpu = end.get("cpu_utilization_percent", {})
    # host_* is the iperf3 client (guest a), remote_* the server (guest b).
    local, remote = cpu.get("host_total"), cpu.get("remote_total")
    r["guest_cpu_percent"] = ({"sender": local, "receiver": remote} if direction == "a2b"
                              else {"sender": remote, "receiver": local})
    if sw.get("forwarded"):
        # Frames the switch moved per payload byte: with TSO through, one
        # frame carries up to 64 KB; without, ~1.5 KB (plus the ACKs).
        r["bytes_per_frame"] = r["bytes"] / sw["forwarded"]
    if not r["gbps"]:
        r["failed"] = "TCP connected but moved no data"
    return r


def backend_round(name, rd, image, initrd, workdir, args):
    """Starts the switch, boots the guests on its sockets, measures every
    direction, stops everything (guests before the switch). Returns the
    runs and an error of the switch's stop (None when it stopped cleanly);
    raises on errors of the harness or of the switch's start."""
    b = make_backend(name, workdir, args)
    gs = []
    base = {"backend": name, "round": rd}
    runs = []
    t0 = time.monotonic()
    try:
        b.start()
        try:
            for i, tag in enumerate(("a", "b")):
                gs.append(guests.Guest("%s-%s-r%d" % (tag, name, rd + 1), b.dir, image, initrd,
                                       b.socks[i], GUEST_MACS[i], GUEST_IPS[i] + "/24",
                                       cpus=args.guest_cpus, mem=args.guest_mem,
                                       server=not b.gen_is_client))
            for g in gs:
                g.wait_agent(args.boot_timeout)
        except RuntimeError as e:
            for g in gs:
                log("guest %s console, last lines:\n%s" % (g.name, g.console_tail()))
            raise Failed("the guests did not boot: %s" % e)
        boot_s = time.monotonic() - t0
        feats = {"ab"[i]: g.features() for i, g in enumerate(gs)}
        try:
            b.settle()
        except RuntimeError as e:
            raise Failed("links not up: %s" % e)
        rc, _ = gs[0].exec(". /lib/lab.sh; lab_ping_probe %s %d" % (GUEST_IPS[1], PING_PROBE_S),
                           PING_PROBE_S + 30)
        if rc != 0:
            raise Failed("no ping between the guests within %ds" % PING_PROBE_S)
        ping_s = time.monotonic() - t0 - boot_s
        for d in directions(args):
            r = dict(base)
            r.update(measure(b, gs[0], gs[1], d, args))
            r.update({"guest_features": feats, "boot_s": round(boot_s, 1),
                      "first_ping_s": round(ping_s, 1)})
            runs.append(r)
            if r.get("rc") == 124:
                # Guest a's agent is still busy: the other direction cannot run.
                raise Failed("not measured: iperf3 in the other direction hung")
    except Failed as f:
        done = {r["direction"] for r in runs}
        for d in directions(args):
            if d not in done:
                r = dict(base, direction=d, failed=str(f))
                runs.append(r)
    finally:
        for g in gs:
            g.stop()
        try:
            b.stop()
            stop_error = None
        except RuntimeError as e:
            stop_error = str(e)
    return runs, stop_error


def summarize(runs, names, args):
    summ = {}
    for d in directions(args):
        s = {}
        for n in names:
            rs = [r for r in runs if r["backend"] == n and r["direction"] == d]
            ok = [r for r in rs if not r.get("failed")]
            s[n] = {"runs": len(rs), "ok": len(ok),
                    "failures": sorted({r["failed"] for r in rs if r.get("failed")}),
                    "gbps": spread([r["gbps"] for r in ok]),
                    "retransmits": spread([r.get("retransmits") for r in ok]),
                    # Over all rounds: how many runs retransmitted at all, and
                    # the sender's tail loss probes (sent on a late ACK alone).
                    "runs_retransmitting": sum(1 for r in ok if r.get("retransmits")),
                    "loss_probes": sum(r.get("sender_retrans_reasons", {}).get("TCPLossProbes", 0)
                                       for r in ok),
                    "guest_cpu_sender": spread([r["guest_cpu_percent"]["sender"] for r in ok]),
                    "guest_cpu_receiver": spread([r["guest_cpu_percent"]["receiver"] for r in ok]),
                    "qemu_cpu_a": spread([r["qemu_cpu_percent"].get("a") for r in ok]),
                    "qemu_cpu_b": spread([r["qemu_cpu_percent"].get("b") for r in ok]),
                    "switch_busy_share": spread([r["switch"].get("busy_share") for r in ok]),
                    "switch_cpu_share": spread([r.get("switch_cpu_share") for r in ok]),
                    "bytes_per_frame": spread([r.get("bytes_per_frame") for r in ok]),
                    "others_cores": spread([r.get("others_cores") for r in rs
                                            if "others_cores" in r]),
                    "guest_features": next((r["guest_features"] for r in rs
                                            if r.get("guest_features")), None),
                    "qemu_lost": spread([max(v for v in r["qemu_lost"].values() if v is not None)
                                         for r in ok if any(v is not None
                                                            for v in r["qemu_lost"].values())])}
        ratios = {}
        pairs = [(m, o) for m in names if m.startswith("vswitchd")
                 for o in names if not o.startswith("vswitchd")]
        if "vswitchd-base" in names and "vswitchd" in names:
            pairs.append(("vswitchd", "vswitchd-base"))
        for mine, other in pairs:
            a, b = s[mine]["gbps"], s[other]["gbps"]
            if not a or not b or not b["median"]:
                ratios["%s/%s" % (mine, other)] = {
                    "gbps_ratio": None,
                    "why": "%s failed every round" % (other if not b else mine)}
                continue
            per_round = []
            for rd in sorted({r["round"] for r in runs}):
                x = [r["gbps"] for r in runs if r["round"] == rd and r["direction"] == d and
                     r["backend"] == mine and not r.get("failed")]
                y = [r["gbps"] for r in runs if r["round"] == rd and r["direction"] == d and
                     r["backend"] == other and not r.get("failed")]
                if x and y and y[0]:
                    per_round.append(x[0] / y[0])
            ratios["%s/%s" % (mine, other)] = {"gbps_ratio": a["median"] / b["median"],
                                              "per_round": spread(per_round)}
        s["ratios"] = ratios
        summ[d] = s
    return summ


def check_targets(summ):
    """Issue 12's targets for this row, for each poll mode of vswitchd in the
    run: (what, value, target, met)."""
    out = []
    for d, s in summ.items():
        for mine in ("vswitchd-adaptive", "vswitchd"):
            e = s.get("ratios", {}).get("%s/testpmd-tso" % mine)
            if e and e.get("gbps_ratio") is not None:
                out.append(("%s Gbit/s %s/testpmd-tso" % (d, mine), e["gbps_ratio"], ">= 1.20",
                            e["gbps_ratio"] >= 1.2))
            v = s.get(mine, {}).get("retransmits")
            if v:
                out.append(("%s %s TCP retransmissions (median)" % (d, mine), v["median"], "0",
                            v["median"] == 0))
    return out


DIR_TITLE = {"a2b": "guest a -> guest b", "b2a": "guest b -> guest a (iperf3 -R)"}


def print_table(summ, names, args):
    for d, s in summ.items():
        print()
        print("guest TCP, %s: iperf3 %gs, median [min-max] over the rounds that worked" %
              (DIR_TITLE[d], args.seconds))
        print("  %-20s %-20s %-18s %-20s %-18s %-22s %s" % (
            "backend", "Gbit/s", "retransmits", "guest CPU % snd/rcv", "switch busy/CPU %",
            "bytes/frame", "other programs, cores"))
        for n in names:
            e = s[n]
            if not e["ok"]:
                print("  %-20s FAILED %d/%d: %s" % (n, e["runs"] - e["ok"], e["runs"],
                                                    "; ".join(e["failures"]) or "no run"))
                continue
            cs, cr = e["guest_cpu_sender"], e["guest_cpu_receiver"]
            bs, bc = e["switch_busy_share"], e["switch_cpu_share"]
            print("  %-20s %-20s %-18s %-20s %-18s %-22s %s" % (
                n, fmt_spread(e["gbps"], "%.2f"), fmt_spread(e["retransmits"], "%.0f"),
                "%.0f/%.0f" % (cs["median"], cr["median"]) if cs and cr else "-",
                "%s/%s" % ("%.0f" % (100 * bs["median"]) if bs else "-",
                           "%.0f" % (100 * bc["median"]) if bc else "-"),
                fmt_spread(e["bytes_per_frame"], "%.0f"), fmt_spread(e["others_cores"], "%.1f")))
            if e["ok"] < e["runs"]:
                print("  %-20s   and failed %d/%d: %s" % ("", e["runs"] - e["ok"], e["runs"],
                                                         "; ".join(e["failures"])))
        print("  runs with any retransmission, and the senders' tail loss probes, over all rounds:")
        for n in names:
            if s[n]["ok"]:
                print("    %-20s %d of %d runs, %d probes" % (
                    n, s[n]["runs_retransmitting"], s[n]["ok"], s[n]["loss_probes"]))
        print("  virtio-net offloads the guests' drivers negotiated (guest a):")
        for n in names:
            f = s[n]["guest_features"]
            print("    %-20s %s" % (n, " ".join(x for x in f["a"] if x != "MRG_RXBUF")
                                    or "none" if f and f.get("a") is not None else "?"))
        for k, e in s["ratios"].items():
            if e["gbps_ratio"] is None:
                print("  %-30s Gbit/s: no ratio (%s)" % (k, e["why"]))
            else:
                print("  %-30s Gbit/s x%.2f (per round %s)" % (
                    k, e["gbps_ratio"], fmt_spread(e["per_round"], "%.2f")))


def plot(summ, names, results_dir, stem):
    if not shutil.which("gnuplot"):
        log("gnuplot not installed: no chart")
        return None
    dat = os.path.join(results_dir, stem + ".dat")
    dirs = list(summ.keys())
    with open(dat, "w") as f:
        f.write("# backend, then per direction (%s): Gbit/s median min max, retransmits "
                "median min max, runs that worked (0: all failed)\n" % " ".join(dirs))
        for n in names:
            cols = []
            for d in dirs:
                e = summ[d][n]
                for key in ("gbps", "retransmits"):
                    sp = e[key] or {"median": 0, "min": 0, "max": 0}
                    cols += ["%.4f" % sp["median"], "%.4f" % sp["min"], "%.4f" % sp["max"]]
                cols.append(str(e["ok"]))
            f.write("%s %s\n" % (n, " ".join(cols)))
    png = os.path.join(results_dir, stem + ".png")
    gp = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plot-tcp.gp")
    try:
        procs.run(["gnuplot", "-e", "datafile='%s'; outfile='%s'; dirs='%s'" %
                   (dat, png, " ".join(dirs)), gp], timeout=30)
        return png
    except Exception as e:
        log("gnuplot failed: %s" % e)
        return None


def main(args, workdir, results_dir, stamp, facts):
    names = args.backends
    unknown = [n for n in names if n not in KNOWN]
    if unknown:
        log("unknown backend(s) for --guest-tcp: %s (known: %s)" % (", ".join(unknown),
                                                                    ", ".join(KNOWN)))
        return 2
    stem = ("smoke-tcp-" if args.smoke else "tcp-") + stamp
    runs, errors = [], []
    t_start = time.time()
    try:
        image, initrd = guests.prepare(workdir, args.guest_kernel)
    except LookupError as e:
        log("missing: %s" % e)
        return 3
    log("guests: kernel %s, initramfs %s, %d MiB, cpus %s" % (
        image, initrd, args.guest_mem, args.guest_cpus or "any"))
    try:
        for rd in range(args.rounds):
            for name in names:
                try:
                    rs, stop_error = backend_round(name, rd, image, initrd, workdir, args)
                except (RuntimeError, OSError, subprocess.SubprocessError, ValueError,
                        KeyError) as e:
                    msg = "%s round %d: %s" % (name, rd + 1, e)
                    log("ERROR " + msg)
                    errors.append(msg)
                    continue
                if stop_error:
                    errors.append("%s round %d: stop: %s" % (name, rd + 1, stop_error))
                    log("ERROR %s stop: %s" % (name, stop_error))
                for r in rs:
                    runs.append(r)
                    if r.get("failed"):
                        log("round %d %-14s %s: FAILED: %s" % (rd + 1, name, r["direction"],
                                                               r["failed"]))
                        if name.startswith("vswitchd"):
                            errors.append("%s round %d %s: %s" % (name, rd + 1, r["direction"],
                                                                  r["failed"]))
                        continue
                    why = ", ".join("%s %d" % (k, v) for k, v in
                                    sorted(r.get("sender_retrans_reasons", {}).items()))
                    log("round %d %-14s %s: %.3f Gbit/s, %s retransmits%s, guest CPU snd/rcv "
                        "%s/%s%%, switch busy/CPU %s/%s%%, %s B/frame, other programs %.1f cores, "
                        "steal %.1f, load %.1f (boot %.0fs, first ping %.0fs)" % (
                            rd + 1, name, r["direction"], r["gbps"], r.get("retransmits"),
                            " (%s)" % why if why else "",
                            _pct(r["guest_cpu_percent"]["sender"]),
                            _pct(r["guest_cpu_percent"]["receiver"]),
                            _pct(100 * r["switch"]["busy_share"])
                            if r["switch"].get("busy_share") is not None else "-",
                            _pct(100 * r["switch_cpu_share"])
                            if r.get("switch_cpu_share") is not None else "-",
                            "%.0f" % r["bytes_per_frame"] if r.get("bytes_per_frame") else "-",
                            r["others_cores"], r["steal_cores"], r["loadavg"], r["boot_s"], r["first_ping_s"]))
    except KeyboardInterrupt as e:
        errors.append("interrupted (%s)" % e)
        log("interrupted, stopping everything")
    finally:
        procs.stop_all()

    summ = summarize(runs, names, args)
    if args.smoke:
        for n in names:
            if n.startswith("vswitchd") and not any(
                    r["backend"] == n and not r.get("failed") and r.get("bytes")
                    and r["switch"].get("forwarded") for r in runs):
                errors.append("%s: no TCP through it" % n)
    print_table(summ, names, args)
    targets = check_targets(summ)
    if targets and not args.smoke:
        print("\ntargets of issue 12 (this run):")
        for what, v, goal, met in targets:
            print("  %-48s %8.2f  target %-8s %s" % (what, v, goal, "met" if met else "NOT met"))
    doc = {"when": stamp, "duration_s": round(time.time() - t_start), "row": "guest-tcp",
           "command": " ".join(sys.argv), "machine": facts,
           "config": {k: v for k, v in vars(args).items() if k not in ("prefix",)},
           "guest": {"kernel": image, "mem_mib": args.guest_mem, "cpus": args.guest_cpus or "any"},
           "summary": summ, "runs": runs,
           "targets": [{"what": w, "value": v, "target": g, "met": m} for w, v, g, m in targets],
           "errors": errors}
    jpath = os.path.join(results_dir, stem + ".json")
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    png = plot(summ, names, results_dir, stem) if runs and not args.smoke else None
    log("results: %s%s" % (jpath, ", chart " + png if png else ""))
    if errors:
        log("%d error(s):" % len(errors))
        for e in errors:
            print("  - " + e)
    if errors or args.keep or (args.smoke and not args.results):
        log("logs kept in %s" % workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if errors else 0


def _pct(v):
    return "-" if v is None else "%.0f" % v

