#!/usr/bin/env bash
# vhost-user ports against DPDK's virtio-user front-end (dpdk-testpmd), no guest:
# two testpmd processes, each with one net_virtio_user port on its own vswitchd
# vhost-user port. For split and packed rings, with 1 and 2 queue pairs, with
# vswitchd as socket server and as client, with front-ends that take
# VIRTIO_F_IN_ORDER (in_order=1, testpmd's cheap path) and that do not
# (in_order=0), and with ports that do not offer it (in_order=false): a known
# number of frames (testpmd tx_first bursts, distinct MACs per side) crosses in
# each direction and the counts must match exactly at the sender, at both
# vswitchd ports, and at the receiver, and IN_ORDER is negotiated exactly when
# both sides want it. Then one testpmd is stopped and started again several times
# (switching in_order each time) and the switch must serve the last with exact
# counts again.
#
# Env: TESTPMD_SCENARIOS: the scenarios to run, by name (default: all; the
#      sanitizer pass of scripts/test.sh runs a few to fit its time budget).
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_root
lab_require_cmd dpdk-testpmd stdbuf python3 timeout

BURSTS=8          # tx_first bursts per stream
BURST=32          # frames per burst
MAC_A=02:00:00:00:0a:01
MAC_B=02:00:00:00:0b:01
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-testpmd.XXXXXX")
# shellcheck source=testpmd_lib.sh
. "$(dirname "$0")/testpmd_lib.sh"
TP_WORK=$work TP_PREFIX=vs-tp-$$
# testpmd's memory: anonymous memfd pages (testpmd_lib.sh's default); one
# scenario below uses hugetlbfs files, as a hugepage-backed guest would.

cleanup() {
	tp_kill_all
	vs_kill
	rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# tp_vhost_launch NAME SOCK QUEUES PACKED(0|1) SERVER(0|1) MAIN_LCORE MAC PEER_MAC IN_ORDER(0|1)
tp_vhost_launch() {
	local n=$1 sock=$2 q=$3 packed=$4 server=$5 lcore=$6 mac=$7 peer=$8 io=$9
	# 1024 descriptors: a whole direction's frames fit in one ring, so a receiver
	# that shares its CPU with the poller never has to drop (counts stay exact).
	local vdev="net_virtio_user0,path=$sock,queues=$q,queue_size=1024,mac=$mac,in_order=$io"
	[ "$packed" = 1 ] && vdev+=",packed_vq=1"
	[ "$server" = 1 ] && vdev+=",server=1"
	tp_launch "$n" "$lcore" "$vdev" --rxq="$q" --txq="$q" --rxd=1024 --txd=1024 --eth-peer=0,"$peer"
}

tp_vhost_start() {
	tp_vhost_launch "$@"
	tp_ready "$1"
}

# --- vswitchd helpers -------------------------------------------------------------
# Every python3 or vswitchctl start costs seconds on a loaded 2-core machine: one
# python3 reads both ports' `show` per check, and link waits read vswitchctl alone.

wait_link() {
	local p=$1 want=$2 deadline=$((SECONDS + 30))
	until vs_ctl --json show "$p" | grep -q "^  \"link\": \"$want\""; do
		[ $SECONDS -lt $deadline ] || fail "port $p: link not $want within 30 s"
		sleep 0.2
	done
}

dump() {
	vs_ctl show vm1 || true
	vs_ctl show vm2 || true
}

# wait_rx NAME EXPECTED: the receiver's RX count reaches EXPECTED and stays there.
wait_rx() {
	local n=$1 want=$2 rx tx deadline=$((SECONDS + 20))
	while :; do
		read -r rx tx <<<"$(tp_stats "$n")"
		[ "$rx" -ge "$want" ] && break
		[ $SECONDS -lt $deadline ] || { dump; fail "testpmd $n received $rx frames, expected $want"; }
		sleep 0.3
	done
	sleep 0.5
	read -r rx tx <<<"$(tp_stats "$n")"
	[ "$rx" -eq "$want" ] || { dump; fail "testpmd $n received $rx frames, expected exactly $want"; }
}

# send FROM TO EXPECTED_TOTAL: FROM sends BURSTS bursts per stream; exact counts at
# the sender, the receiver and (cumulative, given as arguments) vswitchd.
send() {
	local from=$1 to=$2 want=$3 rx0 tx0 rx1 tx1 trx0 ttx0
	read -r rx0 tx0 <<<"$(tp_stats "$from")"
	read -r trx0 ttx0 <<<"$(tp_stats "$to")"
	tp_cmd "$from" "stop"
	tp_cmd "$from" "start tx_first $BURSTS"
	wait_rx "$to" $((trx0 + want))
	read -r rx1 tx1 <<<"$(tp_stats "$from")"
	[ $((tx1 - tx0)) -eq "$want" ] || fail "testpmd $from sent $((tx1 - tx0)) frames, expected $want"
	pass "$from -> $to: $want frames sent, $want received"
}

# check_ports "RX1 TX1 RING IN_ORDER RXQ_PACKETS" "RX2 TX2 RING IN_ORDER RXQ_PACKETS":
# vswitchd's view of vm1 and vm2 (frame counters, ring layout, whether IN_ORDER
# was negotiated, packets per rx queue) must be exactly that, with no vhost-user
# message refused. Leaves vm2's connection count in VM2_CONNECTS.
check_ports() {
	local got
	got=$(python3 - "$VSWITCHCTL" "$VS_SOCK" <<-'EOF'
		import json, subprocess, sys
		for p in ("vm1", "vm2"):
		    out = subprocess.run([sys.argv[1], "-s", sys.argv[2], "--json", "show", p],
		                         check=True, capture_output=True, text=True).stdout
		    j = json.loads(out)
		    d = j["details"]
		    rxq = ",".join(str(q["packets"]) for q in d["queues"] if q["direction"] == "rx")
		    print(j["counters"]["rx_packets"], j["counters"]["tx_packets"], d["queues"][0]["ring"],
		          int("IN_ORDER" in d["features"]), rxq, sum(d["message_errors"].values()),
		          d["connects"])
		EOF
	) || fail "cannot read the ports' show"
	local l1 l2
	{ read -r l1; read -r l2; } <<<"$got"
	[ "${l1% * *}" = "$1" ] || { dump; fail "vm1: vswitchd shows '${l1% * *}', expected '$1' (rx tx ring in_order rxq)"; }
	[ "${l2% * *}" = "$2" ] || { dump; fail "vm2: vswitchd shows '${l2% * *}', expected '$2' (rx tx ring in_order rxq)"; }
	[ "$(echo "$l1" | cut -d' ' -f6)" = 0 ] || fail "vm1 refused vhost-user messages: $l1"
	[ "$(echo "$l2" | cut -d' ' -f6)" = 0 ] || fail "vm2 refused vhost-user messages: $l2"
	VM2_CONNECTS=${l2##* }
	pass "vswitchd: vm1 $1, vm2 $2 (rx tx ring in_order rxq)"
}

# --- the switch -------------------------------------------------------------------

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
  mode: adaptive
memory:
  hugepage_size: none
  buffers: 8192
control:
  socket: $work/ctl.sock
log:
  level: info
ports: []
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

# scenario NAME QUEUES PACKED MODE(server|client) RESTARTS TP_IN_ORDER(0|1) VS_IN_ORDER(true|false)
# Restarts of testpmd B switch its in_order each time.
scenario() {
	local name=$1 q=$2 packed=$3 mode=$4 restarts=$5 tpio=$6 vsio=$7 tps=0 want
	if [ -n "${TESTPMD_SCENARIOS:-}" ] && [[ " $TESTPMD_SCENARIOS " != *" $name "* ]]; then
		return 0
	fi
	SCENARIOS_RUN=$((SCENARIOS_RUN + 1))
	local io_want=0
	[ "$mode" = client ] && tps=1
	[ "$tpio" = 1 ] && [ "$vsio" = true ] && io_want=1
	say "--- $name: $q queue pair(s), $([ "$packed" = 1 ] && echo packed || echo split) rings, vswitchd $mode, testpmd in_order=$tpio, port in_order=$vsio"
	if [ "$mode" = client ]; then
		# testpmd listens; vswitchd connects (and keeps retrying until it can).
		tp_vhost_launch A "$work/a.sock" "$q" "$packed" 1 0 $MAC_A $MAC_B "$tpio"
		tp_vhost_launch B "$work/b.sock" "$q" "$packed" 1 1 $MAC_B $MAC_A "$tpio"
		vs_ctl add-port vm1 vhost-user path="$work/a.sock" mode=client queues="$q" in_order="$vsio" >/dev/null
		vs_ctl add-port vm2 vhost-user path="$work/b.sock" mode=client queues="$q" in_order="$vsio" >/dev/null
		tp_ready A
		tp_ready B
	else
		vs_ctl add-port vm1 vhost-user path="$work/a.sock" queues="$q" in_order="$vsio" >/dev/null
		vs_ctl add-port vm2 vhost-user path="$work/b.sock" queues="$q" in_order="$vsio" >/dev/null
		tp_vhost_start A "$work/a.sock" "$q" "$packed" 0 0 $MAC_A $MAC_B "$tpio"
		tp_vhost_start B "$work/b.sock" "$q" "$packed" 0 1 $MAC_B $MAC_A "$tpio"
	fi
	wait_link vm1 up
	wait_link vm2 up
	for n in A B; do
		tp_cmd $n "set fwd rxonly"
		tp_cmd $n "set burst $BURST"
		tp_cmd $n "start"
	done
	# Each rx queue of vm1 carries its share: the second queue pair is real.
	local ring per rxq
	ring=$([ "$packed" = 1 ] && echo packed || echo split)
	per=$((BURSTS * BURST))
	rxq=$(for _ in $(seq "$q"); do printf '%s,' $per; done)
	rxq=${rxq%,}
	want=$((per * q))
	send A B $want
	send B A $want
	check_ports "$want $want $ring $io_want $rxq" "$want $want $ring $io_want $rxq"

	if [ "$restarts" -gt 0 ]; then
		local c0=$VM2_CONNECTS rxq2
		for _ in $(seq "$restarts"); do
			tp_stop B
			wait_link vm2 down
			tpio=$((1 - tpio))
			tp_vhost_launch B "$work/b.sock" "$q" "$packed" $tps 1 $MAC_B $MAC_A "$tpio"
			tp_ready B
			wait_link vm2 up
		done
		tp_cmd B "set fwd rxonly"
		tp_cmd B "set burst $BURST"
		tp_cmd B "start"
		send A B $want
		local io2=0
		[ "$tpio" = 1 ] && [ "$vsio" = true ] && io2=1
		rxq2=$(for _ in $(seq "$q"); do printf '%s,' $((2 * per)); done)
		check_ports "$((2 * want)) $want $ring $io_want ${rxq2%,}" "$want $((2 * want)) $ring $io2 $rxq"
		[ $((VM2_CONNECTS - c0)) -eq "$restarts" ] ||
			fail "vm2: $((VM2_CONNECTS - c0)) new connections, expected $restarts"
		pass "testpmd B restarted $restarts times (in_order switched each time); vswitchd saw $restarts new connections"
	fi

	tp_stop A
	tp_stop B
	vs_ctl del-port vm1 >/dev/null
	vs_ctl del-port vm2 >/dev/null
	if [ "$mode" = server ]; then
		[ ! -e "$work/a.sock" ] || fail "del-port left $work/a.sock behind"
	fi
	rm -f "$work/a.sock" "$work/b.sock"
	tp_remove_files
}

SCENARIOS_RUN=0
# Split and packed rings each with an in-order and a plain front-end.
scenario split-1q 1 0 server 0 1 true
scenario packed-1q 1 1 server 0 1 true
scenario split-2q 2 0 server 0 0 true
scenario packed-2q 2 1 server 0 0 true
# vswitchd connects to testpmd, and reconnects whenever testpmd comes back.
scenario client-packed-2q 2 1 client 2 1 true
# Front-end memory in hugetlbfs files (mapped at 2 MiB granularity), when the
# machine has the pages to spare (2 x 256 MiB).
hp_before=$(hugepages_free)
if [ "$hp_before" -ge 300 ]; then
	TP_MEM="-m 256"
	scenario hugepages-packed-1q 1 1 server 0 1 true
	TP_MEM="--no-huge -m 512"
	[ "$(hugepages_free)" -eq "$hp_before" ] ||
		fail "after the hugetlbfs scenario $(hugepages_free) 2 MiB pages are free, $hp_before before: its files were left behind"
	pass "the hugetlbfs scenario gave back all $hp_before free pages"
else
	say "only $(hugepages_free) free 2 MiB hugepages: hugetlbfs scenario left out"
fi
# Restarts of one front-end, on ports that do not offer IN_ORDER: the last is
# served with exact counts.
scenario restart-split-1q 1 0 server 4 1 false

[ "$SCENARIOS_RUN" -gt 0 ] || fail "TESTPMD_SCENARIOS='${TESTPMD_SCENARIOS:-}' names no scenario"
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
pass "vswitchd stopped cleanly"
