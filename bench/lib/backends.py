"""The switches under test. Each one offers two vhost-user server sockets to
the generator, runs its dataplane on exactly one core (cpu 1) and reports its
own cost: busy cycles per forwarded packet over a measuring window, read from
the switch itself.

    b = Backend(...); b.start(); b.socks -> (path0, path1)
    b.window_begin(); ...; b.window_end() -> {"cycles_per_pkt": ..., "forwarded": ...}
    b.stop()
"""

import json
import os
import re
import time

import procs
import testpmd

SWITCH_CPU = 1


class Backend:
    name = "?"
    kind = "?"
    gen_is_client = True  # the generator connects to sockets the switch listens on

    def __init__(self, workdir, args):
        self.dir = os.path.join(workdir, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.args = args
        self.socks = (os.path.join(self.dir, "p0.sock"), os.path.join(self.dir, "p1.sock"))

    def wait_socks(self, proc, timeout=30):
        procs.wait_for(lambda: all(os.path.exists(s) for s in self.socks), timeout,
                       "%s sockets %s" % (self.name, ", ".join(self.socks)), proc)

    def settle(self):
        """Called after the generator connected, before injecting."""

    def window_begin(self):
        pass

    def window_end(self):
        return {}

    def pids(self):
        return []


class Vswitchd(Backend):
    kind = "vswitchd"

    def __init__(self, workdir, args, mode="busy", binary=None, name=None):
        self.name = name or ("vswitchd" if mode == "busy" else "vswitchd-" + mode)
        self.mode = mode
        self.binary = binary or args.vswitchd
        super().__init__(workdir, args)
        self.ctl_sock = os.path.join(self.dir, "ctl.sock")
        self.proc = None

    def ctl(self, *a, timeout=5):
        out = procs.run([self.args.vswitchctl, "-s", self.ctl_sock, "--json", "--timeout",
                         str(timeout)] + list(a), timeout=timeout + 5)
        return json.loads(out) if out.strip() else {}

    def start(self):
        for s in self.socks + (self.ctl_sock,):
            if os.path.exists(s):
                os.unlink(s)
        cfg = os.path.join(self.dir, "vswitchd.yaml")
        with open(cfg, "w") as f:
            f.write("pollers:\n  cpus: [%d]\n  mode: %s\n" % (SWITCH_CPU, self.mode))
            if self.name != "vswitchd-base":
                f.write("".join("  %s: %s\n" % tuple(kv.split("=", 1))
                                for kv in self.args.vswitchd_poller_options.split(",") if kv))
            f.write("memory:\n  hugepage_size: %s\n  buffers: 32768\n" %
                    ("2M" if self.args.hugepages else "none"))
            f.write("control:\n  socket: %s\n" % self.ctl_sock)
            f.write("log:\n  level: info\n")
            f.write("ports:\n")
            # --vswitchd-port-options: for the build under test, not the baseline.
            extra = "" if self.name == "vswitchd-base" else "".join(
                "    %s: %s\n" % tuple(kv.split("=", 1))
                for kv in self.args.vswitchd_port_options.split(",") if kv)
            for i, s in enumerate(self.socks):
                f.write("  - name: p%d\n    type: vhost-user\n    path: %s\n"
                        "    mode: server\n    queues: 1\n%s" % (i, s, extra))
        self.proc = procs.Proc(self.name, [self.binary, "-c", cfg],
                               os.path.join(self.dir, "vswitchd.log"))

        def ready():
            try:
                self.ctl("version", timeout=1)
                return True
            except Exception:
                return False
        procs.wait_for(ready, 30, "vswitchd control socket", self.proc, step=0.2)
        self.wait_socks(self.proc)

    def settle(self):
        # Both front-ends must have finished the vhost-user handshake (link up)
        # before frames are injected, or the first bursts are dropped.
        def up():
            ports = self.ctl("list-ports").get("ports", [])
            return len(ports) == 2 and all(p.get("link") == "up" for p in ports)
        procs.wait_for(up, 20, "vswitchd ports p0 and p1 link up", self.proc, step=0.2)

    def _sample(self):
        pol = self.ctl("pollers")
        ports = self.ctl("list-ports").get("ports", [])
        busy = sum(p["busy_cycles"] for p in pol["pollers"])
        idle = sum(p["idle_cycles"] for p in pol["pollers"])
        it = sum(p["iterations"] for p in pol["pollers"])
        sleeps = sum(p.get("sleeps", 0) for p in pol["pollers"])
        naps = sum(p.get("naps", 0) for p in pol["pollers"])
        tx = sum(p["tx_packets"] for p in ports)
        rx = sum(p["rx_packets"] for p in ports)
        drops = sum(p.get("drops", 0) for p in ports)
        return dict(busy=busy, idle=idle, it=it, sleeps=sleeps, naps=naps, tx=tx, rx=rx,
                    drops=drops, t=time.monotonic(), hz=pol.get("tsc_hz", 0))

    def window_begin(self):
        self._w0 = self._sample()

    def window_end(self):
        a, b = self._w0, self._sample()
        d = {k: b[k] - a[k] for k in a}
        r = {"forwarded": d["tx"], "received": d["rx"], "drops": d["drops"],
             "busy_cycles": d["busy"], "idle_cycles": d["idle"], "iterations": d["it"],
             "sleeps": d["sleeps"], "naps": d["naps"]}
        r["cycles_per_pkt"] = d["busy"] / d["tx"] if d["tx"] else None
        # Of the window's wall time: an adaptive poller's sleeps and naps
        # count as neither busy nor idle polling.
        total = b["hz"] * d["t"] if b["hz"] else d["busy"] + d["idle"]
        r["busy_share"] = min(1.0, d["busy"] / total) if total else None
        return r

    def pids(self):
        return [self.proc.pid] if self.proc else []

    def stop(self):
        if self.proc:
            rc = self.proc.stop(timeout=15)
            self.proc = None
            if rc not in (0, None):
                raise RuntimeError("vswitchd exited with status %s (log %s)" %
                                   (rc, os.path.join(self.dir, "vswitchd.log")))


class TestPmdVhostBackend(Backend):
    """testpmd with two net_vhost ports in io-forward; tso=True offers TSO to
    the front-ends (net_vhost's `tso=1`; without it DPDK's vhost library
    hides HOST_TSO4/6)."""

    kind = "testpmd"

    def __init__(self, workdir, args, tso=False, name=None):
        self.name = name or ("testpmd-tso" if tso else "testpmd")
        self.tso = tso
        super().__init__(workdir, args)

    def start(self):
        for s in self.socks:
            if os.path.exists(s):
                os.unlink(s)
        self.pmd = testpmd.TestPmdVhost(self.dir, self.args.prefix + "-sw", self.socks,
                                        lcore=SWITCH_CPU, hugepages=self.args.hugepages,
                                        vdev_opts="tso=1" if self.tso else "")
        self.wait_socks(self.pmd.proc)

    def settle(self):
        time.sleep(0.5)

    def window_begin(self):
        self._c0 = self.pmd.fwd_cycles()
        self._p0 = self.pmd.port_packets()

    def window_end(self):
        c1 = self.pmd.fwd_cycles()
        p1 = self.pmd.port_packets()
        fwd = p1[2] - self._p0[2]
        r = {"forwarded": fwd, "received": p1[1] - self._p0[1]}
        if self._c0 and c1 and c1[1] > self._c0[1]:
            r["busy_cycles"] = c1[0] - self._c0[0]
            r["cycles_per_pkt"] = r["busy_cycles"] / (c1[1] - self._c0[1])
            dt = p1[0] - self._p0[0]
            if self.pmd.mhz and dt > 0:
                r["busy_share"] = r["busy_cycles"] / (self.pmd.mhz * 1e6 * dt)
        return r

    def pids(self):
        return [self.pmd.proc.pid]

    def stop(self):
        self.pmd.stop()


_PMD_RE = {
    "packets": re.compile(r"packets received:\s+(\d+)"),
    "idle": re.compile(r"idle cycles:\s+(\d+)"),
    "proc": re.compile(r"processing cycles:\s+(\d+)"),
}


class Ovs(Backend):
    """Open vSwitch with DPDK, run by hand with a private run/db/log
    directory: ovsdb-server, then ovs-vswitchd with dpdk-init, one PMD thread
    on cpu 1, a netdev bridge with two dpdkvhostuser ports (OVS is the
    server, like the other backends; vhost_client=True: dpdkvhostuserclient
    ports, the front-ends listen). flows: "p2p" (in_port=1 -> 2 and back)
    or "normal" (the NORMAL action: MAC learning). tso: True/False sets
    other_config:userspace-tso-enable before ovs-vswitchd starts (it reads
    it once, at start-up)."""

    kind = "ovs"

    def __init__(self, workdir, args, flows, tso=None, name=None, vhost_client=False,
                 max_sleep_us=0):
        self.name = name or "ovs-" + flows
        self.flows = flows
        self.tso = tso  # other_config:userspace-tso-enable (None: OVS's default, off)
        # other_config:pmd-maxsleep: an idle PMD sleeps up to this long per
        # iteration (0, OVS's default: it spins, like testpmd and busy vswitchd).
        self.max_sleep_us = max_sleep_us
        # dpdkvhostuserclient ports: the front-ends listen, OVS connects (and
        # reconnects), the mode OVS recommends; else dpdkvhostuser (OVS listens).
        self.vhost_client = vhost_client
        self.gen_is_client = not vhost_client
        super().__init__(workdir, args)
        self.run_dir = os.path.join(self.dir, "run")
        self.socks = (os.path.join(self.run_dir, "p0"), os.path.join(self.run_dir, "p1"))
        self.env = dict(os.environ, OVS_RUNDIR=self.run_dir, OVS_LOGDIR=self.dir,
                        OVS_DBDIR=self.dir)
        self.db_sock = "unix:" + os.path.join(self.run_dir, "db.sock")
        self.ctl_path = os.path.join(self.run_dir, "ovs-vswitchd.ctl")
        self.prefix = args.prefix + "-ovs"
        self.db = self.vsd = None

    def vsctl(self, *a):
        return procs.run(["ovs-vsctl", "--db=" + self.db_sock, "--timeout=15"] + list(a),
                         timeout=25, env=self.env)

    def appctl(self, *a):
        return procs.run(["ovs-appctl", "-t", self.ctl_path, "--timeout=10"] + list(a),
                         timeout=20, env=self.env)

    def ofctl(self, *a):
        return procs.run(["ovs-ofctl", "-O", "OpenFlow13"] + list(a), timeout=20, env=self.env)

    def start(self):
        import shutil
        if not self.args.hugepages:
            # OVS always adds --in-memory, which DPDK refuses with --no-huge.
            raise RuntimeError("OVS with DPDK needs hugepages (drop --no-hugepages)")
        shutil.rmtree(self.run_dir, ignore_errors=True)
        os.makedirs(self.run_dir)
        db = os.path.join(self.dir, "conf.db")
        if os.path.exists(db):
            os.unlink(db)
        schema = "/usr/share/openvswitch/vswitch.ovsschema"
        procs.run(["ovsdb-tool", "create", db, schema], env=self.env)
        self.db = procs.Proc("ovsdb-server", [
            "ovsdb-server", db, "--remote=p" + self.db_sock,
            "--pidfile=" + os.path.join(self.run_dir, "ovsdb-server.pid"),
            "--unixctl=" + os.path.join(self.run_dir, "ovsdb-server.ctl"),
            "--log-file=" + os.path.join(self.dir, "ovsdb-server.log"), "-vconsole:off"],
            os.path.join(self.dir, "ovsdb-server.out"), env=self.env)
        procs.wait_for(lambda: os.path.exists(os.path.join(self.run_dir, "db.sock")), 15,
                       "ovsdb-server socket", self.db)
        self.vsctl("--no-wait", "init")
        mem = "1024"
        extra = "--no-pci --single-file-segments --file-prefix %s" % self.prefix
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   "other_config:dpdk-extra=" + extra,
                   "other_config:dpdk-socket-mem=" + mem,
                   "other_config:dpdk-socket-limit=" + mem,
                   # Mempools sized per port from its queues instead of one
                   # shared pool of up to 256K mbufs that takes the whole
                   # socket-mem and leaves vhost no room for its rings.
                   "other_config:per-port-memory=true",
                   "other_config:pmd-cpu-mask=0x%x" % (1 << SWITCH_CPU),
                   "other_config:vhost-sock-dir=.",
                   *(["other_config:userspace-tso-enable=%s" % str(self.tso).lower()]
                     if self.tso is not None else []),
                   *(["other_config:pmd-maxsleep=%d" % self.max_sleep_us]
                     if self.max_sleep_us else []))
        procs.cleanup_dpdk_prefix(self.prefix)
        self.vsd = procs.Proc("ovs-vswitchd", [
            "ovs-vswitchd", self.db_sock,
            "--pidfile=" + os.path.join(self.run_dir, "ovs-vswitchd.pid"),
            "--unixctl=" + self.ctl_path,
            "--log-file=" + os.path.join(self.dir, "ovs-vswitchd.log"), "-vconsole:off"],
            os.path.join(self.dir, "ovs-vswitchd.out"), env=self.env)
        procs.wait_for(lambda: os.path.exists(self.ctl_path), 60, "ovs-vswitchd unixctl",
                       self.vsd)
        try:
            procs.wait_for(lambda: "true" in self.vsctl("get", "Open_vSwitch", ".",
                                                        "dpdk_initialized"),
                           60, "OVS dpdk_initialized", self.vsd, step=0.3)
        except RuntimeError as e:
            raise RuntimeError("%s (is the DPDK build selected? update-alternatives --display "
                               "ovs-vswitchd); log %s" % (e, os.path.join(self.dir,
                                                                        "ovs-vswitchd.log")))
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
        for i in (0, 1):
            if self.vhost_client:
                iface = ["type=dpdkvhostuserclient", "options:vhost-server-path=" + self.socks[i]]
            else:
                iface = ["type=dpdkvhostuser"]
            self.vsctl("add-port", "br0", "p%d" % i, "--", "set", "Interface", "p%d" % i,
                       *iface, "ofport_request=%d" % (i + 1))
        br = "unix:" + os.path.join(self.run_dir, "br0.mgmt")
        self.ofctl("del-flows", br)
        if self.flows == "p2p":
            self.ofctl("add-flow", br, "in_port=1,actions=output:2")
            self.ofctl("add-flow", br, "in_port=2,actions=output:1")
        else:
            self.ofctl("add-flow", br, "actions=NORMAL")
        if not self.vhost_client:
            self.wait_socks(self.vsd)

    def settle(self):
        def up():
            out = self.vsctl("--columns=link_state", "list", "Interface")
            return out.count('"up"') + out.count(": up") >= 2
        try:
            procs.wait_for(up, 20, "OVS vhost ports link up", self.vsd, step=0.3)
        except RuntimeError:
            pass  # link_state of vhost ports is informative only
        time.sleep(0.5)

    def window_begin(self):
        self.appctl("dpif-netdev/pmd-stats-clear")
        self._t0 = time.monotonic()

    def window_end(self):
        out = self.appctl("dpif-netdev/pmd-stats-show")
        # First block: the PMD thread on core 1 (the main thread comes after).
        pmd = out.split("main thread")[0]
        v = {k: int(rx.search(pmd).group(1)) if rx.search(pmd) else 0 for k, rx in _PMD_RE.items()}
        r = {"received": v["packets"], "busy_cycles": v["proc"], "idle_cycles": v["idle"]}
        r["cycles_per_pkt"] = v["proc"] / v["packets"] if v["packets"] else None
        tot = v["proc"] + v["idle"]
        # Of the time the PMD ran: its idle and processing cycles leave out
        # its sleeps (pmd-maxsleep); the caller scales by the thread's CPU
        # share of the window into busy_share.
        r["busy_of_running"] = v["proc"] / tot if tot else None
        r["forwarded"] = v["packets"]
        try:
            perf = self.appctl("dpif-netdev/pmd-perf-show")
            m = re.search(r"Rx packets:\s+\d+\s+\(\d+ Kpps, (\d+) cycles/pkt\)", perf)
            if m:
                r["perf_show_cycles_per_pkt"] = int(m.group(1))
        except Exception:
            pass
        return r

    def pids(self):
        return [p.pid for p in (self.vsd, self.db) if p]

    def stop(self):
        for p in (self.vsd, self.db):
            if p:
                p.stop(timeout=15)
        self.vsd = self.db = None
        procs.cleanup_dpdk_prefix(self.prefix)
