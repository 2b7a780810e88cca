# shellcheck shell=bash
# Helpers for hostile_*_test.sh: one vswitchd with vhost-user server ports, one
# hostile front-end (a program of test/hostile/) attacking one of them, and the
# checks that the switch survived it, judged from outside. Source it after
# `set -euo pipefail`; it sources common.sh.
#
#   hx_start N                vswitchd with ports p0..p(N-1) (sockets $HX_DIR/pK.sock),
#                             one adaptive poller for all of them; records the fd and
#                             mapping (file-backed) counts as the baseline
#   hx_attack PROG ARGS...    starts test/hostile/PROG in the background and waits for
#                             its READY line; $HX_ATTACK_PID, output in $HX_DIR/PROG.out
#   hx_attack_stop            SIGTERM to the attacker, waits for it
#   assert_survived PA PB     everything below, in this order:
#     hx_assert_alive         the process is alive
#     hx_assert_ctl_fast      `vswitchctl version` answers within HX_CTL_MAX_MS (300 ms; 5 samples)
#     hx_assert_traffic PA PB vs_hostile_check negotiates ports PA and PB and passes
#                             an exact count of frames from PA to PB
#     hx_assert_baseline      (after hx_attack_stop) fds and mappings back to the
#                             baseline within a few seconds
#     hx_assert_sigterm       SIGTERM ends vswitchd within 5 s, exit code 0
# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HX_BIN=${VS_HOSTILE_DIR:-$VS_BUILD_DIR/test/hostile}
# A main thread that an attack blocks answers in seconds or never; 300 ms leaves
# room for a loaded machine. Sanitizer builds run slower: scripts/test.sh raises it.
HX_CTL_MAX_MS=${HX_CTL_MAX_MS:-300}
HX_SETTLE_S=5
HX_ATTACK_PID=""
HX_ATTACK=""
HX_DIR=""

hx_cleanup() {
	if [ -n "$HX_ATTACK_PID" ]; then
		kill -KILL "$HX_ATTACK_PID" 2>/dev/null || true
		wait "$HX_ATTACK_PID" 2>/dev/null || true
	fi
	vs_kill
	[ -n "$HX_DIR" ] && rm -rf "$HX_DIR"
	return 0
}
trap hx_cleanup EXIT

hx_fds() { find "/proc/$VS_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# Mappings of files and anon inodes (guest memory, logs, io_uring rings): what a
# front-end's fds leave mapped. Anonymous memory is left out: it comes and goes
# with the allocator's arenas (and with ASan's), whatever the front-ends do.
hx_maps() { awk '$5 != 0' "/proc/$VS_PID/maps" | wc -l; }

# hx_start N: also any extra YAML lines for the log section via HX_LOG_LEVEL.
hx_start() {
	local n=$1 i
	vs_require_binaries
	lab_require_root
	[ -x "$HX_BIN/vs_hostile_check" ] || fail "no hostile front-ends in $HX_BIN (build first)"
	HX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vs-hostile.XXXXXX")
	{
		echo "pollers:"
		echo "  cpus: [1]"
		echo "  mode: adaptive"
		echo "memory:"
		echo "  hugepage_size: none"
		echo "  buffers: 4096"
		echo "control:"
		echo "  socket: $HX_DIR/ctl.sock"
		echo "log:"
		echo "  level: ${HX_LOG_LEVEL:-info}"
		echo "ports:"
		for ((i = 0; i < n; i++)); do
			echo "  - {name: p$i, type: vhost-user, path: $HX_DIR/p$i.sock, mode: server}"
		done
	} >"$HX_DIR/vswitchd.yaml"
	VS_LOG=$HX_DIR/vswitchd.log
	vs_start "$HX_DIR/vswitchd.yaml"
	HX_FD0=$(hx_fds)
	HX_MAPS0=$(hx_maps)
	say "baseline: $HX_FD0 fds, $HX_MAPS0 mappings"
}

hx_sock() { echo "$HX_DIR/$1.sock"; }

# hx_attack PROG ARGS...: READY within 20 s or fail.
hx_attack() {
	local prog=$1 deadline=$((SECONDS + 20))
	shift
	HX_ATTACK=$prog
	"$HX_BIN/$prog" "$@" >"$HX_DIR/$prog.out" 2>&1 &
	HX_ATTACK_PID=$!
	until grep -q '^READY' "$HX_DIR/$prog.out"; do
		if ! kill -0 "$HX_ATTACK_PID" 2>/dev/null; then
			cat "$HX_DIR/$prog.out"
			HX_ATTACK_PID=""
			fail "$prog exited before its attack was in place"
		fi
		[ $SECONDS -lt $deadline ] || { cat "$HX_DIR/$prog.out"; fail "$prog: not ready within 20 s"; }
		sleep 0.05
	done
	say "attack $prog $*: $(grep -v '^READY' "$HX_DIR/$prog.out" | tr '\n' ' ')$(grep '^READY' "$HX_DIR/$prog.out")"
}

hx_attack_stop() {
	[ -n "$HX_ATTACK_PID" ] || return 0
	kill -TERM "$HX_ATTACK_PID" 2>/dev/null || true
	wait "$HX_ATTACK_PID" 2>/dev/null || true
	HX_ATTACK_PID=""
	sed 's/^/  /' "$HX_DIR/$HX_ATTACK.out"
}

hx_assert_alive() {
	kill -0 "$VS_PID" 2>/dev/null || fail "vswitchd is gone"
	pass "vswitchd alive (pid $VS_PID)"
}

# Five samples a little apart: an attack may stall the main thread in bursts.
hx_assert_ctl_fast() {
	local i t0 ms worst=0
	for i in 1 2 3 4 5; do
		t0=$(date +%s%N)
		vs_ctl --timeout 3 version >/dev/null 2>&1 || fail "vswitchctl version got no answer within 3 s"
		ms=$((($(date +%s%N) - t0) / 1000000))
		[ "$ms" -gt "$worst" ] && worst=$ms
		sleep 0.1
	done
	[ "$worst" -le "$HX_CTL_MAX_MS" ] || fail "vswitchctl version took up to $worst ms (limit $HX_CTL_MAX_MS ms)"
	pass "vswitchctl version answered within $worst ms (5 samples, limit $HX_CTL_MAX_MS ms)"
}

# hx_assert_traffic PA PB [FRAMES]
hx_assert_traffic() {
	local out
	out=$("$HX_BIN/vs_hostile_check" "$(hx_sock "$1")" "$(hx_sock "$2")" "${3:-256}" 5000 2>&1) ||
		fail "benign front-end on $1 -> $2: $(echo "$out" | tr '\n' ' ')"
	pass "benign front-end on $1 -> $2: $(echo "$out" | tail -n1)"
}

hx_assert_baseline() {
	local deadline=$((SECONDS + HX_SETTLE_S)) fds maps
	while :; do
		fds=$(hx_fds)
		maps=$(hx_maps)
		[ "$fds" -eq "$HX_FD0" ] && [ "$maps" -eq "$HX_MAPS0" ] && break
		[ $SECONDS -lt $deadline ] ||
			fail "after the front-ends left: $fds fds (baseline $HX_FD0), $maps mappings (baseline $HX_MAPS0)"
		sleep 0.1
	done
	pass "fds ($fds) and mappings ($maps) back to the baseline"
}

hx_assert_sigterm() {
	local t0=$SECONDS
	vs_stop 5
	[ "$VS_RC" = 0 ] || fail "vswitchd did not end cleanly within 5 s of SIGTERM (exit code $VS_RC)"
	pass "SIGTERM ended vswitchd in $((SECONDS - t0)) s"
}

# assert_survived PA PB: the whole verdict; stops the attacker on the way.
assert_survived() {
	hx_assert_alive
	hx_assert_ctl_fast
	hx_assert_traffic "$1" "$2"
	hx_attack_stop
	hx_assert_baseline
	hx_assert_sigterm
}

# hx_log_has PATTERN WHAT: the vswitchd log must contain PATTERN (grep -E).
hx_log_has() {
	grep -Eq "$1" "$VS_LOG" || fail "no log line matching '$1' ($2)"
	pass "$2: $(grep -E "$1" "$VS_LOG" | head -n1)"
}

# hx_port_stat PORT KEY: one value of `vswitchctl show PORT` (its details).
hx_port_stat() {
	vs_ctl --json show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["details"][sys.argv[1]])' "$2"
}

# hx_vring_stat PORT VRING KEY: one counter of `vswitchctl show PORT` for a vring.
hx_vring_stat() {
	vs_ctl --json show "$1" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print([q for q in d["details"]["queues"] if q["vring"] == int(sys.argv[1])][0][sys.argv[2]])' "$2" "$3"
}
