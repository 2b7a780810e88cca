#!/usr/bin/env python3
"""Prints the facts vduse_guest_test.sh asserts on, from a VDUSE port's
`vswitchctl --json show PORT`, as shell assignments (eval-able):
SHOW_IFNAME, SHOW_VHOST_DEV, SHOW_STATUS, SHOW_FEATURES (space separated), SHOW_QSTATES and
SHOW_QPACKETS (one word per queue), SHOW_IOTLB (mappings), SHOW_LEFTOVER."""
import json
import shlex
import sys

d = json.load(open(sys.argv[1])).get("details", {})
q = d.get("queues") or []
out = {
    "SHOW_IFNAME": d.get("ifname") or "",
    "SHOW_VHOST_DEV": d.get("vhost_dev") or "",
    "SHOW_STATUS": d.get("device_status") or "",
    "SHOW_FEATURES": " ".join(d.get("features") or []),
    "SHOW_QSTATES": " ".join(str(x.get("state")) for x in q),
    "SHOW_QPACKETS": " ".join(str(x.get("packets", 0)) for x in q),
    "SHOW_IOTLB": str(len(d.get("iotlb") or [])),
    "SHOW_LEFTOVER": "yes" if d.get("recovered_leftover") else "no",
}
for k, v in out.items():
    print("%s=%s" % (k, shlex.quote(v)))
