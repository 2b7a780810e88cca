#!/usr/bin/env bash
# vswitchctl top on an 80x24 terminal (tmux): it starts, the busiest port's
# RX-PPS column moves while a ping flood runs and drops show with their reason;
# q quits with status 0. --once prints one frame that fits 80x24.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd tmux ping python3 timeout

sfx=$$
ns1=vs-topn1-$sfx
ns2=vs-topn2-$sfx
t1=vs-topt1-$sfx
t2=vs-topt2-$sfx
run=/run/vswitch-top-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-top.XXXXXX")
tm=(tmux -L "vs-top-$sfx")
bg_pids=()

cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	"${tm[@]}" kill-server 2>/dev/null || true
	vs_kill
	ip netns del "$ns1" 2>/dev/null || true
	ip netns del "$ns2" 2>/dev/null || true
	ip link del "$t1" 2>/dev/null || true
	ip link del "$t2" 2>/dev/null || true
	rm -rf "$run" "$work"
}
trap cleanup EXIT

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
ports:
  - {name: one, type: tap, ifname: $t1}
  - {name: two, type: tap, ifname: $t2}
EOF
vs_start "$work/vswitchd.yaml"
for n in 1 2; do
	ns=vs-topn$n-$sfx
	t=vs-topt$n-$sfx
	ip netns add "$ns"
	ip link set "$t" netns "$ns"
	ip -n "$ns" addr add "10.98.0.$n/24" dev "$t"
	ip -n "$ns" link set "$t" up
done

# fits FILE: at most 24 lines of at most 80 characters.
fits() {
	[ "$(wc -l <"$1")" -le 24 ] || fail "$(wc -l <"$1") lines in $1"
	[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$1")" -le 80 ] ||
		fail "a line longer than 80 characters in $1"
}
# rx_pps FILE PORT: the RX-PPS column of PORT's row (k and M expanded).
rx_pps() {
	awk -v p="$2" '$1 == p { v = $3; m = 1
		if (v ~ /k$/) m = 1000; if (v ~ /M$/) m = 1000000
		sub(/[kM]$/, "", v); printf "%d\n", v * m; exit }' "$1"
}

# --- --once, idle -------------------------------------------------------------
vs_ctl top --once >"$work/once-idle.txt"
cat "$work/once-idle.txt"
fits "$work/once-idle.txt"
grep -q '^POLLER ' "$work/once-idle.txt" || fail "no poller table"
grep -qE '^0 +1 ' "$work/once-idle.txt" || fail "no row for poller 0 on cpu 1"
grep -qE '^one +tap ' "$work/once-idle.txt" || fail "no row for port one"
grep -qE '^two +tap ' "$work/once-idle.txt" || fail "no row for port two"
pass "top --once: pollers and ports, fits 80x24"

# --- live, under traffic ----------------------------------------------------------
# Frames with a group source address, dropped as bad_source_mac, for 8 s.
cat >"$work/badsrc.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = bytes.fromhex('020000000002' '030000000001' '88b5') + b'\x00' * 50
end = time.time() + 8
while time.time() < end:
    s.send(frame)
    time.sleep(0.005)
EOF
"${tm[@]}" new-session -d -x 80 -y 24 \
	"$VSWITCHCTL -s $VS_SOCK top; echo rc=\$? >$work/top.rc"
ip netns exec "$ns1" ping -q -i 0.002 -w 8 10.98.0.2 >"$work/ping.txt" 2>&1 &
bg_pids+=($!)
ip netns exec "$ns1" python3 "$work/badsrc.py" "$t1" &
bg_pids+=($!)
moved=0 reason=0
for i in $(seq 12); do
	sleep 0.5
	"${tm[@]}" capture-pane -p -t 0 >"$work/pane.txt"
	fits "$work/pane.txt"
	pps=$(rx_pps "$work/pane.txt" one)
	[ "${pps:-0}" -ge 50 ] && moved=$((moved + 1))
	grep -qE '^  drops: .*bad_source_mac [0-9.]+[kM]?/s' "$work/pane.txt" && reason=1
	[ $moved -ge 2 ] && [ $reason -eq 1 ] && break
done
cat "$work/pane.txt"
[ $moved -ge 2 ] || fail "port one's RX-PPS did not show the ping flood in two frames"
grep -q '\[q quits\]' "$work/pane.txt" || fail "no '[q quits]' in the header"
pass "top under traffic: one's RX-PPS shows the flood ($pps/s in the last frame)"
[ $reason -eq 1 ] || fail "no 'drops: ... bad_source_mac N/s' line under port one"
pass "drops per second by reason under the port"

"${tm[@]}" send-keys -t 0 q
for i in $(seq 30); do
	[ -s "$work/top.rc" ] && break
	sleep 0.1
done
[ "$(cat "$work/top.rc" 2>/dev/null)" = "rc=0" ] || fail "top did not quit on q with status 0"
pass "q quits top with status 0"

# --- --once under traffic --------------------------------------------------------
vs_ctl top --once >"$work/once-busy.txt"
cat "$work/once-busy.txt"
fits "$work/once-busy.txt"
[ "$(rx_pps "$work/once-busy.txt" one)" -ge 50 ] || fail "top --once shows no traffic on one"
pass "top --once under traffic shows one's rate"

for p in "${bg_pids[@]}"; do
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
done
bg_pids=()
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
