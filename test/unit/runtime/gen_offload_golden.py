#!/usr/bin/env python3
"""Golden segmentation data for test_offload: what Linux's own software GSO makes
of a GSO frame. Run by hand as root (not in CI); it writes offload_golden.h beside
itself.

In a throwaway network namespace, each frame goes into a TAP device with a
virtio-net header (the way a guest's frames reach the host), a bridge forwards it
to a veth whose TSO, GSO, checksum and VLAN offloads are off, so the kernel cuts
it and completes every checksum in software (validate_xmit_skb), and a packet
socket on that veth records the segments as they leave.

    sudo python3 test/unit/runtime/gen_offload_golden.py
"""
import fcntl
import os
import socket
import struct
import subprocess
import sys
import time

NS = "vs-offload-golden"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "offload_golden.h")

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN = 0x01, 0x02, 0x04, 0x08
TUN_F_USO4, TUN_F_USO6 = 0x20, 0x40
# virtio-net header
NEEDS_CSUM = 1
GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 1, 4, 5, 0x80
# vswitch's ol_flags (include/vswitch/pkt.h)
VS_OL_CSUM, VS_OL_TSO4, VS_OL_TSO6, VS_OL_USO, VS_OL_ECN = 0x01, 0x02, 0x04, 0x08, 0x10
PACKET_OUTGOING = 4


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def build(case):
    """One GSO frame as a guest hands it over: IP lengths of the whole frame, the
    L4 checksum field holding the pseudo header's sum."""
    ipv, udp, tags = case["ipv"], case["udp"], case.get("tags", 0)
    src_mac = bytes([0x52, 0x54, 0x00, 0xAA, 0x00, case["id"]])
    eth = bytes.fromhex("525400123456") + src_mac
    if tags == 2:
        eth += struct.pack("!HH", 0x88A8, 100)
    if tags >= 1:
        eth += struct.pack("!HH", 0x8100, 0x2000 | 42)
    eth += struct.pack("!H", 0x0800 if ipv == 4 else 0x86DD)
    payload = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(case["payload"]))
    proto = 17 if udp else 6
    if udp:
        l4 = struct.pack("!HHHH", 40000, 5201, 8 + len(payload), 0)
    else:
        opt = case.get("tcp_opt", b"")
        l4 = struct.pack("!HHIIBBHHH", 40000, 5201, case.get("seq", 0xFFFFF000), 0x01020304,
                         (5 + len(opt) // 4) << 4, case["flags"], 502, 0, 0) + opt
    l4len = len(l4) + len(payload)
    if ipv == 4:
        opt = case.get("ip_opt", b"")
        saddr, daddr = bytes([10, 0, 0, 1]), bytes([192, 168, 7, 2])
        ip = struct.pack("!BBHHHBBH4s4s", 0x40 | (5 + len(opt) // 4), 0x02,
                         20 + len(opt) + l4len, case.get("ip_id", 0xFFFE), 0x4000, 64, proto,
                         0, saddr, daddr) + opt
        ip = ip[:10] + struct.pack("!H", 0xFFFF - csum(ip)) + ip[12:]
        pseudo = saddr + daddr + struct.pack("!BBH", 0, proto, l4len)
    else:
        saddr = bytes([0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [1])
        daddr = bytes([0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [2])
        ip = struct.pack("!IHBB", 0x60000000 | 0x0A5E, l4len, proto, 64) + saddr + daddr
        pseudo = saddr + daddr + struct.pack("!IxxxB", l4len, proto)
    off = 6 if udp else 16
    l4 = l4[:off] + struct.pack("!H", csum(pseudo)) + l4[off + 2:]
    frame = eth + ip + l4 + payload
    csum_start = len(eth) + len(ip)
    return frame, csum_start, off, csum_start + len(l4)


CASES = [
    # TCP/IPv4 with timestamps, ECN: CWR on the first segment only, PSH|FIN on
    # the last; the last segment shorter; the sequence number and IPv4 ID wrap.
    dict(name="tcp4_ts_ecn", id=1, ipv=4, udp=0, payload=5000, mss=1448, flags=0x80 | 0x19,
         tcp_opt=bytes.fromhex("0101080a0001020304050607")),
    # TCP/IPv4 with IPv4 options (NOPs and an end), VLAN tag.
    dict(name="tcp4_ipopt_vlan", id=2, ipv=4, udp=0, tags=1, payload=3000, mss=1000, flags=0x18,
         ip_opt=bytes([1, 1, 1, 0])),
    # TCP/IPv6 with QinQ tags.
    dict(name="tcp6_qinq", id=3, ipv=6, udp=0, tags=2, payload=4001, mss=1220, flags=0x18,
         tcp_opt=bytes.fromhex("0101080a0001020304050607")),
    # UDP over IPv4 and IPv6 (USO): each segment a datagram of its own.
    dict(name="udp4", id=4, ipv=4, udp=1, payload=3500, mss=1400),
    dict(name="udp6_vlan", id=5, ipv=6, udp=1, tags=1, payload=2500, mss=1232),
]


def sh(*args, check=True):
    subprocess.run(args, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def inner():
    tun = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", b"tap0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    fcntl.ioctl(tun, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN |
                TUN_F_USO4 | TUN_F_USO6)
    sh("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    sh("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "link", "set", "tap0", "master", "br0")
    sh("ip", "link", "set", "veth0", "master", "br0")
    # Every offload off on the way out: software GSO and checksums, tags in-band.
    for feat in ("tso", "gso", "tx", "txvlan", "tx-vlan-stag-hw-insert", "tx-udp-segmentation",
                 "sg"):
        sh("ethtool", "-K", "veth0", feat, "off", check=False)
    for dev in ("lo", "tap0", "veth0", "veth1", "br0"):
        sh("ip", "link", "set", dev, "up")
    time.sleep(1)
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    cap.bind(("veth0", 0))
    cap.settimeout(0.5)

    results = []
    for case in CASES:
        frame, cstart, coff, hdr_len = build(case)
        gso = GSO_UDP_L4 if case["udp"] else GSO_TCPV4 if case["ipv"] == 4 else GSO_TCPV6
        ol = VS_OL_CSUM | (VS_OL_USO if case["udp"] else
                           VS_OL_TSO4 if case["ipv"] == 4 else VS_OL_TSO6)
        if not case["udp"] and case["flags"] & 0x80:
            gso |= GSO_ECN
            ol |= VS_OL_ECN
        vnet = struct.pack("<BBHHHH", NEEDS_CSUM, gso, hdr_len, case["mss"], cstart, coff)
        os.write(tun, vnet + frame)
        want = -(-case["payload"] // case["mss"])
        segs = []
        deadline = time.time() + 3
        while len(segs) < want and time.time() < deadline:
            try:
                data, addr = cap.recvfrom(70000)
            except socket.timeout:
                continue
            if addr[2] == PACKET_OUTGOING and data[6:12] == frame[6:12]:
                segs.append(data)
        if len(segs) != want:
            sys.exit("%s: %d segments captured, %d expected" % (case["name"], len(segs), want))
        # Only the headers go into the C file: every payload is the input's
        # slice, checked here.
        for i, seg in enumerate(segs):
            start = hdr_len + i * case["mss"]
            if seg[hdr_len:] != frame[start:start + case["mss"]]:
                sys.exit("%s: segment %d's payload is not the input's" % (case["name"], i))
        results.append((case, frame, ol, cstart, coff, hdr_len, segs))
    os.close(tun)
    return results


def carray(name, data):
    lines = ["static const uint8_t %s[%d] = {" % (name, len(data))]
    for i in range(0, len(data), 16):
        lines.append("    " + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",")
    lines.append("};")
    return "\n".join(lines)


def write_header(results):
    out = ["/* Generated by gen_offload_golden.py (run by hand as root; see there):",
           " * frames a TAP device was given with a virtio-net header asking for GSO,",
           " * and the segments Linux " + os.uname().release + " put on the wire for",
           " * each after cutting it in software, checksums completed: the segments'",
           " * headers (their payloads are the input's slices, checked by the script). */",
           "#include <stdint.h>", ""]
    for case, frame, ol, cstart, coff, hdr_len, segs in results:
        n = case["name"]
        out.append(carray("golden_%s_in" % n, frame))
        for i, s in enumerate(segs):
            out.append(carray("golden_%s_out%d" % (n, i), s[:hdr_len]))
        out.append("static const uint8_t *const golden_%s_out[] = {%s};" %
                   (n, ", ".join("golden_%s_out%d" % (n, i) for i in range(len(segs)))))
        out.append("static const uint32_t golden_%s_out_len[] = {%s};" %
                   (n, ", ".join(str(len(s)) for s in segs)))
        out.append("")
    out += ["struct golden_case {",
            "    const char *name;",
            "    const uint8_t *in;",
            "    uint32_t in_len;",
            "    uint8_t ol_flags;",
            "    uint16_t csum_start, csum_offset, gso_size;",
            "    uint16_t hdr_len; /* of every segment; out[] holds only these bytes */",
            "    unsigned n_out;",
            "    const uint8_t *const *out;",
            "    const uint32_t *out_len; /* whole segments: headers and payload */",
            "};", "",
            "static const struct golden_case golden_cases[] = {"]
    for case, frame, ol, cstart, coff, hdr_len, segs in results:
        n = case["name"]
        out.append('    {"%s", golden_%s_in, %d, 0x%02x, %d, %d, %d, %d, %d, golden_%s_out, '
                   "golden_%s_out_len}," % (n, n, len(frame), ol, cstart, coff, case["mss"],
                                             hdr_len, len(segs), n, n))
    out += ["    {0},", "};", ""]
    with open(OUT, "w") as f:
        f.write("\n".join(out))
    # The project's style (.clang-format at the root), when the tool is there.
    subprocess.run(["clang-format", "-i", OUT], check=False)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--inner":
        write_header(inner())
        return
    sh("ip", "netns", "del", NS, check=False)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", NS, sys.executable, os.path.abspath(__file__),
                        "--inner"], check=True)
    finally:
        sh("ip", "netns", "del", NS, check=False)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
