"""dpdk-testpmd driven through its interactive prompt over a pipe: used both as
the traffic generator (two net_virtio_user ports) and as a backend under test
(two net_vhost ports). Every command waits for a pattern in the reply with a
timeout; all output is also kept in the process's log file."""

import os
import re
import threading
import time

import procs

PROMPT = "testpmd> "

_CYC_RE = re.compile(r"CPU cycles/packet=([\d.]+) \(\w+ cycles=(\d+) / total \w+ packets=(\d+)\)"
                     r"(?: at (\d+) MHz)?")
_PORT_RE = re.compile(r"NIC statistics for port (\d+)\s+#+\s+RX-packets:\s+(\d+).*?"
                      r"TX-packets:\s+(\d+)", re.S)


class TestPmd:
    mhz = None  # the cycle counter's rate, as testpmd reports it with the cycles

    def __init__(self, name, workdir, eal, app, prefix):
        self.name = name
        self.prefix = prefix
        self.buf = ""
        self.cond = threading.Condition()
        # Line-buffered stdout: through a pipe testpmd's printf output would
        # otherwise sit in a 4 KiB buffer while its prompt (written directly)
        # already came back.
        argv = ["stdbuf", "-oL", "dpdk-testpmd"] + eal + ["--file-prefix", prefix, "--"] + ["-i"] + app
        procs.cleanup_dpdk_prefix(prefix)
        self.proc = procs.Proc(name, argv, os.path.join(workdir, name + ".log"), pipe=True)
        self._logf = open(self.proc.log, "a")
        threading.Thread(target=self._reader, daemon=True).start()
        try:
            self.expect(PROMPT, 0, timeout=30)
        except Exception:
            self.stop()
            raise

    def _reader(self):
        f = self.proc.p.stdout
        while True:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                break
            s = chunk.decode(errors="replace")
            self._logf.write(s)
            self._logf.flush()
            with self.cond:
                self.buf += s
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def expect(self, pattern, start, timeout=10.0, count=1):
        """Wait until `pattern` (a plain string) occurs `count` times in the
        output after offset `start`; returns that output."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.buf.count(pattern, start) < count:
                left = deadline - time.monotonic()
                if not self.proc.alive():
                    raise RuntimeError("%s exited (status %s); log %s:\n%s" %
                                       (self.name, self.proc.p.returncode, self.proc.log,
                                        self.proc.tail()))
                if left <= 0:
                    raise RuntimeError("%s: no %r within %.0fs; log %s" %
                                       (self.name, pattern, timeout, self.proc.log))
                self.cond.wait(min(left, 0.2))
            return self.buf[start:]

    def cmd(self, line, until=PROMPT, count=1, timeout=10.0):
        with self.cond:
            start = len(self.buf)
        self.proc.p.stdin.write((line + "\n").encode())
        self.proc.p.stdin.flush()
        return self.expect(until, start, timeout, count)

    def port_packets(self, nports=2):
        """(time, total RX packets, total TX packets) over all ports."""
        t = time.monotonic()
        out = self.cmd("show port stats all", until="Tx-bps", count=nports)
        rx = tx = 0
        for m in _PORT_RE.finditer(out):
            rx += int(m.group(2))
            tx += int(m.group(3))
        return t, rx, tx

    def fwd_cycles(self):
        """(busy cycles, packets) of the forwarding streams since start, as
        recorded with --record-core-cycles (cycles of polls that got packets)."""
        out = self.cmd("show fwd stats all", until="MHz Clock", timeout=10)
        m = _CYC_RE.search(out)
        if not m:
            return None
        if m.group(4):
            self.mhz = int(m.group(4))
        return int(m.group(2)), int(m.group(3))

    def stop(self):
        if self.proc.alive():
            try:
                self.proc.p.stdin.write(b"stop\nquit\n")
                self.proc.p.stdin.flush()
                self.proc.p.wait(8)
            except Exception:
                pass
        rc = self.proc.stop(timeout=8)
        try:
            self._logf.close()
        except OSError:
            pass
        procs.cleanup_dpdk_prefix(self.prefix)
        return rc


def eal_args(main_lcore, hugepages=True):
    """Both testpmd processes list lcores 0 and 1; `main_lcore` picks which one
    is the (mostly sleeping) main lcore, so the forwarding lcore is the other."""
    a = ["-l", "0,1", "--main-lcore", str(main_lcore), "--no-pci", "--single-file-segments",
         "--log-level", "lib.eal:notice"]
    if not hugepages:
        a += ["--no-huge", "-m", "512"]
    return a


GEN_MACS = ("02:00:00:00:00:01", "02:00:00:00:00:02")


class Generator(TestPmd):
    """Two net_virtio_user ports in io-forward loopback: whatever comes back
    from the switch on one port goes out of the other, unchanged. Frames are
    injected with `start tx_first N`; the first burst on each port carries
    the port's own MAC as source and the other port's MAC as destination, so
    a learning switch sees each MAC on one port only and looks every frame up
    (io-forward keeps that true on every lap)."""

    def __init__(self, workdir, prefix, socks, ring, client_of_server=True, lcore=0,
                 hugepages=True, mbufs=16384):
        vdevs = []
        for i, s in enumerate(socks):
            v = "net_virtio_user%d,path=%s,queues=1,queue_size=%d,mac=%s" % (i, s, ring, GEN_MACS[i])
            if not client_of_server:
                v += ",server=1"
            vdevs += ["--vdev", v]
        main = 1 - lcore
        app = ["--total-num-mbufs=%d" % mbufs, "--forward-mode=io", "--record-core-cycles",
               "--eth-peer=0,%s" % GEN_MACS[1], "--eth-peer=1,%s" % GEN_MACS[0]]
        super().__init__("generator", workdir, eal_args(main, hugepages) + vdevs, app, prefix)

    def inject(self, frame_len, per_port, burst=32):
        self.cmd("set txpkts %d" % frame_len)
        bursts = max(1, (per_port + burst - 1) // burst)
        self.cmd("set burst %d" % burst)
        self.cmd("start tx_first %d" % bursts, timeout=15)
        return bursts * burst


class TestPmdVhost(TestPmd):
    """Backend 2: two net_vhost ports (DPDK's vhost library, servers) in
    io-forward, no lookup at all. `vdev_opts` go to both vdevs (e.g. "tso=1":
    TSO offered to guests)."""

    def __init__(self, workdir, prefix, socks, lcore=1, hugepages=True, mbufs=16384,
                 vdev_opts=""):
        vdevs = []
        for i, s in enumerate(socks):
            vdevs += ["--vdev", "net_vhost%d,iface=%s,queues=1%s" % (
                i, s, "," + vdev_opts if vdev_opts else "")]
        main = 1 - lcore
        app = ["--total-num-mbufs=%d" % mbufs, "--forward-mode=io", "--record-core-cycles"]
        super().__init__("testpmd-vhost", workdir, eal_args(main, hugepages) + vdevs, app, prefix)
        self.cmd("start")
