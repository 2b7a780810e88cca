#!/usr/bin/env python3
"""Raw Ethernet frames for the tenant tests, where the host kernel cannot tag
VLANs itself (no 8021q): runs inside a namespace (ip netns exec).

  tenant_frames.py send IFACE DST SRC VLAN COUNT [ETHERTYPE]
      COUNT frames of 64 bytes (4 more per tag) from SRC to DST; VLAN is a
      VID (tagged 0x8100), OUTER.INNER (two 0x8100 tags) or - (untagged);
      ETHERTYPE defaults to 0x88b5 (local experimental), the payload carries
      the frame's number.
  tenant_frames.py flood IFACE COUNT DST [VLAN]
      COUNT frames, each from a new random locally administered source MAC.
  tenant_frames.py rate IFACE SECONDS DST SRC
      as many frames as the socket takes for SECONDS; prints how many.
"""
import os
import socket
import struct
import sys
import time


def mac(s):
    return bytes(int(b, 16) for b in s.split(":"))


def frame(dst, src, vlan, ethertype, n):
    """vlan: None, a VID, or a list of VIDs, outermost first."""
    vids = [] if vlan is None else vlan if isinstance(vlan, list) else [vlan]
    hdr = dst + src
    for v in vids:
        hdr += struct.pack("!HH", 0x8100, v)
    hdr += struct.pack("!H", ethertype)
    payload = struct.pack("!I", n) + b"tenant-test" + bytes(64)
    return (hdr + payload)[: 64 + 4 * len(vids)]


def sock(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    return s


def send_all(s, f):
    """One frame, waiting while the device queue is full."""
    while True:
        try:
            s.send(f)
            return
        except BlockingIOError:
            time.sleep(0.0005)
        except OSError as e:
            if e.errno != 105:  # ENOBUFS: the queue is full
                raise
            time.sleep(0.0005)


def main(argv):
    cmd = argv[1]
    if cmd == "send":
        iface, dst, src, vlan, count = argv[2:7]
        et = int(argv[7], 16) if len(argv) > 7 else 0x88B5
        v = None if vlan == "-" else [int(x) for x in vlan.split(".")]
        s = sock(iface)
        for i in range(int(count)):
            send_all(s, frame(mac(dst), mac(src), v, et, i))
    elif cmd == "flood":
        iface, count, dst = argv[2:5]
        v = int(argv[5]) if len(argv) > 5 else None
        s = sock(iface)
        n = int(count)
        rnd = os.urandom(5 * n)
        d = mac(dst)
        for i in range(n):
            src = b"\x02" + rnd[5 * i : 5 * i + 5]
            send_all(s, frame(d, src, v, 0x88B5, i))
    elif cmd == "rate":
        iface, secs, dst, src = argv[2:6]
        s = sock(iface)
        f = frame(mac(dst), mac(src), None, 0x88B5, 0)
        end = time.monotonic() + float(secs)
        n = 0
        while time.monotonic() < end:
            for _ in range(64):
                send_all(s, f)
            n += 64
        print(n)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
