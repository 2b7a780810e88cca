#!/usr/bin/env bash
# Two tenants' vhost-user ports, each served by a DPDK testpmd virtio-user
# front-end (A in access VLAN 10, B in access VLAN 20 with allowed_macs), next
# to TAP ports in namespaces (ta in VLAN 10, tb in VLAN 20, a trunk "up"
# carrying both). With IPv6 off and static neighbours nothing else moves, so
# every count is exact:
#   - 64 broadcasts from each front-end reach its own VLAN's namespace and the
#     trunk tagged with its VID (tcpdump), never the other tenant's namespace
#     or front-end;
#   - ta pings A (testpmd icmpecho) 20/20; tb pinging A's MAC gets nothing,
#     its 5 requests flood VLAN 20 only (B counts them, A sees none);
#   - B echoing tb's 50 broadcasts back (testpmd io) claims tb's MAC on a port
#     with allowed_macs: the echoes reach nobody, counted as source_not_allowed;
#   - A echoing 20 frames that still carry a tag (the trunk sent them tagged
#     10 outside 30; va popped only 10) sends tagged frames into an access port:
#     all dropped as tagged_on_access, none reaches anyone.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox timeout tcpdump python3 dpdk-testpmd stdbuf

sfx=$$
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-tenant-vhost.XXXXXX")
VS_CLEANUP_PATHS+=("$work")
frames=$(dirname "$0")/tenant_frames.py
MAC_A=02:00:00:00:1a:01 MAC_B=02:00:00:00:1b:01
declare -A ip=([ta]=10.93.0.1 [tb]=10.93.0.2)
tap() { echo "vs-$1-$sfx"; }
ns() { echo "vs-tvh-$1-$sfx"; }
nsx() {
	local p=$1
	shift
	ip netns exec "$(ns "$p")" "$@"
}

# shellcheck source=testpmd_lib.sh
. "$(dirname "$0")/testpmd_lib.sh"
TP_WORK=$work TP_PREFIX=vs-tvh-$sfx
# testpmd A and B die before vswitchd.
cleanup() {
	local rc=$?
	set +e
	tp_kill_all
	(exit $rc)
	vs_cleanup
}
trap cleanup EXIT

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
  mode: adaptive
memory:
  hugepage_size: none
  buffers: 8192
control:
  socket: $work/vswitchd.sock
ports:
  - {name: va, type: vhost-user, path: $work/a.sock, vlan_mode: access, tag: 10}
  - {name: vb, type: vhost-user, path: $work/b.sock, vlan_mode: access, tag: 20, allowed_macs: [$MAC_B]}
  - {name: ta, type: tap, ifname: $(tap ta), vlan_mode: access, tag: 10}
  - {name: tb, type: tap, ifname: $(tap tb), vlan_mode: access, tag: 20}
  - {name: up, type: tap, ifname: $(tap up), vlan_mode: trunk, trunks: [10, 20]}
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"
vs_netns_tap --no-ipv6 "$(ns ta)" "$(tap ta)" "${ip[ta]}/24"
vs_netns_tap --no-ipv6 "$(ns tb)" "$(tap tb)" "${ip[tb]}/24"
vs_netns_tap --no-ipv6 "$(ns up)" "$(tap up)"

# --- testpmd front-ends: commands through a FIFO (-i), on the other lcore each ---
tp_launch A 0 "net_virtio_user0,path=$work/a.sock,queues=1,mac=$MAC_A" --eth-peer=0,ff:ff:ff:ff:ff:ff
tp_launch B 1 "net_virtio_user0,path=$work/b.sock,queues=1,mac=$MAC_B" --eth-peer=0,ff:ff:ff:ff:ff:ff
for n in A B; do
	tp_ready $n
	tp_cmd $n "set fwd rxonly" "start"
done
for p in va vb; do
	deadline=$((SECONDS + 30))
	until vs_ctl --json show $p | grep -q '"link": "up"'; do
		[ $SECONDS -lt $deadline ] || fail "vhost-user port $p not up within 30 s"
		sleep 0.2
	done
done
pass "testpmd A on va (access 10), B on vb (access 20)"

# --- captures: tcpdump -Q in on the namespaces' TAPs, stopped once the switch is done -
cap_pids=()
capture() { # PORT FILTER...
	local p=$1 f=$work/$1.pcap deadline=$((SECONDS + 5))
	shift
	rm -f "$f" "$f.err"
	ip netns exec "$(ns "$p")" tcpdump -Q in -i "$(tap "$p")" -nn -U -w "$f" "$@" 2>"$f.err" &
	cap_pids+=($!)
	until grep -q "listening on" "$f.err" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "tcpdump on $p did not start"
		sleep 0.05
	done
}
capture_stop() {
	sleep 0.3
	kill -TERM "${cap_pids[@]}" 2>/dev/null
	wait "${cap_pids[@]}" 2>/dev/null || true
	cap_pids=()
}
# seen PORT [GREP-PATTERN]: frames in PORT's capture (matching the pattern).
# (Lines that start with a timestamp: tcpdump hex-dumps unknown ethertypes.)
seen() { tcpdump -r "$work/$1.pcap" -e -nn 2>/dev/null | grep '^[0-9]' | grep -ci -- "${2:-.}" || true; }
counter() { vs_ctl --json show "$1" | python3 -c "import json,sys; c=json.load(sys.stdin)['counters']; print(c$2)"; }
# wait_counter PORT PYTHON-INDEX WANT: the switch's counter reaches WANT within 10 s.
wait_counter() {
	local v deadline=$((SECONDS + 10))
	until v=$(counter "$1" "$2") && [ "$v" -ge "$3" ]; do
		[ $SECONDS -lt $deadline ] || fail "port $1: counter $2 is $v, expected $3"
		sleep 0.1
	done
	sleep 0.3
	v=$(counter "$1" "$2")
	[ "$v" -eq "$3" ] || fail "port $1: counter $2 is $v, expected exactly $3"
}

# --- each front-end reaches its own VLAN only, the trunk tags it ----------------------
for p in ta tb up; do
	capture $p ether src $MAC_A or ether src $MAC_B
done
up0=$(counter up "['tx_packets']")
tp_cmd A "stop" "start tx_first 2"
tp_cmd B "stop" "start tx_first 2"
wait_counter up "['tx_packets']" $((up0 + 128))
capture_stop
read -r a_rx a_tx <<<"$(tp_stats A)"
read -r b_rx b_tx <<<"$(tp_stats B)"
[ "$a_tx" = 64 ] && [ "$b_tx" = 64 ] || fail "testpmd sent $a_tx (A) and $b_tx (B) frames, expected 64 each"
[ "$a_rx" = 0 ] && [ "$b_rx" = 0 ] || fail "the tenants' front-ends received frames: A $a_rx, B $b_rx"
got="ta: $(seen ta $MAC_A)/$(seen ta $MAC_B) tb: $(seen tb $MAC_A)/$(seen tb $MAC_B)"
[ "$got" = "ta: 64/0 tb: 0/64" ] || fail "frames from A/B at each tenant's namespace: $got, expected ta: 64/0 tb: 0/64"
t10=$(seen up "$MAC_A > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 68: vlan 10,")
t20=$(seen up "$MAC_B > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length 68: vlan 20,")
[ "$t10" = 64 ] && [ "$t20" = 64 ] && [ "$(seen up)" = 128 ] ||
	{ tcpdump -r "$work/up.pcap" -e -nn | head; fail "trunk: $t10 from A tagged 10, $t20 from B tagged 20 (want 64 each) of $(seen up)"; }
pass "64 broadcasts from each front-end: its own namespace only (ta 64/0, tb 0/64), the trunk 64 tagged 10 from A and 64 tagged 20 from B"

# --- pings: ta reaches A, tb does not --------------------------------------------------
for p in ta tb; do
	ip -n "$(ns $p)" neigh replace 10.93.0.9 lladdr $MAC_A dev "$(tap $p)" nud permanent
done
tp_cmd A "stop" "set fwd icmpecho" "start"
va_tx0=$(counter va "['tx_packets']")
nsx ta timeout 20 busybox ping -c 20 -i 0.05 -W 1 10.93.0.9 >"$work/ping.out" 2>&1 || true
read -r s r <<<"$(ping_counts "$work/ping.out")"
[ "$s" = 20 ] && [ "$r" = 20 ] || { cat "$work/ping.out"; fail "ping ta -> A (VLAN 10): $r/$s"; }
nsx tb timeout 20 busybox ping -c 5 -i 0.05 -W 1 10.93.0.9 >"$work/ping.out" 2>&1 || true
read -r s r <<<"$(ping_counts "$work/ping.out")"
[ "$s" = 5 ] && [ "${r:-0}" = 0 ] || { cat "$work/ping.out"; fail "ping tb -> A's MAC (VLAN 20): $r/$s answered"; }
read -r b_rx b_tx <<<"$(tp_stats B)"
[ "$b_rx" = 5 ] || fail "B received $b_rx of tb's 5 requests to an address unknown in VLAN 20"
[ $(($(counter va "['tx_packets']") - va_tx0)) = 20 ] || fail "va sent $(($(counter va "['tx_packets']") - va_tx0)) frames to A, expected ta's 20"
pass "ping ta -> A 20/20; tb -> A's MAC 0/5, its 5 requests flooded to B only"

# --- a spoofed source from B ------------------------------------------------------------
for p in ta tb up; do
	capture $p ether proto 0x88b5
done
spoof0=$(counter vb "['drops']['source_not_allowed']")
tp_cmd B "stop" "set fwd io" "start"
mac_tb=$(ip -n "$(ns tb)" -br link show "$(tap tb)" | awk '{print $3}')
nsx tb python3 "$frames" send "$(tap tb)" ff:ff:ff:ff:ff:ff "$mac_tb" - 50
wait_counter vb "['drops']['source_not_allowed']" $((spoof0 + 50))
capture_stop
read -r b_rx2 b_tx2 <<<"$(tp_stats B)"
[ $((b_rx2 - b_rx)) = 50 ] && [ $((b_tx2 - b_tx)) = 50 ] ||
	fail "B received $((b_rx2 - b_rx)) and echoed $((b_tx2 - b_tx)) of tb's 50 broadcasts"
got="ta $(seen ta) tb $(seen tb) up $(seen up "vlan 20,")/$(seen up)"
[ "$got" = "ta 0 tb 0 up 50/50" ] ||
	fail "tb's 50 broadcasts and B's 50 echoes with tb's MAC: $got, expected ta 0 tb 0 up 50/50 (the originals)"
pass "B echoing tb's 50 broadcasts with tb's MAC: 50 source_not_allowed, the echoes reach nobody (trunk: only tb's 50)"

# --- tagged frames from a front-end into an access port ----------------------------------
mac_up=$(ip -n "$(ns up)" -br link show "$(tap up)" | awk '{print $3}')
for p in ta tb up; do
	capture $p ether src "$mac_up"
done
tagged0=$(counter va "['drops']['tagged_on_access']")
tp_cmd A "stop" "set fwd io" "start"
read -r a_rx a_tx <<<"$(tp_stats A)"
nsx up python3 "$frames" send "$(tap up)" ff:ff:ff:ff:ff:ff "$mac_up" 10.30 20
wait_counter va "['drops']['tagged_on_access']" $((tagged0 + 20))
capture_stop
read -r a_rx2 a_tx2 <<<"$(tp_stats A)"
[ $((a_rx2 - a_rx)) = 20 ] && [ $((a_tx2 - a_tx)) = 20 ] ||
	fail "A received $((a_rx2 - a_rx)) and echoed $((a_tx2 - a_tx)) of the trunk's 20 frames"
got="ta $(seen ta "length 68: vlan 30,")/$(seen ta) tb $(seen tb) up $(seen up)"
[ "$got" = "ta 20/20 tb 0 up 0" ] ||
	fail "the trunk's 20 frames tagged 10 outside 30 and A's 20 echoes: $got, expected ta 20/20 tb 0 up 0 (the originals, inner tag 30)"
pass "A echoing 20 frames tagged 30: 20 tagged_on_access on va, the echoes reach nobody"

tp_stop A
tp_stop B
vs_stop
[ "$VS_RC" = 0 ] || fail "vswitchd exited with $VS_RC"
pass "clean shutdown"
