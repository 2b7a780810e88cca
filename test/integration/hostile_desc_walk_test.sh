#!/usr/bin/env bash
# A guest posts an RX ring of 32768 empty descriptors chained together, every avail
# entry pointing at the chain. Frames flooded to it (the benign front-end's frames
# go to an unknown MAC, so they reach every port) make the poller look for room
# through that ring. Without a bound per burst, each frame walks up to 64 x 32768
# descriptors and each frame of a burst starts again: the poller, which serves
# every port here, stalls. With it, the benign traffic is not slowed down.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

hx_start 3
hx_attack vs_attack_desc_walk "$(hx_sock p0)"
# 2000 flooded frames, all of which also go to p0, within the usual 5 s.
hx_assert_traffic p1 p2 2000
cut=$(vs_ctl --json show p0 |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["details"]["queues"][0].get("walk_cut", 0))')
[ "$cut" -gt 0 ] || fail "p0 counted no burst cut short by the descriptor budget"
pass "p0 counted $cut bursts cut short by the descriptor budget"
assert_survived p1 p2
