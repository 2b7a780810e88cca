#!/usr/bin/env bash
# vhost-user ports against DPDK's virtio-user front-end (dpdk-testpmd), no guest:
# two testpmd processes, each with one net_virtio_user port on its own vswitchd
# vhost-user port. For split and packed rings, with 1 and 2 queue pairs, and with
# vswitchd as socket server and as client: a known number of frames (testpmd
# tx_first bursts, distinct MACs per side) crosses in each direction and the
# counts must match exactly at the sender, at both vswitchd ports, and at the
# receiver. Then one testpmd is stopped and started again ten times and the
# switch must serve the eleventh with exact counts again.
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
declare -A TP_PID=() TP_HOLD=()
# testpmd's memory: anonymous memfd pages by default (no hugepages needed); one
# scenario below uses hugetlbfs files, as a hugepage-backed guest would.
TP_MEM="--no-huge -m 512"

cleanup() {
	local n
	for n in "${!TP_PID[@]}"; do
		kill -KILL "${TP_PID[$n]}" 2>/dev/null || true
	done
	for n in "${!TP_HOLD[@]}"; do
		kill "${TP_HOLD[$n]}" 2>/dev/null || true
	done
	vs_kill
	rm -rf "$work" "/var/run/dpdk/vs-tp-$$-"* 2>/dev/null || true
}
trap cleanup EXIT

# --- testpmd helpers ------------------------------------------------------------

# tp_launch NAME SOCK QUEUES PACKED(0|1) SERVER(0|1) MAIN_LCORE MAC PEER_MAC
tp_launch() {
	local n=$1 sock=$2 q=$3 packed=$4 server=$5 lcore=$6 mac=$7 peer=$8
	# 1024 descriptors: a whole direction's frames fit in one ring, so a receiver
	# that shares its CPU with the poller never has to drop (counts stay exact).
	local vdev="net_virtio_user0,path=$sock,queues=$q,queue_size=1024,mac=$mac"
	[ "$packed" = 1 ] && vdev+=",packed_vq=1"
	[ "$server" = 1 ] && vdev+=",server=1"
	rm -f "$work/$n.in"
	mkfifo "$work/$n.in"
	# Keeps the FIFO open for writing: testpmd exits when its stdin reaches EOF.
	sleep 100000 >"$work/$n.in" &
	TP_HOLD[$n]=$!
	: >"$work/$n.log"
	stdbuf -oL -eL dpdk-testpmd -l 0,1 --main-lcore "$lcore" --file-prefix "vs-tp-$$-$n" \
		--no-pci $TP_MEM --single-file-segments --vdev "$vdev" -- \
		-i --total-num-mbufs=16384 --rxq="$q" --txq="$q" --rxd=1024 --txd=1024 --nb-cores=1 \
		--eth-peer=0,"$peer" <"$work/$n.in" >>"$work/$n.log" 2>&1 &
	TP_PID[$n]=$!
}

# tp_ready NAME: waits for the prompt (with server=1, testpmd waits for vswitchd
# to connect before it gets there).
tp_ready() {
	local n=$1 deadline=$((SECONDS + 60))
	until grep -q 'testpmd>' "$work/$n.log"; do
		kill -0 "${TP_PID[$n]}" 2>/dev/null || { cat "$work/$n.log"; fail "testpmd $n exited during start-up"; }
		[ $SECONDS -lt $deadline ] || { cat "$work/$n.log"; fail "testpmd $n: no prompt within 60 s"; }
		sleep 0.2
	done
}

tp_cmd() {
	printf '%s\n' "$2" >"$work/$1.in"
}

# tp_stats NAME: prints "RX TX" packets of port 0, from a fresh `show port stats 0`.
tp_stats() {
	local n=$1 before deadline=$((SECONDS + 10))
	before=$(grep -c 'NIC statistics for port 0' "$work/$n.log" || true)
	tp_cmd "$n" "show port stats 0"
	while [ "$(grep -c 'NIC statistics for port 0' "$work/$n.log" || true)" -le "$before" ] ||
		! awk -v b="$before" '/NIC statistics for port 0/ { k++ } k > b && /TX-packets:/ { f = 1 } END { exit !f }' "$work/$n.log"; do
		[ $SECONDS -lt $deadline ] || fail "testpmd $n did not print port statistics"
		sleep 0.1
	done
	awk -v b="$before" '
		/NIC statistics for port 0/ { k++ }
		k > b && /RX-packets:/ { rx = $2 }
		k > b && /TX-packets:/ { tx = $2 }
		END { print rx, tx }' "$work/$n.log"
}

tp_start() {
	tp_launch "$@"
	tp_ready "$1"
}

tp_stop() {
	local n=$1
	[ -n "${TP_PID[$n]:-}" ] || return 0
	kill -TERM "${TP_PID[$n]}" 2>/dev/null || true
	local deadline=$((SECONDS + 20))
	while kill -0 "${TP_PID[$n]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	kill -KILL "${TP_PID[$n]}" 2>/dev/null || true
	wait "${TP_PID[$n]}" 2>/dev/null || true
	kill "${TP_HOLD[$n]}" 2>/dev/null || true
	wait "${TP_HOLD[$n]}" 2>/dev/null || true
	unset "TP_PID[$n]" "TP_HOLD[$n]"
	rm -f "$work/$n.in"
}

# --- vswitchd helpers -------------------------------------------------------------

# port_json PORT EXPR: a Python expression over the port's `show` JSON (as j).
port_json() {
	vs_ctl --json show "$1" | python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"
}

counters() {
	port_json "$1" "j['counters']['rx_packets'], j['counters']['tx_packets']"
}

wait_link() {
	local p=$1 want=$2 deadline=$((SECONDS + 30))
	until [ "$(port_json "$p" "j['link']")" = "$want" ]; do
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

# check_port PORT RX TX: vswitchd's counters for PORT.
check_port() {
	local c
	c=$(counters "$1" | tr -d '(),')
	[ "$c" = "$2 $3" ] || fail "port $1: vswitchd counters rx/tx are '$c', expected '$2 $3'"
	pass "port $1: vswitchd counted rx $2 tx $3"
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

# scenario NAME QUEUES PACKED MODE(server|client) RESTARTS
scenario() {
	local name=$1 q=$2 packed=$3 mode=$4 restarts=$5 tps=0 want
	if [ -n "${TESTPMD_SCENARIOS:-}" ] && [[ " $TESTPMD_SCENARIOS " != *" $name "* ]]; then
		return 0
	fi
	SCENARIOS_RUN=$((SCENARIOS_RUN + 1))
	[ "$mode" = client ] && tps=1
	say "--- $name: $q queue pair(s), $([ "$packed" = 1 ] && echo packed || echo split) rings, vswitchd $mode"
	if [ "$mode" = client ]; then
		# testpmd listens; vswitchd connects (and keeps retrying until it can).
		tp_launch A "$work/a.sock" "$q" "$packed" 1 0 $MAC_A $MAC_B
		tp_launch B "$work/b.sock" "$q" "$packed" 1 1 $MAC_B $MAC_A
		vs_ctl add-port vm1 vhost-user path="$work/a.sock" mode=client queues="$q" >/dev/null
		vs_ctl add-port vm2 vhost-user path="$work/b.sock" mode=client queues="$q" >/dev/null
		tp_ready A
		tp_ready B
	else
		vs_ctl add-port vm1 vhost-user path="$work/a.sock" queues="$q" >/dev/null
		vs_ctl add-port vm2 vhost-user path="$work/b.sock" queues="$q" >/dev/null
		tp_start A "$work/a.sock" "$q" "$packed" 0 0 $MAC_A $MAC_B
		tp_start B "$work/b.sock" "$q" "$packed" 0 1 $MAC_B $MAC_A
	fi
	wait_link vm1 up
	wait_link vm2 up
	local ring
	ring=$(port_json vm1 "j['details']['queues'][0]['ring']")
	[ "$ring" = "$([ "$packed" = 1 ] && echo packed || echo split)" ] ||
		fail "vm1 negotiated a $ring ring"
	for n in A B; do
		tp_cmd $n "set fwd rxonly"
		tp_cmd $n "set burst $BURST"
		tp_cmd $n "start"
	done
	want=$((BURSTS * BURST * q))
	send A B $want
	check_port vm1 $want 0
	check_port vm2 0 $want
	send B A $want
	check_port vm1 $want $want
	check_port vm2 $want $want
	if [ "$q" -gt 1 ]; then
		# Every guest TX queue carried its share: the second queue pair is real.
		local per
		per=$(port_json vm1 "' '.join(str(x['packets']) for x in j['details']['queues'] if x['direction'] == 'rx')")
		[ "$per" = "$(printf '%s ' $(for _ in $(seq "$q"); do echo $((BURSTS * BURST)); done) | sed 's/ $//')" ] ||
			fail "vm1 per-queue rx packets '$per', expected $((BURSTS * BURST)) on each of $q queues"
		pass "vm1: $per frames on its $q rx queues"
	fi
	local errs
	errs=$(port_json vm1 "sum(j['details']['message_errors'].values())")
	[ "$errs" = 0 ] || fail "vm1 refused $errs vhost-user messages"

	if [ "$restarts" -gt 0 ]; then
		local i c0 c1
		c0=$(port_json vm2 "j['details']['connects']")
		for i in $(seq "$restarts"); do
			tp_stop B
			wait_link vm2 down
			tp_launch B "$work/b.sock" "$q" "$packed" $tps 1 $MAC_B $MAC_A
			tp_ready B
			wait_link vm2 up
		done
		c1=$(port_json vm2 "j['details']['connects']")
		[ $((c1 - c0)) -eq "$restarts" ] || fail "vm2: $((c1 - c0)) new connections, expected $restarts"
		pass "testpmd B restarted $restarts times; vswitchd saw $restarts new connections"
		tp_cmd B "set fwd rxonly"
		tp_cmd B "set burst $BURST"
		tp_cmd B "start"
		send A B $want
		check_port vm1 $((2 * want)) $want
		check_port vm2 $want $((2 * want))
		errs=$(port_json vm2 "sum(j['details']['message_errors'].values())")
		[ "$errs" = 0 ] || fail "vm2 refused $errs vhost-user messages"
	fi

	tp_stop A
	tp_stop B
	vs_ctl del-port vm1 >/dev/null
	vs_ctl del-port vm2 >/dev/null
	if [ "$mode" = server ]; then
		[ ! -e "$work/a.sock" ] || fail "del-port left $work/a.sock behind"
	fi
	rm -f "$work/a.sock" "$work/b.sock"
	rm -rf "/var/run/dpdk/vs-tp-$$-"* 2>/dev/null || true
}

SCENARIOS_RUN=0
scenario split-1q 1 0 server 0
scenario packed-1q 1 1 server 0
scenario split-2q 2 0 server 0
scenario packed-2q 2 1 server 0
# vswitchd connects to testpmd, and reconnects whenever testpmd comes back.
scenario client-packed-2q 2 1 client 3
# Front-end memory in hugetlbfs files (mapped at 2 MiB granularity), when the
# machine has the pages to spare (2 x 256 MiB).
if [ "$(hugepages_free)" -ge 300 ]; then
	TP_MEM="-m 256"
	scenario hugepages-packed-1q 1 1 server 0
	TP_MEM="--no-huge -m 512"
else
	say "only $(hugepages_free) free 2 MiB hugepages: hugetlbfs scenario left out"
fi
# Ten restarts of one front-end; the eleventh is served with exact counts.
scenario restart-split-1q 1 0 server 10

[ "$SCENARIOS_RUN" -gt 0 ] || fail "TESTPMD_SCENARIOS='${TESTPMD_SCENARIOS:-}' names no scenario"
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
pass "vswitchd stopped cleanly"
