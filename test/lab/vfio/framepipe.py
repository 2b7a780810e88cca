#!/usr/bin/env python3
"""Host side of the VFIO guest test: talks Ethernet through QEMU's
`-netdev stream,server=on,addr.type=unix` sockets (each frame is a 4-byte
big-endian length, then the frame; no virtio-net header, no FCS).

A NIC can also be a host network device (QEMU `-netdev tap`), opened with an
AF_PACKET socket: --nic NAME=packet:IFNAME; or NAME=vnet:IFNAME, the same with a
virtio-net header on every frame (PACKET_VNET_HDR): a frame that arrives with
NEEDS_CSUM (its checksum left to the receiver) has it completed here, as a NIC
would, and is counted as partial.

It connects to one socket per guest NIC, then runs commands read from stdin,
one per line, answering each with one line on stdout:

  arp NIC SECS          ARP for the guest IP behind NIC until it answers
                        -> "ARP nic=A ok mac=.. after=1.2s" | "ARP nic=A fail"
  ping NIC N [WINDOW [FLOWS]]
                        N ICMP echo requests to the guest IP behind NIC, at
                        most WINDOW outstanding, from FLOWS host IPs in turn
                        (10.0.X.1, 10.0.X.101... so that RSS spreads them);
                        counts replies by sequence
                        -> "PING nic=A sent=N received=M dup=D lost=L"
  cross SRC DST N       N unicast frames (ethertype 0x88b5) from SRC's host
                        MAC to DST's host MAC, counted at DST
                        -> "CROSS src=A dst=B sent=N received=M dup=D stray=S"
  burst SRC DST N SIZE  like cross, but N frames of SIZE bytes (64..9018: jumbo
                        frames too) written back to
                        back (not paced: the rings between us fill up), each
                        checked byte for byte at DST
                        -> "BURST src=A dst=B size=S sent=N received=M dup=D
                            stray=S bad=K"
  csum SRC DST N        N TCP/IPv4 frames from SRC's host MAC to DST's, each
                        leaving SRC with its TCP checksum not done (a vnet
                        header with NEEDS_CSUM on an AF_PACKET socket: SRC must
                        be a packet: NIC whose QEMU backend is a TAP with vnet
                        headers, so the guest NIC gets the request); at DST
                        each must carry the right checksum and payload
                        -> "CSUM src=A dst=B sent=N received=M dup=D stray=S
                            bad=K partial=P" (P: of those received, how many
                            reached a vnet: DST with NEEDS_CSUM)
  flood SRC N           N frames from SRC to a MAC nobody has (flooded by the
                        switch), counted at every other NIC
                        -> "FLOOD src=A sent=N B=n C=n ... dup=D back=K"
  quit

Each NIC has a host address (MAC 02:00:00:00:0X:01, IPs 10.0.X.1 and
10.0.X.101-163 for extra flows) and a guest address (IP 10.0.X.2) where X is
the NIC's index (1, 2, ...). ARP requests for the host IPs are answered at any
time, whatever command runs.
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_TEST = 0x88B5
BCAST = b"\xff" * 6
SOL_PACKET = 263  # not in Python's socket module
PACKET_VNET_HDR = 15
VNET_HDR_LEN = 10  # struct virtio_net_hdr (no num_buffers)
VIRTIO_NET_HDR_F_NEEDS_CSUM = 1


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac_str(m):
    return ":".join("%02x" % b for b in m)


class Nic:
    def __init__(self, name, index, path):
        self.name = name
        self.mac = bytes([2, 0, 0, 0, index, 1])
        self.ip = bytes([10, 0, index, 1])
        self.guest_ip = bytes([10, 0, index, 2])
        self.net = bytes([10, 0, index])
        self.guest_mac = None
        self.path = path
        self.sock = None
        self.buf = b""
        self.rx = []  # frames received and not yet consumed by a command
        self.arp_answered = 0
        self.packet = False
        self.vnet = False
        self.partial = 0  # frames received with NEEDS_CSUM (vnet: only)

    def connect(self, timeout):
        if self.path.startswith(("packet:", "vnet:")):
            self.vnet = self.path.startswith("vnet:")
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
            if self.vnet:
                s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
            s.bind((self.path.split(":", 1)[1], 0))
            s.setblocking(False)
            self.sock = s
            self.packet = True
            return
        deadline = time.time() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                s.setblocking(False)
                self.sock = s
                return
            except OSError:
                s.close()
                if time.time() > deadline:
                    raise
                time.sleep(0.1)

    def send(self, frame):
        if self.packet:
            if self.vnet:
                frame = bytes(VNET_HDR_LEN) + frame
            while True:
                try:
                    self.sock.send(frame)
                    return
                except BlockingIOError:
                    pump([self], 0.01)
        data = struct.pack("!I", len(frame)) + frame
        while data:
            try:
                n = self.sock.send(data)
                data = data[n:]
            except BlockingIOError:
                # QEMU applies back-pressure: wait until it reads, keep receiving.
                pump([self], 0.01)

    def feed(self):
        if self.packet:
            while True:
                try:
                    frame, addr = self.sock.recvfrom(1 << 16)
                except BlockingIOError:
                    return
                if addr[2] == socket.PACKET_OUTGOING:
                    continue  # our own frames, seen on the way out
                if self.vnet:
                    frame = self.complete_csum(frame)
                if not self.answer_arp(frame):
                    self.rx.append(frame)
        try:
            chunk = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            raise SystemExit("%s: QEMU closed the stream socket" % self.name)
        self.buf += chunk
        while len(self.buf) >= 4:
            (n,) = struct.unpack("!I", self.buf[:4])
            if len(self.buf) < 4 + n:
                break
            frame = self.buf[4 : 4 + n]
            self.buf = self.buf[4 + n :]
            if not self.answer_arp(frame):
                self.rx.append(frame)

    def complete_csum(self, data):
        """The frame behind a virtio_net_hdr, its checksum completed if it was left
        to us (what a NIC does with NEEDS_CSUM)."""
        flags, _, _, _, start, off = struct.unpack("=BBHHHH", data[:VNET_HDR_LEN])
        frame = data[VNET_HDR_LEN:]
        if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM and start + off + 2 <= len(frame):
            self.partial += 1
            c = csum(frame[start:])
            frame = frame[: start + off] + struct.pack("!H", c or 0xFFFF) + frame[start + off + 2 :]
        return frame

    def is_host_ip(self, ip):
        return ip == self.ip or (ip[:3] == self.net and 101 <= ip[3] <= 163)

    def flow_ip(self, seq, flows):
        k = seq % flows
        return self.ip if k == 0 else self.net + bytes([100 + k])

    def answer_arp(self, f):
        if len(f) < 42 or struct.unpack("!H", f[12:14])[0] != ETH_P_ARP:
            return False
        op = struct.unpack("!H", f[20:22])[0]
        sha, spa, tpa = f[22:28], f[28:32], f[38:42]
        if op == 1 and self.is_host_ip(tpa):
            arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 2) + self.mac + tpa + sha + spa
            self.send(sha + self.mac + struct.pack("!H", ETH_P_ARP) + arp)
            self.arp_answered += 1
        elif op == 2 and spa == self.guest_ip and tpa == self.ip:
            self.guest_mac = sha
        return True


def pump(nics, timeout):
    r, _, _ = select.select([n.sock for n in nics], [], [], timeout)
    for n in nics:
        if n.sock in r:
            n.feed()


def arp_request(nic):
    arp = (struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, 1) + nic.mac + nic.ip + b"\0" * 6
           + nic.guest_ip)
    nic.send(BCAST + nic.mac + struct.pack("!H", ETH_P_ARP) + arp)


def echo_request(nic, ident, seq, flows=1):
    payload = struct.pack("!I", seq) + b"vswitch-vfio" * 4
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq & 0xFFFF) + payload
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq & 0xFFFF, 0x4000, 64, 1, 0,
                     nic.flow_ip(seq, flows), nic.guest_ip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return nic.guest_mac + nic.mac + struct.pack("!H", ETH_P_IP) + ip + icmp


def echo_reply_seq(nic, f, ident):
    """Sequence number of an echo reply for ident sent to us, else None."""
    if len(f) < 42 or f[0:6] != nic.mac or struct.unpack("!H", f[12:14])[0] != ETH_P_IP:
        return None
    ihl = (f[14] & 0xF) * 4
    if f[23] != 1 or f[26:30] != nic.guest_ip or not nic.is_host_ip(f[30:34]):
        return None
    icmp = f[14 + ihl :]
    if len(icmp) < 12 or icmp[0] != 0:
        return None
    typ, code, _, rid, _ = struct.unpack("!BBHHH", icmp[:8])
    if rid != ident:
        return None
    return struct.unpack("!I", icmp[8:12])[0]


def cmd_arp(nics, nic, secs):
    t0 = time.time()
    nic.guest_mac = None
    while time.time() - t0 < secs:
        arp_request(nic)
        end = time.time() + 0.5
        while time.time() < end and nic.guest_mac is None:
            pump(nics, 0.05)
        if nic.guest_mac:
            return "ARP nic=%s ok mac=%s after=%.1fs" % (nic.name, mac_str(nic.guest_mac),
                                                         time.time() - t0)
    return "ARP nic=%s fail after=%ds" % (nic.name, secs)


ident_counter = [0x4000]


def cmd_ping(nics, nic, count, window, flows=1):
    if nic.guest_mac is None:
        return "PING nic=%s sent=0 received=0 dup=0 lost=%d (no ARP answer yet)" % (nic.name, count)
    ident_counter[0] += 1
    ident = ident_counter[0]
    got = set()
    dup = 0
    sent = 0
    last_progress = time.time()
    while len(got) < count:
        while sent < count and sent - len(got) < window:
            nic.send(echo_request(nic, ident, sent, flows))
            sent += 1
        pump(nics, 0.05)
        before = len(got)
        for n in nics:
            keep = []
            for f in n.rx:
                s = echo_reply_seq(n, f, ident) if n is nic else None
                if s is None:
                    keep.append(f)
                elif s in got or s >= count:
                    dup += 1
                else:
                    got.add(s)
            n.rx = keep
        if len(got) != before:
            last_progress = time.time()
        elif time.time() - last_progress > 5:
            break  # nothing for 5 s: the rest is lost
    # Late duplicates.
    end = time.time() + 0.5
    while time.time() < end:
        pump(nics, 0.05)
        for f in nic.rx:
            s = echo_reply_seq(nic, f, ident)
            if s is not None:
                dup += 1
        nic.rx = []
    for n in nics:
        n.rx = []
    return "PING nic=%s sent=%d received=%d dup=%d lost=%d" % (nic.name, sent, len(got), dup,
                                                              sent - len(got))


def tagged_seq(f, tag):
    """Sequence number of a test frame carrying tag, else None."""
    if len(f) < 22 or struct.unpack("!H", f[12:14])[0] != ETH_P_TEST or f[14:18] != tag:
        return None
    return struct.unpack("!I", f[18:22])[0]


def test_frame(src, dst, tag, seq):
    body = struct.pack("!4sI", tag, seq) + bytes(46)
    return dst + src.mac + struct.pack("!H", ETH_P_TEST) + body


def learn(nics, src, dst):
    """Lets the switch learn where both host MACs are (broadcast, ignored by all)."""
    tag = os.urandom(4)
    for n in (src, dst):
        n.send(test_frame(n, BCAST, tag, 0))
    end = time.time() + 1.0
    while time.time() < end:
        pump(nics, 0.05)
    for n in nics:
        n.rx = []


def cmd_cross(nics, src, dst, count):
    tag = os.urandom(4)
    learn(nics, src, dst)
    got = set()
    dup = stray = sent = 0
    last_progress = time.time()
    while len(got) < count:
        # Paced in bursts of 32 so that no ring between us overflows.
        while sent < count and sent - len(got) < 32:
            src.send(test_frame(src, dst.mac, tag, sent))
            sent += 1
        pump(nics, 0.05)
        before = len(got)
        for n in nics:
            for f in n.rx:
                if len(f) < 22 or struct.unpack("!H", f[12:14])[0] != ETH_P_TEST:
                    continue
                t, s = struct.unpack("!4sI", f[14:22])
                if t != tag:
                    continue
                if n is not dst:
                    stray += 1  # flooded or misdelivered
                elif s in got:
                    dup += 1
                else:
                    got.add(s)
            n.rx = []
        if len(got) != before:
            last_progress = time.time()
        elif time.time() - last_progress > 5:
            break
    end = time.time() + 0.5
    while time.time() < end:
        pump(nics, 0.05)
        for n in nics:
            for f in n.rx:
                if len(f) >= 22 and struct.unpack("!H", f[12:14])[0] == ETH_P_TEST and \
                        f[14:18] == tag:
                    if n is dst:
                        dup += 1
                    else:
                        stray += 1
            n.rx = []
    return "CROSS src=%s dst=%s sent=%d received=%d dup=%d stray=%d" % (
        src.name, dst.name, sent, len(got), dup, stray)


FILL = bytes(range(256)) * 37


def burst_frame(src, dst, tag, seq, size):
    fill = FILL
    k = seq % 256
    return dst.mac + src.mac + struct.pack("!H4sI", ETH_P_TEST, tag, seq) + fill[k : k + size - 22]


def cmd_burst(nics, src, dst, count, size):
    if not 64 <= size <= 9018:
        return "ERROR burst size %d is not an Ethernet frame size (64..9018)" % size
    tag = os.urandom(4)
    learn(nics, src, dst)
    # All frames in one write stream: QEMU takes them as fast as the guest NIC's
    # RX ring lets it (back-pressure, no loss on this side); meanwhile every
    # socket is drained so that nothing stalls behind a full receive buffer.
    data = b"".join(struct.pack("!I", size) + burst_frame(src, dst, tag, s, size)
                    for s in range(count))
    got = set()
    dup = stray = bad = 0

    def drain():
        nonlocal dup, stray, bad
        for n in nics:
            for f in n.rx:
                s = tagged_seq(f, tag)
                if s is None:
                    continue
                if n is not dst:
                    stray += 1
                elif s >= count or f != burst_frame(src, dst, tag, s, size):
                    bad += 1  # truncated, shifted or overwritten on the way
                elif s in got:
                    dup += 1
                else:
                    got.add(s)
            n.rx = []

    while data:
        r, w, _ = select.select([n.sock for n in nics], [src.sock], [], 1.0)
        if src.sock in w:
            try:
                data = data[src.sock.send(data[:1 << 16]):]
            except BlockingIOError:
                pass
        for n in nics:
            if n.sock in r:
                n.feed()
        drain()
    last_progress = time.time()
    while len(got) < count and time.time() - last_progress < 5:
        before = len(got)
        pump(nics, 0.05)
        drain()
        if len(got) != before:
            last_progress = time.time()
    end = time.time() + 0.5
    while time.time() < end:
        pump(nics, 0.05)
        drain()
    return "BURST src=%s dst=%s size=%d sent=%d received=%d dup=%d stray=%d bad=%d" % (
        src.name, dst.name, size, count, len(got), dup, stray, bad)




def tcp_frame(src, dst, tag, seq):
    """A TCP/IPv4 frame whose checksum field holds only the pseudo-header sum (what
    a stack with checksum offload hands its NIC); csum_start 34, csum_offset 16."""
    payload = tag + struct.pack("!I", seq) + bytes((seq + i) & 0xFF for i in range(400))
    tcp = struct.pack("!HHIIBBHHH", 40000 + seq % 1000, 5001, seq, 0, 5 << 4, 0x18, 65535, 0, 0)
    seg = tcp + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), seq & 0xFFFF, 0x4000, 64, 6, 0,
                     src.ip, dst.guest_ip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    pseudo = src.ip + dst.guest_ip + struct.pack("!BBH", 0, 6, len(seg))
    s = sum(struct.unpack("!6H", pseudo))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    seg = seg[:16] + struct.pack("!H", s) + seg[18:]
    return dst.mac + src.mac + struct.pack("!H", ETH_P_IP) + ip + seg


def tcp_seq_ok(f, tag):
    """(seq, checksum right and payload intact) of a tcp_frame carrying tag, else None."""
    if len(f) < 54 + 8 or struct.unpack("!H", f[12:14])[0] != ETH_P_IP or f[23] != 6:
        return None
    seg = f[34 : 14 + struct.unpack("!H", f[16:18])[0]]
    if seg[20:24] != tag:
        return None
    seq = struct.unpack("!I", seg[24:28])[0]
    pseudo = f[26:34] + struct.pack("!BBH", 0, 6, len(seg))
    ok = csum(pseudo + seg) == 0 and seg[28:] == bytes((seq + i) & 0xFF for i in range(400))
    return seq, ok


def cmd_csum(nics, src, dst, count):
    if not src.packet:
        return "ERROR csum needs a packet: or vnet: source NIC (a TAP backend with vnet headers)"
    tag = os.urandom(4)
    learn(nics, src, dst)
    partial0 = dst.partial
    if not hasattr(src, "vnet_sock"):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        s.bind((src.path.split(":", 1)[1], 0))
        src.vnet_sock = s
    vhdr = struct.pack("=BBHHHH", VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16)
    got = set()
    dup = stray = bad = sent = 0
    last_progress = time.time()

    def drain():
        nonlocal dup, stray, bad
        for n in nics:
            for f in n.rx:
                r = tcp_seq_ok(f, tag)
                if r is None:
                    continue
                s, ok = r
                if n is not dst:
                    stray += 1
                elif not ok or s >= count:
                    bad += 1
                elif s in got:
                    dup += 1
                else:
                    got.add(s)
            n.rx = []

    while len(got) + bad < count:
        while sent < count and sent - len(got) - bad < 32:
            src.vnet_sock.send(vhdr + tcp_frame(src, dst, tag, sent))
            sent += 1
        before = len(got) + bad
        pump(nics, 0.05)
        drain()
        if len(got) + bad != before:
            last_progress = time.time()
        elif time.time() - last_progress > 5:
            break
    end = time.time() + 0.5
    while time.time() < end:
        pump(nics, 0.05)
        drain()
    return "CSUM src=%s dst=%s sent=%d received=%d dup=%d stray=%d bad=%d partial=%d" % (
        src.name, dst.name, sent, len(got), dup, stray, bad, dst.partial - partial0)


def cmd_flood(nics, src, count):
    tag = os.urandom(4)
    unknown = bytes([2, 0xEE, 0xEE, 0xEE, 0xEE, 1])
    got = {n.name: set() for n in nics if n is not src}
    dup = back = sent = 0
    last_progress = time.time()

    def drain():
        nonlocal dup, back
        for n in nics:
            for f in n.rx:
                s = tagged_seq(f, tag)
                if s is None:
                    continue
                if n is src:
                    back += 1  # a flood must never go back out of its ingress port
                elif s in got[n.name]:
                    dup += 1
                else:
                    got[n.name].add(s)
            n.rx = []

    while min(len(g) for g in got.values()) < count:
        done = min(len(g) for g in got.values())
        while sent < count and sent - done < 32:
            src.send(test_frame(src, unknown, tag, sent))
            sent += 1
        pump(nics, 0.05)
        before = sum(len(g) for g in got.values())
        drain()
        if sum(len(g) for g in got.values()) != before:
            last_progress = time.time()
        elif time.time() - last_progress > 5:
            break
    end = time.time() + 0.5
    while time.time() < end:
        pump(nics, 0.05)
        drain()
    return "FLOOD src=%s sent=%d %s dup=%d back=%d" % (
        src.name, sent, " ".join("%s=%d" % (k, len(v)) for k, v in got.items()), dup, back)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nic", action="append", required=True, metavar="NAME=PATH",
                    help="a guest NIC's stream socket; the n-th gets 10.0.n.1/02:00:00:00:0n:01")
    ap.add_argument("--connect-timeout", type=float, default=30)
    a = ap.parse_args()
    nics = []
    for i, spec in enumerate(a.nic, 1):
        name, path = spec.split("=", 1)
        n = Nic(name, i, path)
        n.connect(a.connect_timeout)
        nics.append(n)
    by_name = {n.name: n for n in nics}
    print("READY " + " ".join("%s=%s" % (n.name, mac_str(n.mac)) for n in nics), flush=True)
    stdin = sys.stdin.fileno()
    line = b""
    while True:
        # Keep answering ARP while idle.
        r, _, _ = select.select([stdin] + [n.sock for n in nics], [], [], 0.2)
        for n in nics:
            if n.sock in r:
                n.feed()
                n.rx = []
        if stdin not in r:
            continue
        chunk = os.read(stdin, 4096)
        if not chunk:
            return 0
        line += chunk
        while b"\n" in line:
            cmd, line = line.split(b"\n", 1)
            w = cmd.decode().split()
            if not w:
                continue
            try:
                if w[0] == "quit":
                    return 0
                elif w[0] == "arp":
                    out = cmd_arp(nics, by_name[w[1]], float(w[2]))
                elif w[0] == "ping":
                    out = cmd_ping(nics, by_name[w[1]], int(w[2]),
                                   int(w[3]) if len(w) > 3 else 16,
                                   max(1, min(64, int(w[4]))) if len(w) > 4 else 1)
                elif w[0] == "flood":
                    out = cmd_flood(nics, by_name[w[1]], int(w[2]))
                elif w[0] == "burst":
                    out = cmd_burst(nics, by_name[w[1]], by_name[w[2]], int(w[3]), int(w[4]))
                elif w[0] == "csum":
                    out = cmd_csum(nics, by_name[w[1]], by_name[w[2]], int(w[3]))
                elif w[0] == "cross":
                    out = cmd_cross(nics, by_name[w[1]], by_name[w[2]], int(w[3]))
                else:
                    out = "ERROR unknown command %s" % w[0]
            except (KeyError, IndexError, ValueError) as e:
                out = "ERROR %s: %r" % (cmd.decode(), e)
            print(out, flush=True)


if __name__ == "__main__":
    sys.exit(main())
