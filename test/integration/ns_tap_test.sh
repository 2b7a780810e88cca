#!/usr/bin/env bash
# Two TAP ports, each moved into its own network namespace, switched by
# vswitchd: ping both ways without loss, iperf3 throughput, a port added and
# removed at run time without disturbing a running ping, an error for an
# unknown port, a clean shutdown (exit 0, no socket, no TAP device, hugepages
# returned), and --check-config's verdicts on a good and a bad file.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd iperf3 busybox timeout

sfx=$$
ns1=vs-ns1-$sfx
ns2=vs-ns2-$sfx
t1=vs-t1-$sfx
t2=vs-t2-$sfx
t3=vs-t3-$sfx
run=/run/vswitch-test-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-ns-tap.XXXXXX")
VS_CLEANUP_PATHS=("$run" "$work")
VS_LINKS=("$t3") # added at run time, never moved
trap vs_cleanup EXIT

# Busybox ping everywhere: same output format as in the guests, and present
# even where iputils-ping is not installed.
nsping() {
	local ns=$1
	shift
	ip netns exec "$ns" busybox ping "$@"
}

# --- --check-config ---------------------------------------------------------
cat >"$work/bad.yaml" <<'EOF'
fdb:
  aging: 10
  size: lots
EOF
set +e
"$VSWITCHD" --check-config -c "$work/bad.yaml" >"$work/bad.out" 2>&1
rc=$?
set -e
cat "$work/bad.out"
[ $rc -eq 2 ] || fail "--check-config on a bad file exited $rc, expected 2"
grep -qE "^$work/bad.yaml:3:[0-9]+: " "$work/bad.out" ||
	fail "--check-config did not print FILE:LINE:COL: pointing at line 3"
pass "--check-config refuses a bad file with exit 2 and FILE:3:COL"

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
ports:
  - name: one
    type: tap
    ifname: $t1
  - name: two
    type: tap
    ifname: $t2
EOF
check "--check-config accepts the test config" "$VSWITCHD" --check-config -c "$work/vswitchd.yaml"
[ ! -e "$run/vswitchd.sock" ] || fail "--check-config created the control socket"

# --- start and wire the namespaces --------------------------------------------
hugepages_snapshot
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

for t in "$t1" "$t2"; do
	ip link show "$t" >/dev/null 2>&1 || fail "TAP device $t not created"
done
# With enough 2 MiB pages reserved (scripts/test.sh reserves them) the
# default memory config must really use them, or the final check proves nothing.
if [ "$HP_FREE0" -ge 128 ]; then
	vs_huge=$(awk '/^(Shared|Private)_Hugetlb:/ { s += $2 } END { print s / 2048 }' "/proc/$VS_PID/smaps_rollup")
	[ "${vs_huge%.*}" -gt 0 ] || fail "vswitchd maps no hugepages although $HP_FREE0 are free"
	pass "vswitchd maps $vs_huge hugepages"
fi
vs_netns_tap "$ns1" "$t1" 10.99.0.1/24
vs_netns_tap "$ns2" "$t2" 10.99.0.2/24
pass "TAPs in $ns1 (10.99.0.1) and $ns2 (10.99.0.2)"

# The first reply may take a moment while the links come up.
deadline=$((SECONDS + 10))
until nsping "$ns1" -c 1 -W 1 10.99.0.2 >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply $ns1 -> $ns2 within 10 s"
done

# --- ping both ways -----------------------------------------------------------
for dir in "$ns1 10.99.0.2" "$ns2 10.99.0.1"; do
	read -r ns peer <<<"$dir"
	ip netns exec "$ns" timeout 30 busybox ping -c 20 -i 0.05 -W 2 "$peer" >"$work/ping.out" 2>&1 || true
	read -r sent recv <<<"$(ping_counts "$work/ping.out")"
	[ "${sent:-0}" -eq 20 ] && [ "${recv:-0}" -eq 20 ] ||
		{ cat "$work/ping.out"; fail "ping $ns -> $peer: sent=${sent:-?} received=${recv:-?}, expected 20/20"; }
	pass "ping $ns -> $peer: 20/20, $(sed -n 's/^round-trip //p' "$work/ping.out")"
done

# An adaptive poller (the default) napped between the pings' frames, then slept:
# a light load must not keep it spinning.
read -r nap_max naps sleeps <<<"$(vs_ctl --json pollers | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["max_nap_us"], sum(p["naps"] for p in d["pollers"]), sum(p["sleeps"] for p in d["pollers"]))')"
[ "$nap_max" = 250 ] || fail "pollers reports max_nap_us $nap_max, expected the default 250"
[ "$naps" -gt 0 ] && [ "$sleeps" -gt 0 ] ||
	fail "after 40 pings 50 ms apart the poller napped $naps and slept $sleeps times; expected both > 0"
pass "adaptive poller between pings: $naps naps, $sleeps sleeps (max_nap_us $nap_max)"

# The poller thread carries its name (ps -L, top -H, perf tell it apart).
grep -qx vs-poller0 /proc/"$VS_PID"/task/*/comm ||
	fail "no thread of vswitchd (pid $VS_PID) is named vs-poller0: $(cat /proc/"$VS_PID"/task/*/comm | tr '\n' ' ')"
pass "the poller thread is named vs-poller0"

# --- iperf3 -----------------------------------------------------------------
ip netns exec "$ns2" iperf3 -s -1 -B 10.99.0.2 >"$work/iperf-server.out" 2>&1 &
VS_BG_PIDS+=($!)
deadline=$((SECONDS + 10))
until ip netns exec "$ns2" ss -ltn 2>/dev/null | grep -q '10.99.0.2:5201'; do
	[ $SECONDS -lt $deadline ] || fail "iperf3 server did not start"
	sleep 0.1
done
if ! ip netns exec "$ns1" timeout 60 iperf3 -c 10.99.0.2 -t 3 -f m >"$work/iperf.out" 2>&1; then
	cat "$work/iperf.out"
	fail "iperf3 client failed"
fi
mbps=$(awk '/receiver$/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' "$work/iperf.out" | tail -n1)
[ -n "$mbps" ] || { cat "$work/iperf.out"; fail "no receiver throughput in the iperf3 output"; }
awk -v m="$mbps" 'BEGIN { exit !(m > 0) }' || fail "iperf3 throughput is $mbps Mbit/s"
pass "iperf3 $ns1 -> $ns2: $mbps Mbit/s"
say "THROUGHPUT tap-tap iperf3 $mbps Mbit/s"

# --- add and remove a port under a running ping --------------------------------
nsping "$ns1" -c 200 -i 0.05 -W 2 10.99.0.2 >"$work/long-ping.out" 2>&1 &
long_ping=$!
VS_BG_PIDS+=("$long_ping")
sleep 2
vs_ctl add-port third tap ifname="$t3" || fail "add-port third tap ifname=$t3 failed"
ip link show "$t3" >/dev/null 2>&1 || fail "add-port did not create $t3"
vs_ctl list-ports >"$work/ports.out" || fail "list-ports failed"
grep -q third "$work/ports.out" || { cat "$work/ports.out"; fail "list-ports does not show port third"; }
pass "add-port third while pinging"
sleep 2
vs_ctl del-port third || fail "del-port third failed"
sleep 0.5
! ip link show "$t3" >/dev/null 2>&1 || fail "del-port left $t3 behind"
pass "del-port third while pinging"
wait "$long_ping" || true
read -r sent recv <<<"$(ping_counts "$work/long-ping.out")"
[ "${sent:-0}" -eq 200 ] && [ "${recv:-0}" -eq 200 ] ||
	{ tail -n 5 "$work/long-ping.out"; fail "ping during add/del-port: sent=${sent:-?} received=${recv:-?}, expected 200/200"; }
pass "no ping lost during add-port/del-port (200/200)"

# --- errors ---------------------------------------------------------------------
set +e
vs_ctl del-port nosuch >"$work/err.out" 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || { cat "$work/err.out"; fail "del-port nosuch exited $rc, expected 1"; }
[ -s "$work/err.out" ] || fail "del-port nosuch printed no error message"
pass "del-port nosuch: exit 1, '$(head -n1 "$work/err.out")'"
vs_ctl version >/dev/null || fail "vswitchd does not answer after a refused request"
pass "vswitchd still answers"

# --- shutdown -----------------------------------------------------------------
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
pass "SIGTERM: exit code 0"
[ ! -e "$VS_SOCK" ] || fail "control socket $VS_SOCK left behind"
pass "control socket removed"
left=$( { ip -o link show; ip -n "$ns1" -o link show; ip -n "$ns2" -o link show; } 2>/dev/null |
	grep -E "vs-t[0-9]-$sfx" || true)
[ -z "$left" ] || fail "TAP devices left after exit: $left"
pass "no TAP device left (host, $ns1, $ns2)"
hugepages_check_returned
say "PASS in $((SECONDS - VS_T0))s"
