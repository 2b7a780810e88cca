#!/usr/bin/env python3
"""Writes the seed inputs of vhost_msg_fuzz (record format: see vhost_msg_fuzz.c).

Each seed is a complete, valid negotiation of a virtio-net device as QEMU or DPDK
virtio-user sends it, with rings laid out in the fuzzer's 1 MiB memfd and one
frame posted on the guest's TX ring, so that mutations start from deep states."""
import os
import struct

NEED_REPLY = 1 | 8
UVA = 0x7f0000000000
NOFD = 1 << 8

F_MRG_RXBUF, F_STATUS, F_MQ, F_LOG_ALL, F_EVENT_IDX, F_PROTOCOL = 15, 16, 22, 26, 29, 30
F_VERSION_1, F_PACKED = 32, 34


def rec(ctl, req, payload=b"", flags=NEED_REPLY):
    return bytes([ctl]) + struct.pack("<III", req, flags, len(payload)) + payload


def memw(offset, data):
    return bytes([0x10]) + struct.pack("<III", offset, 0, len(data)) + data


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def addr(i, desc, avail, used, log=0, flags=0):
    return struct.pack("<IIQQQQ", i, flags, UVA + desc, UVA + used, UVA + avail, log or used)


def seed(packed=False, add_mem_reg=False, event_idx=False, legacy=False):
    out = b""
    feats = (1 << F_VERSION_1) | (1 << F_MRG_RXBUF)
    if not legacy:
        feats |= 1 << F_PROTOCOL
    if packed:
        feats |= 1 << F_PACKED
    if event_idx:
        feats |= 1 << F_EVENT_IDX
    out += rec(0, 1, flags=1)                      # GET_FEATURES
    if not legacy:
        out += rec(0, 15, flags=1)                 # GET_PROTOCOL_FEATURES
        pf = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 16)
        if add_mem_reg:
            pf |= 1 << 15
        out += rec(0, 16, u64(pf))                 # SET_PROTOCOL_FEATURES
        out += rec(0, 17, flags=1)                 # GET_QUEUE_NUM
    out += rec(0, 3)                               # SET_OWNER
    out += rec(0, 2, u64(feats))                   # SET_FEATURES
    if add_mem_reg:
        out += rec(0, 36, flags=1)                 # GET_MAX_MEM_SLOTS
        out += rec(1, 37, struct.pack("<QQQQQ", 0, 0, 1 << 20, UVA, 0))
    else:
        out += rec(1, 5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 1 << 20, UVA, 0))
    size = 8
    rings = {0: (0x00000, 0x01000, 0x02000), 1: (0x08000, 0x09000, 0x0a000)}
    base = 0x8000 if packed else 0
    for i, (d, a, u) in rings.items():
        out += rec(0, 8, state(i, size))            # SET_VRING_NUM
        out += rec(0, 10, state(i, base))           # SET_VRING_BASE
        out += rec(0, 9, addr(i, d, a, u))          # SET_VRING_ADDR
        out += rec(4, 13, u64(i))                   # SET_VRING_CALL (eventfd)
        out += rec(0, 12, u64(i | NOFD))            # SET_VRING_KICK (polling)
        if not legacy:
            out += rec(0, 18, state(i, 1))          # SET_VRING_ENABLE
    if not legacy:
        out += rec(0, 39, u64(15))                  # SET_STATUS DRIVER_OK
    # Guest RX buffer on vring 0 and a 60-byte frame (12-byte header first) on vring 1.
    if packed:
        avail_used = (1 << 7)  # AVAIL set, USED clear: available with wrap counter 1
        out += memw(0x00000, struct.pack("<QIHH", 0x20000, 2048, 0, avail_used | 2))
        out += memw(0x08000, struct.pack("<QIHH", 0x30000, 72, 0, avail_used))
    else:
        out += memw(0x00000, struct.pack("<QIHH", 0x20000, 2048, 2, 0))
        out += memw(0x01000, struct.pack("<HHH", 0, 1, 0))
        out += memw(0x08000, struct.pack("<QIHH", 0x30000, 72, 0, 0))
        out += memw(0x09000, struct.pack("<HHH", 0, 1, 0))
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + bytes(range(46))
    out += memw(0x30000, bytes(12) + frame)
    out += rec(8, 3)                                # SET_OWNER again, then run the rings
    out += rec(0, 19, b"\x52\x54\x00\x12\x34\x56\x00\x00")  # SEND_RARP
    out += rec(0, 20, u64(1500))                    # NET_SET_MTU
    out += rec(0, 11, state(1, 0), flags=1)         # GET_VRING_BASE
    return out


def bad():
    out = rec(0, 2, b"\x00" * 4)                    # SET_FEATURES, short payload
    out += rec(3, 3)                                # SET_OWNER with three fds
    out += rec(2, 5, struct.pack("<II", 2, 0) + struct.pack("<QQQQ", 0, 1 << 20, UVA, 0) * 2)
    out += rec(0, 99)                               # unknown request
    out += bytes([0]) + struct.pack("<III", 3, 1, 1 << 20)  # oversized header
    return out


here = os.path.dirname(os.path.abspath(__file__))
seeds = {
    "split": seed(),
    "split_event_idx": seed(event_idx=True),
    "packed": seed(packed=True),
    "packed_add_mem_reg": seed(packed=True, add_mem_reg=True),
    "legacy": seed(legacy=True),
    "bad": bad(),
}
for name, blob in seeds.items():
    with open(os.path.join(here, "seed_" + name), "wb") as f:
        f.write(blob)
