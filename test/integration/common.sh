# shellcheck shell=bash
# Shared helpers for test/integration/*_test.sh (bash; source it after
# `set -euo pipefail`). ctest passes VSWITCHD, VSWITCHCTL, VS_SOURCE_DIR,
# VS_BUILD_DIR and VS_LAB_DIR; run by hand, the defaults below find a build in
# <repo>/build.
#
#   vs_start CONFIG         starts vswitchd -c CONFIG, waits for its socket;
#                           $VS_PID, $VS_SOCK (from control.socket), $VS_LOG
#   vs_ctl ARGS...          vswitchctl -s $VS_SOCK ARGS...
#   vs_stop                 SIGTERM, waits, sets $VS_RC (exit code)
#   check/fail/pass         assertions that print what they compared
#   vs_netns_tap [--no-ipv6] NS TAP [CIDR]
#                           moves the TAP device vswitchd made into a new
#                           namespace NS, lo and TAP up, CIDR (if any) on TAP;
#                           --no-ipv6: IPv6 off before the link is up (no
#                           router solicitations or MLD reports in exact counts)
#   vs_bg CMD...            CMD in the background ($! as usual)
#   trap vs_cleanup EXIT    at exit: background jobs, vswitchd, the namespaces
#                           and links of vs_netns_tap, and $VS_CLEANUP_PATHS

VS_SOURCE_DIR=${VS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
VS_BUILD_DIR=${VS_BUILD_DIR:-$VS_SOURCE_DIR/build}
VSWITCHD=${VSWITCHD:-$VS_BUILD_DIR/vswitchd}
VSWITCHCTL=${VSWITCHCTL:-$VS_BUILD_DIR/vswitchctl}
VS_LAB=${VS_LAB:-$VS_SOURCE_DIR/test/lab}
export VS_LAB_DIR=${VS_LAB_DIR:-/var/cache/vswitch-lab}

# shellcheck source=../lab/lib.sh
. "$VS_LAB/lib.sh"

VS_TEST=$(basename "$0" .sh)
VS_T0=$SECONDS
VS_PID=""
VS_RC=""

say() { printf '[%s +%ds] %s\n' "$VS_TEST" $((SECONDS - VS_T0)) "$*"; }

# fail MSG: report and exit 1 (the EXIT trap cleans up).
fail() {
	say "FAIL: $*"
	[ -n "${VS_LOG:-}" ] && [ -r "$VS_LOG" ] && {
		echo "---- vswitchd log (last 40 lines) ----"
		tail -n 40 "$VS_LOG"
		echo "----"
	}
	exit 1
}

pass() { say "ok: $*"; }

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local what=$1
	shift
	if "$@"; then
		pass "$what"
	else
		fail "$what (command: $*)"
	fi
}

vs_require_binaries() {
	[ -x "$VSWITCHD" ] || fail "no vswitchd at $VSWITCHD (build first: bash scripts/build.sh)"
	[ -x "$VSWITCHCTL" ] || fail "no vswitchctl at $VSWITCHCTL (build first)"
}

# A netns that cannot be created (container without CAP_SYS_ADMIN) is a
# missing peer: skip outside CI, fail in it.
vs_require_netns() {
	lab_require_root
	lab_require_cmd ip
	local probe=vs-probe-$$
	ip netns add "$probe" 2>/dev/null || lab_skip "cannot create network namespaces"
	ip netns del "$probe"
	[ -c /dev/net/tun ] || lab_skip "no /dev/net/tun"
}

vs_ctl() {
	"$VSWITCHCTL" -s "$VS_SOCK" "$@"
}

# vs_start CONFIG [SECONDS]: the socket path is read from the config's
# control.socket (written by the test itself, so a simple match suffices).
vs_start() {
	local cfg=$1 secs=${2:-20}
	VS_SOCK=$(sed -n 's/^[[:space:]]*socket:[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$cfg" | head -n1)
	[ -n "$VS_SOCK" ] || fail "config $cfg has no control.socket"
	VS_LOG=${VS_LOG:-${cfg%.*}.log}
	"$VSWITCHD" -c "$cfg" >>"$VS_LOG" 2>&1 &
	VS_PID=$!
	local deadline=$((SECONDS + secs))
	while :; do
		if ! kill -0 "$VS_PID" 2>/dev/null; then
			wait "$VS_PID" && VS_RC=0 || VS_RC=$?
			VS_PID=""
			fail "vswitchd exited with $VS_RC during start-up"
		fi
		if [ -S "$VS_SOCK" ] && "$VSWITCHCTL" -s "$VS_SOCK" --timeout 2 version >/dev/null 2>&1; then
			break
		fi
		[ $SECONDS -lt $deadline ] || fail "vswitchd did not answer on $VS_SOCK within ${secs}s"
		sleep 0.1
	done
	say "vswitchd running (pid $VS_PID, socket $VS_SOCK)"
}

# vs_stop [SECONDS]: SIGTERM and wait; $VS_RC gets the exit code (137 when it
# had to be killed).
vs_stop() {
	local secs=${1:-15}
	[ -n "$VS_PID" ] || return 0
	kill -TERM "$VS_PID" 2>/dev/null || true
	local deadline=$((SECONDS + secs))
	while kill -0 "$VS_PID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	if kill -0 "$VS_PID" 2>/dev/null; then
		say "vswitchd ignored SIGTERM for ${secs}s, killing it"
		kill -KILL "$VS_PID" 2>/dev/null || true
	fi
	wait "$VS_PID" && VS_RC=0 || VS_RC=$?
	VS_PID=""
}

# vs_guest_cleanup [DIR...]: the EXIT trap of a test with QEMU guests. On
# failure it prints the running guests' last lines; it stops the guests before
# vswitchd (QEMU complains when the back-end vanishes under a live ring),
# removes the lab directory (unless LAB_KEEP=1) and DIRs, and keeps the exit
# status. Use: trap 'vs_guest_cleanup "$run"' EXIT
vs_guest_cleanup() {
	local rc=$? g
	if [ $rc -ne 0 ]; then
		for g in "${LAB_GUESTS[@]}"; do
			lab_guest_running "$g" && lab_guest_dump "$g"
		done
	fi
	lab_guest_stop_all
	vs_kill
	LAB_KEEP=${LAB_KEEP:-0} lab_cleanup
	[ $# -gt 0 ] && rm -rf "$@"
	exit $rc
}

# vs_guest_pair_setup INITRD [-b BINARY]...: the start of a test with two
# vhost-user guests: vswitchd, root, QEMU, iperf3 and Debian's 6.1 kernel are
# required; $run is a fresh directory for sockets (removed at exit, after the
# guests and vswitchd); $LAB_RUN/INITRD is the busybox initramfs with
# test/lab/init-ping.sh, virtio_net and iperf3 (and each -b BINARY).
vs_guest_pair_setup() {
	local out=$1 t
	shift
	vs_require_binaries
	lab_require_root
	lab_require_qemu
	lab_require_cmd iperf3
	lab_kernel 6.1
	run=/run/vswitch-test-$$
	lab_setup
	mkdir -p "$run"
	trap 'vs_guest_cleanup "$run"' EXIT
	t=$SECONDS
	lab_initramfs "$LAB_RUN/$out" -i "$VS_LAB/init-ping.sh" -m virtio_net -m virtio_pci \
		-b iperf3 "$@"
	say "initramfs built in $((SECONDS - t))s"
}

# vs_guest_pair_config FILE MODE SOCK1 SOCK2 [VM1-LINES [VM2-LINES]]: vswitchd's
# config for the two guests: vhost-user ports vm1 on SOCK1 and vm2 on SOCK2 in
# MODE (server: vswitchd listens; client: QEMU does), one poller on cpu 1, the
# control socket in $run; each LINES (YAML indented by 4) goes under its port.
vs_guest_pair_config() {
	cat >"$1" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
ports:
  - name: vm1
    type: vhost-user
    path: $3
    mode: $2
${5:-}
  - name: vm2
    type: vhost-user
    path: $4
    mode: $2
${6:-}
EOF
}

# guest_iperf GUEST PEER ARGS...: iperf3 (JSON) from GUEST to PEER with ARGS
# ("-t 8", "-n 64M", "-R -t 8"); prints "Mbit/s retransmits sent_bytes
# received_bytes".
guest_iperf() {
	local g=$1 peer=$2
	shift 2
	lab_guest_exec "$g" 120 "iperf3 -J -c $peer $*" >"$LAB_RUN/$g.iperf.json" ||
		{ tail -n 30 "$LAB_RUN/$g.iperf.json"; fail "iperf3 $* from $g to $peer failed"; }
	python3 - "$LAB_RUN/$g.iperf.json" <<'EOF' || fail "no iperf3 result from $g"
import json, sys
text = open(sys.argv[1]).read()
d = json.loads(text[text.index("{"):text.rindex("}") + 1])
if "error" in d:
    sys.exit("iperf3: " + d["error"])
s, r = d["end"]["sum_sent"], d["end"]["sum_received"]
print("%.1f %d %d %d" % (r["bits_per_second"] / 1e6, s.get("retransmits", -1), s["bytes"], r["bytes"]))
EOF
}

VS_NETNS=()
VS_LINKS=()
VS_BG_PIDS=()
VS_CLEANUP_PATHS=()

vs_netns_tap() {
	local v6=on
	[ "$1" = --no-ipv6 ] && v6=off && shift
	local ns=$1 tap=$2 cidr=${3:-}
	VS_LINKS+=("$tap")
	ip netns add "$ns"
	VS_NETNS+=("$ns")
	ip link set "$tap" netns "$ns"
	[ $v6 = on ] || ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	[ -z "$cidr" ] || ip -n "$ns" addr add "$cidr" dev "$tap"
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "$tap" up
}

# vs_netns_veth ROOT PEER NS CIDR: a veth pair, ROOT up in this namespace (no
# IPv6 on it: nothing of the host's own on the wire), PEER in the existing
# namespace NS with CIDR and up, its tx checksumming off: a frame the
# namespace leaves to be checksummed would reach the other side of a port that
# carries no offload metadata (af_xdp) with its checksum unfinished, so the
# namespace's stack completes it. The caller deletes ROOT (the pair goes with it).
vs_netns_veth() {
	local root=$1 peer=$2 ns=$3 cidr=$4
	ip link add "$root" type veth peer name "$peer" netns "$ns"
	sysctl -qw "net.ipv6.conf.$root.disable_ipv6=1"
	ip link set "$root" up
	ip -n "$ns" addr add "$cidr" dev "$peer"
	ip -n "$ns" link set "$peer" up
	ip netns exec "$ns" ethtool -K "$peer" tx off >/dev/null ||
		fail "cannot turn tx checksumming off on $peer in $ns (ethtool -K $peer tx off)"
}

vs_bg() {
	"$@" &
	VS_BG_PIDS+=($!)
}

# The EXIT trap of a namespace test; keeps the test's exit status. A link still in
# the root namespace (vswitchd died before the move) is removed by name.
vs_cleanup() {
	local rc=$? p
	set +e
	for p in "${VS_BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	vs_kill
	for p in "${VS_NETNS[@]}"; do
		ip netns del "$p" 2>/dev/null
	done
	for p in "${VS_LINKS[@]}"; do
		ip link del "$p" 2>/dev/null
	done
	[ ${#VS_CLEANUP_PATHS[@]} -gt 0 ] && rm -rf "${VS_CLEANUP_PATHS[@]}"
	exit $rc
}

# Cleanup for traps: kill vswitchd if a test left it running.
vs_kill() {
	if [ -n "${VS_PID:-}" ]; then
		kill -KILL "$VS_PID" 2>/dev/null || true
		wait "$VS_PID" 2>/dev/null || true
		VS_PID=""
	fi
}

# ping_counts FILE: "SENT RECEIVED" from iputils or busybox ping output.
ping_counts() {
	sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) (packets )?received.*/\1 \2/p' "$1" | tail -n1
}

hugepages_free() {
	awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo
}

# Processes other than vswitchd ($VS_PID) that map 2 MiB hugepages, one
# "PID COMM PAGES" line each: on a shared machine other programs (testpmd,
# other tests) take and return pages while a test runs. Shared mappings may
# count twice, so this tells whether anyone else is there, not how much.
hugepages_holders() {
	local f pid v
	for f in /proc/[0-9]*/smaps_rollup; do
		pid=${f#/proc/}
		pid=${pid%%/*}
		[ "$pid" = "${VS_PID:-}" ] && continue
		v=$(awk '/^(Shared|Private)_Hugetlb:/ { s += $2 } END { print s + 0 }' "$f" 2>/dev/null) || continue
		[ "${v:-0}" -gt 0 ] && echo "$pid $(cat "/proc/$pid/comm" 2>/dev/null) $((v / 2048))"
	done
	return 0
}

# hugepages_snapshot / hugepages_check_returned: HugePages_Free after
# vswitchd's exit must equal the value before its start. When the set of
# other hugepage users changed in between, the numbers prove nothing and the
# check says so; in CI nothing else runs, so there it is a strict comparison.
hugepages_snapshot() {
	HP_FREE0=$(hugepages_free)
	HP_HOLDERS0=$(hugepages_holders)
}

hugepages_check_returned() {
	local deadline=$((SECONDS + 5)) free holders
	while :; do
		free=$(hugepages_free)
		holders=$(hugepages_holders)
		[ "$free" -eq "$HP_FREE0" ] && break
		if [ $SECONDS -ge $deadline ]; then
			if [ "$holders" = "$HP_HOLDERS0" ]; then
				fail "HugePages_Free is $free after exit, was $HP_FREE0 before start (other hugepage users now: ${holders:-none})"
			fi
			say "warning: HugePages_Free $HP_FREE0 -> $free, but other processes took or returned hugepages meanwhile (before: ${HP_HOLDERS0:-none}; now: ${holders:-none}): inconclusive"
			return 0
		fi
		sleep 0.2
	done
	pass "HugePages_Free back to $free"
}

# guest_ping GUEST PEER COUNT [INTERVAL]: in a --ctl guest, probe PEER until
# it answers (first pings get lost while a peer boots or a switch learns),
# then COUNT pings that must all come back.
guest_ping() {
	local g=$1 peer=$2 count=$3 ival=${4:-0.2} sent recv
	lab_guest_exec "$g" 90 ". /lib/lab.sh; lab_ping_probe $peer 60" ||
		fail "$g: no reply from $peer within 60 s"
	# Not in $(...): lab_guest_exec keeps its sequence number in this shell.
	lab_guest_exec "$g" $((30 + count)) "ping -c $count -i $ival -W 2 $peer" >"$LAB_RUN/$g.ping" || true
	read -r sent recv <<<"$(ping_counts "$LAB_RUN/$g.ping")"
	[ "${sent:-0}" -eq "$count" ] && [ "${recv:-0}" -eq "$count" ] ||
		{ cat "$LAB_RUN/$g.ping"; fail "$g -> $peer: sent=${sent:-?} received=${recv:-?}, expected $count/$count"; }
	pass "$g -> $peer: $recv/$sent, rtt $(sed -n 's/^round-trip //p' "$LAB_RUN/$g.ping")"
}

# guest_ping_result GUEST COUNT: the PING-RESULT line of a stand-alone ping
# guest (test/lab/init-ping.sh, vs_mode=ping) must show COUNT/COUNT.
guest_ping_result() {
	local g=$1 count=$2 line
	line=$(lab_guest_wait "$g" '^PING-RESULT ' 120) || fail "$g printed no PING-RESULT"
	[[ $line =~ peer=([^ ]+)\ sent=([0-9]+)\ received=([0-9]+) ]] || fail "$g: unparseable '$line'"
	[ "${BASH_REMATCH[2]}" -eq "$count" ] && [ "${BASH_REMATCH[3]}" -eq "$count" ] ||
		fail "$g: '$line', expected $count/$count"
	pass "$g -> ${BASH_REMATCH[1]}: ${BASH_REMATCH[3]}/${BASH_REMATCH[2]}"
}
