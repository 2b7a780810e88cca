#!/usr/bin/env bash
# A front-end hands over sparse memory files as large as the free ranges of the
# switch's address space (many TiB, nothing touched), one ADD_MEM_REG each. Without
# a cap per port, the next guest's memory table has nowhere to be mapped (ENOMEM).
# With it, the attacker is refused at max_memory and every other port still works.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

hx_start 3
hx_attack vs_attack_sparse "$(hx_sock p0)" "$VS_PID"
hx_assert_alive
# Another guest's memory table must still find room.
hx_assert_traffic p1 p2
mapped=$(vs_ctl --json show p0 |
	python3 -c 'import json,sys; d=json.load(sys.stdin)["details"]; print(d.get("memory_mapped", -1), d.get("max_memory", -1))')
read -r used cap <<<"$mapped"
if [ "$used" -lt 0 ] || [ "$used" -gt "$cap" ]; then
	fail "p0 maps $used bytes, max_memory $cap"
fi
pass "p0 maps $used bytes, within max_memory ($cap)"
assert_survived p1 p2
