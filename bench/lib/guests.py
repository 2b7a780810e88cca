"""QEMU guests for the guest TCP row: TCG, Debian's 6.1 kernel, the lab's
busybox initramfs with iperf3 (test/lab/), one virtio-net-pci NIC on a
vhost-user socket of the switch under test, driven over the lab agent on its
second serial port (the protocol of test/lab/guest-lib.sh: the host writes
"ID COMMAND", the guest answers with the output and "LAB-END ID rc=RC").

    kernel, initrd = prepare(workdir)
    g = Guest("a", workdir, kernel, initrd, sock, mac, "10.0.0.1/24")
    g.wait_agent(120); rc, out = g.exec("ping -c 1 10.0.0.2", 10); g.stop()

QEMU runs as a procs.Proc: its own session, PR_SET_PDEATHSIG, stopped by PID
(SIGTERM makes QEMU quit cleanly), so procs.stop_all() reaches it too."""

import os
import re
import select
import subprocess
import time

import procs

LAB = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "test", "lab")
QEMU = os.environ.get("VS_QEMU", "qemu-system-x86_64")
# virtio-net rx/tx ring size of the guests' NIC (test/lab/lib.sh's LAB_VHU_RING).
RING = int(os.environ.get("VS_LAB_VHU_RING", "1024"))
EXIT_SKIP = 77  # test/lab/lib.sh's lab_skip: a missing peer (kernel, download)

# virtio-net feature bits (virtio spec 5.1.3) worth seeing per guest: which
# offloads the switch offered and the guest's driver took.
FEATURES = {0: "CSUM", 1: "GUEST_CSUM", 7: "GUEST_TSO4", 8: "GUEST_TSO6", 9: "GUEST_ECN",
            11: "HOST_TSO4", 12: "HOST_TSO6", 13: "HOST_ECN", 15: "MRG_RXBUF", 3: "MTU",
            35: "IN_ORDER", 54: "GUEST_USO4", 55: "GUEST_USO6", 56: "HOST_USO"}


def qemu_major():
    try:
        out = procs.run([QEMU, "--version"], timeout=10)
    except Exception:
        return None
    m = re.search(r"version (\d+)\.", out)
    return int(m.group(1)) if m else None


def prepare(workdir, kernel="6.1"):
    """The guest kernel and an initramfs with iperf3, through test/lab/lib.sh
    (both cached in VS_LAB_DIR, /var/cache/vswitch-lab by default: a later
    run needs no network and no rebuild). Returns (kernel image, initrd);
    raises LookupError when the kernel cannot be had (lab_skip)."""
    initrd = os.path.join(workdir, "guest.cpio.gz")
    script = ('. "$1/lib.sh" && lab_kernel "$2" >&2 && '
              'lab_initramfs "$3" -i "$1/init-ping.sh" -m virtio_net -m virtio_pci -b iperf3 >&2 '
              '&& printf "%s\\n" "$LAB_KERNEL"')
    r = subprocess.run(["bash", "-c", script, "guest-prepare", LAB, kernel, initrd],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       timeout=900)
    err = r.stderr.decode(errors="replace").strip()
    if r.returncode == EXIT_SKIP or (r.returncode != 0 and "SKIP" in err):
        raise LookupError("guest kernel %s: %s" % (kernel, err.splitlines()[-1] if err else "?"))
    if r.returncode != 0:
        raise RuntimeError("guest kernel/initramfs (test/lab/lib.sh): exit %d: %s" %
                           (r.returncode, err[-500:]))
    image = r.stdout.decode().strip().splitlines()[-1]
    return image, initrd


class Guest:
    """One guest: eth0 on the vhost-user socket `sock` (QEMU connects to the
    switch, retrying every second; with server=True QEMU listens on it and
    the switch connects), address `ip`, an iperf3 server running, the lab
    agent on ttyS1."""

    def __init__(self, name, workdir, kernel, initrd, sock, mac, ip, cpus="", mem=256,
                 server=False):
        self.name = name
        base = os.path.join(workdir, "guest-" + name)
        self.console = base + ".console"
        ctl = base + ".ctl"
        for f in (ctl + ".in", ctl + ".out"):
            if os.path.exists(f):
                os.unlink(f)
            os.mkfifo(f)
        argv = [QEMU, "-accel", "tcg", "-nodefaults", "-nographic", "-no-reboot",
                "-machine", "pc,memory-backend=mem0",
                "-object", "memory-backend-memfd,id=mem0,size=%dM,share=on" % mem,
                "-m", str(mem), "-smp", "1", "-kernel", kernel, "-initrd", initrd,
                "-append", "console=ttyS0 quiet panic=-1 vs_ip=%s vs_mode=agent vs_iperf3=1" % ip,
                "-monitor", "none", "-serial", "file:" + self.console,
                "-chardev", "pipe,id=ctl0,path=" + ctl, "-serial", "chardev:ctl0",
                "-chardev", "socket,id=vhu0,path=%s,%s" % (
                    sock, "server=on,wait=off" if server else "reconnect-ms=1000"),
                "-netdev", "vhost-user,id=net0,chardev=vhu0,queues=1",
                # QEMU's defaults: csum, guest_csum, host/guest_tso4/6, mrg_rxbuf...
                # on; the switch's offer decides what the guest's driver gets.
                # Rings of 1024 (QEMU's default 256 fills with ~6 TSO segments
                # of ~44 merged receive buffers each: drops, retransmissions),
                # the same for every switch under test (test/lab/lib.sh too).
                "-device", "virtio-net-pci,netdev=net0,mac=%s,rx_queue_size=%d,tx_queue_size=%d"
                % (mac, RING, RING)]
        if cpus:
            argv = ["taskset", "-c", cpus] + argv
        # Read-write opens of a FIFO never block, whoever comes first.
        self._in = os.open(ctl + ".in", os.O_RDWR)
        self._out = os.open(ctl + ".out", os.O_RDWR | os.O_NONBLOCK)
        self._buf = b""
        self._seq = 0
        self.proc = procs.Proc("qemu-" + name, argv, base + ".qemu.log")

    def _line(self, deadline):
        """Next line from the agent, or None at the deadline or when QEMU is gone."""
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                return line.decode(errors="replace").rstrip("\r")
            left = deadline - time.monotonic()
            if left <= 0 or not self.proc.alive():
                return None
            r, _, _ = select.select([self._out], [], [], min(left, 0.5))
            if r:
                try:
                    self._buf += os.read(self._out, 65536)
                except BlockingIOError:
                    pass

    def wait_agent(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            line = self._line(deadline)
            if line is None:
                raise RuntimeError("guest %s: %s within %.0fs (console %s)" % (
                    self.name, "QEMU exited" if not self.proc.alive() else "no agent",
                    timeout, self.console))
            if line == "LAB-AGENT-READY":
                return

    def exec(self, cmd, timeout):
        """Runs one line of sh in the guest: (exit code, output); rc 124 when
        it did not finish in time (it may still run in the guest)."""
        self._seq += 1
        seq = self._seq
        os.write(self._in, ("%d %s\n" % (seq, cmd)).encode())
        deadline = time.monotonic() + timeout
        out = []
        while True:
            line = self._line(deadline)
            if line is None:
                return 124, "\n".join(out)
            m = re.match(r"^LAB-END (\d+) rc=(\d+)$", line)
            if m:
                if int(m.group(1)) == seq:
                    return int(m.group(2)), "\n".join(out)
                continue  # the end of an earlier, timed-out command
            out.append(line)

    def console_tail(self, n=15):
        try:
            with open(self.console, "rb") as f:
                lines = f.read().decode(errors="replace").replace("\r", "").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def features(self):
        """The virtio-net features the guest's driver negotiated, by name."""
        rc, out = self.exec("cat /sys/class/net/eth0/device/features", 10)
        bits = out.strip().splitlines()[-1] if rc == 0 and out.strip() else ""
        if not re.fullmatch(r"[01]+", bits):
            return None
        return [FEATURES[i] for i in sorted(FEATURES) if i < len(bits) and bits[i] == "1"]

    def tcp_counters(self):
        """The guest kernel's TCP counters: /proc/net/snmp's (OutSegs,
        RetransSegs...) and /proc/net/netstat's TcpExt (TCPLossProbes...)."""
        rc, out = self.exec("grep -h -e '^Tcp:' -e '^TcpExt:' /proc/net/snmp /proc/net/netstat",
                            10)
        got = {}
        for tag in ("Tcp:", "TcpExt:"):
            rows = [ln.split()[1:] for ln in out.splitlines() if ln.startswith(tag)]
            if rc != 0 or len(rows) < 2:
                return {}
            try:
                got.update({k: int(v) for k, v in zip(rows[0], rows[1])})
            except ValueError:
                return {}
        return got

    def pids(self):
        return [self.proc.pid] if self.proc.alive() else []

    def stop(self):
        rc = self.proc.stop(timeout=5)
        for fd in (self._in, self._out):
            try:
                os.close(fd)
            except OSError:
                pass
        return rc
