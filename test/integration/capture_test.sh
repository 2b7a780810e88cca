#!/usr/bin/env bash
# vswitchctl capture on TAP ports in namespaces: frames with known bytes sent
# from one namespace come back from `tcpdump -r` and tshark with the same bytes,
# count and direction (rx on the ingress port and tx on the egress port, three
# captures at once); dropped frames carry their reason; -c ends a capture by
# itself; a client killed mid-capture ends its capture in the daemon; a reader
# too slow loses frames that are counted, and captured + lost is exactly what
# the port received.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd tcpdump tshark python3 timeout

sfx=$$
ns1=vs-capn1-$sfx
ns2=vs-capn2-$sfx
t1=vs-capt1-$sfx
t2=vs-capt2-$sfx
run=/run/vswitch-capture-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-capture.XXXXXX")
bg_pids=()

cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
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
# Not the vs_ctl function: $! must be vswitchctl itself, which gets the signals.
ctl=("$VSWITCHCTL" -s "$VS_SOCK")

# Quiet namespaces: no IPv6 (router and neighbour solicitations), nothing but
# the test's frames crosses the switch.
for n in 1 2; do
	ns=vs-capn$n-$sfx
	t=vs-capt$n-$sfx
	ip netns add "$ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip link set "$t" netns "$ns"
	ip -n "$ns" link set "$t" up
done
mac1=$(ip -n "$ns1" -o link show "$t1" | sed -nE 's/.*link\/ether ([0-9a-f:]+).*/\1/p')
mac2=$(ip -n "$ns2" -o link show "$t2" | sed -nE 's/.*link\/ether ([0-9a-f:]+).*/\1/p')
[ -n "$mac1" ] && [ -n "$mac2" ] || fail "cannot read the TAP devices' MAC addresses"

# send.py IFNAME COUNT SRC DST: COUNT frames of 114 bytes, ethertype 0x88b5,
# payload: 2-byte sequence number then 0x5a bytes. frames.py prints the same
# frames as hex, one per line.
cat >"$work/send.py" <<'EOF'
import socket, sys
ifname, count, src, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def frame(i):
    return (bytes.fromhex(dst.replace(':', '')) + bytes.fromhex(src.replace(':', '')) +
            b'\x88\xb5' + (i & 0xffff).to_bytes(2, 'big') + b'\x5a' * 98)
if ifname == '-':
    for i in range(count):
        print(frame(i).hex())
    sys.exit(0)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for i in range(count):
    while True:
        try:
            s.send(frame(i))
            break
        except OSError:
            pass
EOF
# frames FILE: the 0x88b5 frames tcpdump reads from FILE, as hex, one per line.
frames() {
	tcpdump -nn -xx -r "$1" 2>/dev/null | python3 -c '
import sys
frames, cur = [], None
for line in sys.stdin:
    if line.startswith("\t0x"):
        cur += "".join(line.split(":", 1)[1].split())
    else:
        if cur is not None:
            frames.append(cur)
        cur = ""
if cur:
    frames.append(cur)
for f in frames:
    if f[24:28] == "88b5":
        print(f)
'
}
send() { ip netns exec "$ns1" python3 "$work/send.py" "$t1" "$@"; }
# stop_capture PID: Ctrl-C, then it must exit by itself within 10 s.
stop_capture() {
	kill -INT "$1"
	timeout 10 tail --pid="$1" -f /dev/null || fail "capture $1 did not end after SIGINT"
	wait "$1" || fail "capture $1 exited with $?"
}
wait_captures() { # N: until the daemon runs N captures
	local i
	for i in $(seq 50); do
		[ "$(vs_ctl --json captures | grep -c '"port"')" -eq "$1" ] && return 0
		sleep 0.1
	done
	fail "the daemon does not run $1 captures: $(vs_ctl captures)"
}

# Let the switch learn both stations, so the test frames go to port two only.
send 1 "$mac1" "$mac2" >/dev/null
ip netns exec "$ns2" python3 "$work/send.py" "$t2" 1 "$mac2" "$mac1"
sleep 0.5

# --- three captures at once: bytes, count, direction ---------------------------
"${ctl[@]}" capture one --rx -w "$work/rx.pcapng" 2>"$work/rx.err" &
p_rx=$!
"${ctl[@]}" capture two --tx -w "$work/tx.pcapng" 2>"$work/tx.err" &
p_tx=$!
"${ctl[@]}" capture one -w - 2>"$work/all.err" | tcpdump -nn -r - -w "$work/all.pcap" 2>/dev/null &
p_all=$!
bg_pids+=("$p_rx" "$p_tx")
wait_captures 3
send 40 "$mac1" "$mac2"
python3 "$work/send.py" - 40 "$mac1" "$mac2" >"$work/expected.hex"
sleep 1
stop_capture "$p_rx"
stop_capture "$p_tx"
kill -INT "$(pgrep -f "capture one -w -" | head -n1)"
wait "$p_all" || true
cat "$work/rx.err" "$work/tx.err"

frames "$work/rx.pcapng" >"$work/rx.hex"
frames "$work/tx.pcapng" >"$work/tx.hex"
cmp -s "$work/expected.hex" "$work/rx.hex" || {
	diff "$work/expected.hex" "$work/rx.hex" | head
	fail "tcpdump -r of the rx capture does not give the 40 frames sent, byte for byte"
}
pass "tcpdump -r: the rx capture on one holds the 40 frames sent, same bytes, same order"
cmp -s "$work/expected.hex" "$work/tx.hex" || fail "tcpdump -r of the tx capture on two differs"
pass "tcpdump -r: the tx capture on two holds the same 40 frames"
frames "$work/all.pcap" >"$work/all.hex"
cmp -s "$work/expected.hex" "$work/all.hex" ||
	fail "the capture of all of one's directions, piped into tcpdump -r -: $(wc -l <"$work/all.hex") test frames, expected the 40 sent"
pass "a third capture at the same time, piped into tcpdump -r -, saw them too"
grep -q "^40 frames captured (one:rx 40), 0 lost" "$work/rx.err" || fail "rx summary: $(cat "$work/rx.err")"
pass "vswitchctl reports 40 frames captured, 0 lost"

# tshark: interface names, directions (epb_flags), no frame of another kind.
tshark -r "$work/rx.pcapng" -Y "eth.type == 0x88b5" \
	-T fields -e frame.interface_name -e frame.packet_flags_direction -e frame.len \
	2>/dev/null | sort | uniq -c >"$work/rx.tshark"
grep -qE '^ +40 one:rx\s+(1|0x0*1)\s+114$' "$work/rx.tshark" || {
	cat "$work/rx.tshark"
	fail "tshark does not see 40 inbound 114-byte frames on interface one:rx"
}
tshark -r "$work/tx.pcapng" -Y "eth.type == 0x88b5" \
	-T fields -e frame.interface_name -e frame.packet_flags_direction -e frame.len \
	2>/dev/null | sort | uniq -c >"$work/tx.tshark"
grep -qE '^ +40 two:tx\s+(2|0x0*2)\s+114$' "$work/tx.tshark" || {
	cat "$work/tx.tshark"
	fail "tshark does not see 40 outbound 114-byte frames on interface two:tx"
}
pass "tshark: interface one:rx inbound, two:tx outbound, 40 frames of 114 bytes each"

# --- drops with their reason --------------------------------------------------
"${ctl[@]}" capture one --drops -w "$work/drops.pcapng" 2>/dev/null &
p_drops=$!
bg_pids+=("$p_drops")
wait_captures 1
send 3 03:00:00:00:00:01 "$mac2"  # a group source address: bad_source_mac
send 2 02:00:00:00:00:07 "$mac1"  # to a station on the ingress port: filtered
sleep 0.5
stop_capture "$p_drops"
tshark -r "$work/drops.pcapng" -T fields -e frame.interface_name -e frame.comment \
	2>/dev/null | sort | uniq -c >"$work/drops.tshark"
cat "$work/drops.tshark"
grep -qE '^ +3 one:drops\s+drop: bad_source_mac \(ingress\)$' "$work/drops.tshark" ||
	fail "3 drops with reason bad_source_mac expected"
grep -qE '^ +2 one:drops\s+drop: filtered \(ingress\)$' "$work/drops.tshark" ||
	fail "2 drops with reason filtered expected"
[ "$(wc -l <"$work/drops.tshark")" -eq 2 ] || fail "frames other than the 5 drops in the drops capture"
pass "dropped frames come with their reason (bad_source_mac, filtered) on one:drops"

# --- -c COUNT ends the capture by itself ----------------------------------------
"${ctl[@]}" capture one --rx -c 5 -w "$work/count.pcapng" 2>/dev/null &
p_count=$!
bg_pids+=("$p_count")
wait_captures 1
send 20 "$mac1" "$mac2"
timeout 10 tail --pid="$p_count" -f /dev/null || fail "capture -c 5 did not end by itself"
wait "$p_count" || fail "capture -c 5 exited with $?"
[ "$(frames "$work/count.pcapng" | wc -l)" -eq 5 ] || fail "capture -c 5 wrote $(frames "$work/count.pcapng" | wc -l) frames"
pass "capture -c 5 ends by itself with 5 frames"

# --- the client going away ends the capture -------------------------------------
"${ctl[@]}" capture one -w "$work/gone.pcapng" 2>/dev/null &
p_gone=$!
wait_captures 1
kill -KILL "$p_gone"
wait "$p_gone" 2>/dev/null || true
wait_captures 0
grep -q "capture on one: ended" "$VS_LOG" || fail "no 'capture on one: ended' in the log"
pass "a capture client killed with SIGKILL ends its capture in the daemon"

# --- a slow reader loses frames, counted exactly --------------------------------
rx_before=$(vs_ctl --json show one | sed -nE 's/^ *"rx_packets": ([0-9]+).*/\1/p' | head -n1)
mkfifo "$work/slow"
"${ctl[@]}" capture one --rx -w "$work/slow" 2>"$work/slow.err" &
p_slow=$!
bg_pids+=("$p_slow")
exec 7<>"$work/slow" # nobody reads: the pipe, the socket and the rings fill up
wait_captures 1
send 80000 "$mac1" "$mac2"
sleep 0.5
rx_after=$(vs_ctl --json show one | sed -nE 's/^ *"rx_packets": ([0-9]+).*/\1/p' | head -n1)
exec 7<&- 7>&- # the reader goes: vswitchctl's writes fail, it ends the capture
timeout 10 tail --pid="$p_slow" -f /dev/null || fail "capture did not end when its reader went"
wait "$p_slow" || fail "the slow capture exited with $?"
cat "$work/slow.err"
read -r captured lost < <(sed -nE 's/^([0-9]+) frames captured .*, ([0-9]+) lost.*/\1 \2/p' "$work/slow.err")
[ -n "${captured:-}" ] || fail "no summary from the slow capture"
[ "$lost" -gt 0 ] || fail "no frame lost with a reader that never read ($captured captured)"
[ $((captured + lost)) -eq $((rx_after - rx_before)) ] ||
	fail "captured $captured + lost $lost != $((rx_after - rx_before)) frames received on one"
pass "a reader that never reads: $captured captured + $lost lost = $((rx_after - rx_before)) received"
[ "$(vs_ctl --json show two | grep -c '"tx_packets"')" -ge 1 ] || fail "show two failed after the captures"

# --- errors ----------------------------------------------------------------------
if out=$(vs_ctl capture nosuch -w "$work/x.pcapng" 2>&1); then
	fail "capture of a missing port succeeded"
fi
printf '%s\n' "$out" | grep -q "no port named 'nosuch'" || fail "missing port: $out"
pass "capture of a missing port: $out"

vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
pass "vswitchd stopped cleanly"
