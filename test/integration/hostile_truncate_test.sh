#!/usr/bin/env bash
# A front-end truncates its guest memory file after the switch mapped it (an
# unsealed memfd; hugetlbfs files can shrink too) and kicks its ring: the switch's
# next access to that memory faults (SIGBUS). The switch must survive it: that one
# port is stopped, named in one log line and counted, and everything else goes on.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

# show_detail PORT KEY: a value of `show PORT`'s details.
show_detail() {
	vs_ctl --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["details"][sys.argv[1]])' "$2"
}

hx_start 3
hx_attack vs_attack_truncate "$(hx_sock p0)"
# Benign traffic first: unknown destinations are flooded to p0 as well, so its
# rings are touched whatever the poller was doing when the file shrank.
"$HX_BIN/vs_hostile_check" "$(hx_sock p1)" "$(hx_sock p2)" 16 >/dev/null 2>&1 || true
hx_assert_alive
deadline=$((SECONDS + 5))
until grep -q 'port p0: guest memory' "$VS_LOG"; do
	[ $SECONDS -lt $deadline ] || fail "no log line about p0's memory within 5 s"
	sleep 0.1
done
hx_log_has 'port p0: guest memory of the front-end on .* became inaccessible.*port stopped' \
	"the faulting port is named with the fix"
faults=$(show_detail p0 memory_faults)
[ "$faults" = 1 ] || fail "p0 counts $faults memory faults, expected 1"
[ "$(show_detail p0 connected)" = False ] || fail "p0 still has its front-end connected"
pass "p0 counted 1 memory fault and dropped its front-end"
assert_survived p1 p2
