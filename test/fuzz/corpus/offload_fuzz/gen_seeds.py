#!/usr/bin/env python3
"""Writes the seed inputs of offload_fuzz (see its header for the layout): a few
frames the gate accepts, which the fuzzer mutates from. Run from this directory."""
import struct

CSUM, TSO4, TSO6, USO, ECN = 0x01, 0x02, 0x04, 0x08, 0x10


def eth(tags, ethertype):
    b = bytes.fromhex("525400123456525400abcdef")
    if tags == 2:
        b += struct.pack(">HH", 0x88A8, 100)
    if tags >= 1:
        b += struct.pack(">HH", 0x8100, 42)
    return b + struct.pack(">H", ethertype)


def ipv4(proto, opt=b""):
    ihl = 5 + len(opt) // 4
    # total length 0: the fuzzer's fix-up bit 0 sets it
    return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, 0, 0x1234, 0x4000, 64, proto, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + opt


def ipv6(proto):
    return struct.pack(">IHBB", 0x60000000, 0, proto, 64) + bytes(range(32))


def tcp(flags, opt=b""):
    doff = 5 + len(opt) // 4
    return struct.pack(">HHIIBBHHH", 40000, 5201, 1000, 2000, doff << 4, flags, 500, 0, 0) + opt


def udp():
    return struct.pack(">HHHH", 40000, 5201, 0, 0)


def seed(name, ol, fix, gso, extra, frame):
    hdr = struct.pack("<BBHHHHH", ol, fix, 0, 0, gso, 0, extra)
    with open(name, "wb") as f:
        f.write(hdr + frame + bytes(range(64)))


ts = bytes.fromhex("0101080a0001020304050607")
seed("tso4_ts", CSUM | TSO4, 3, 1448, 6000, eth(0, 0x0800) + ipv4(6) + tcp(0x19, ts))
seed("tso4_ipopt_ecn", TSO4 | ECN, 3, 536, 9000,
     eth(1, 0x0800) + ipv4(6, b"\x01\x01\x01\x01") + tcp(0x98))
seed("tso6_vlan", CSUM | TSO6, 3, 1000, 5000, eth(1, 0x86DD) + ipv6(6) + tcp(0x18, ts))
seed("uso4_qinq", CSUM | USO, 3, 1400, 4000, eth(2, 0x0800) + ipv4(17) + udp())
seed("uso6_big", USO, 3, 8000, 60000, eth(0, 0x86DD) + ipv6(17) + udp())
seed("csum_udp", CSUM, 3, 0, 100, eth(0, 0x0800) + ipv4(17) + udp())
