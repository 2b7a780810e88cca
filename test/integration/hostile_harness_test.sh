#!/usr/bin/env bash
# The yardstick of the hostile_*_test.sh attacks, with nobody attacking: the
# benign front-end passes exact counts both ways and between every pair of ports,
# connects and leaves twenty times, and every check of assert_survived holds.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

hx_start 3
hx_assert_traffic p0 p1
hx_assert_traffic p1 p0
hx_assert_traffic p2 p0 2000
for i in $(seq 20); do
	"$HX_BIN/vs_hostile_check" "$(hx_sock p1)" "$(hx_sock p2)" 16 >/dev/null ||
		fail "benign front-end, round $i, failed"
done
pass "20 more connect/negotiate/traffic/leave rounds on p1 -> p2"
assert_survived p1 p2
