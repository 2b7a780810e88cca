#!/usr/bin/env python3
"""Seeds for vduse_req_fuzz: a device brought up with both queues in one IOTLB
entry, a frame on the driver's transmit queue, an IOTLB invalidation, a reset."""
import struct

def req(rtype, rid, body=b""):
    r = struct.pack("<II16x", rtype, rid) + body
    r = r.ljust(24 + 128, b"\0")
    return bytes([0, len(r)]) + r

def features(f):
    return bytes([1]) + struct.pack("<Q", f)

def vq(i, num, desc, drv, dev):
    return bytes([2, i]) + struct.pack("<HIIIBH", num, desc, drv, dev, 1, 0)

def tlb(slot, start, length, off, perm):
    return bytes([3, slot]) + struct.pack("<IIIB", start, length, off, perm)

def write(off, data):
    return bytes([4]) + struct.pack("<IB", off, len(data)) + data

F = (1 << 32) | (1 << 33) | (1 << 29) | (1 << 15)  # VERSION_1 ACCESS_PLATFORM EVENT_IDX MRG_RXBUF
up = (features(F) + tlb(0, 0x10000, 0x10000, 0, 3) +
      vq(0, 256, 0x10000, 0x11000, 0x12000) + vq(1, 256, 0x18000, 0x19000, 0x1A000) +
      req(1, 1, bytes([0x0B])) + req(1, 2, bytes([0x0F])))
# vq 1: descriptor 0 -> a 72-byte buffer at IOVA 0x1C000 (memfd 0xC000), avail idx 1
frame = write(0xC000, bytes(12) + b"\xff" * 60)
desc = write(0x8000, struct.pack("<QIHH", 0x1C000, 72, 0, 0))
avail = write(0x9000, struct.pack("<HHH", 0, 1, 0))
seeds = {
    "seed_up_tx": up + frame + desc + avail + bytes([5]),
    "seed_iotlb": up + req(2, 3, struct.pack("<QQ", 0x1C000, 0x1CFFF)) + bytes([5]) +
                  tlb(0x81, 0, 1, 0, 3) + req(2, 4, struct.pack("<QQ", 0, 0xFFFFFFFF)),
    "seed_miss": up + tlb(1, 0x40000, 0x1000, 0xC000, 3) +
                 write(0x8000, struct.pack("<QIHH", 0x40000, 72, 0, 0)) + avail +
                 bytes([5, 6, 5]) + req(0, 5, struct.pack("<I", 1)) + req(1, 6, bytes([0])),
    "seed_bad": req(9, 7) + bytes([0, 3, 1, 2, 3]) + req(0, 8, struct.pack("<I", 7)),
}
for name, data in seeds.items():
    with open(name, "wb") as f:
        f.write(data)
