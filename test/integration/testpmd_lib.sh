# shellcheck shell=bash
# DPDK testpmd as a test's virtio-user front-end, run interactively (-i) and
# driven through a FIFO. Source after common.sh, then set TP_WORK (a directory
# of the test's: NAME.in and NAME.log go there) and TP_PREFIX (a file-prefix
# stem no other run uses; testpmd NAME gets TP_PREFIX-NAME). TP_MEM holds
# testpmd's memory options: anonymous memfd pages by default, no hugepages.
# tp_kill_all belongs in the test's EXIT trap, before vswitchd goes.

declare -A TP_PID=() TP_HOLD=()
TP_MEM=${TP_MEM:-"--no-huge -m 512"}

# tp_launch NAME MAIN_LCORE VDEV [TESTPMD-ARGS...]: starts testpmd NAME with one
# port (VDEV) in the background; tp_ready waits for its prompt.
tp_launch() {
	local n=$1 lcore=$2 vdev=$3
	shift 3
	rm -f "$TP_WORK/$n.in"
	mkfifo "$TP_WORK/$n.in"
	# Keeps the FIFO open for writing: testpmd exits when its stdin reaches EOF.
	sleep 100000 >"$TP_WORK/$n.in" &
	TP_HOLD[$n]=$!
	: >"$TP_WORK/$n.log"
	# shellcheck disable=SC2086 # TP_MEM is a list of options
	stdbuf -oL -eL dpdk-testpmd -l 0,1 --main-lcore "$lcore" --file-prefix "$TP_PREFIX-$n" \
		--no-pci $TP_MEM --single-file-segments --vdev "$vdev" -- \
		-i --total-num-mbufs=16384 --nb-cores=1 "$@" <"$TP_WORK/$n.in" >>"$TP_WORK/$n.log" 2>&1 &
	TP_PID[$n]=$!
}

# tp_ready NAME: waits for the prompt (a testpmd whose port is a vhost-user
# server waits for vswitchd to connect before it gets there).
tp_ready() {
	local n=$1 deadline=$((SECONDS + 60))
	until grep -q 'testpmd>' "$TP_WORK/$n.log"; do
		kill -0 "${TP_PID[$n]}" 2>/dev/null || { cat "$TP_WORK/$n.log"; fail "testpmd $n exited during start-up"; }
		[ $SECONDS -lt $deadline ] || { cat "$TP_WORK/$n.log"; fail "testpmd $n: no prompt within 60 s"; }
		sleep 0.2
	done
}

# tp_cmd NAME COMMAND...: one testpmd command per argument.
tp_cmd() {
	printf '%s\n' "${@:2}" >"$TP_WORK/$1.in"
}

# tp_stats NAME: prints "RX TX" packets of port 0, from a fresh `show port stats 0`.
tp_stats() {
	local n=$1 before deadline=$((SECONDS + 10))
	before=$(grep -c 'NIC statistics for port 0' "$TP_WORK/$n.log" || true)
	tp_cmd "$n" "show port stats 0"
	while [ "$(grep -c 'NIC statistics for port 0' "$TP_WORK/$n.log" || true)" -le "$before" ] ||
		! awk -v b="$before" '/NIC statistics for port 0/ { k++ } k > b && /TX-packets:/ { f = 1 } END { exit !f }' "$TP_WORK/$n.log"; do
		[ $SECONDS -lt $deadline ] || fail "testpmd $n did not print port statistics"
		sleep 0.1
	done
	awk -v b="$before" '
		/NIC statistics for port 0/ { k++ }
		k > b && /RX-packets:/ { rx = $2 }
		k > b && /TX-packets:/ { tx = $2 }
		END { print rx, tx }' "$TP_WORK/$n.log"
}

# tp_stop NAME: SIGTERM, SIGKILL after 20 s; its FIFO goes too.
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
	rm -f "$TP_WORK/$n.in"
}

# tp_remove_files: a killed testpmd leaves its runtime directory and, with
# hugepages, its files in hugetlbfs, which would hold those pages until someone
# removed them.
tp_remove_files() {
	local mnt
	rm -rf "/var/run/dpdk/$TP_PREFIX-"* 2>/dev/null || true
	for mnt in $(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts); do
		rm -f "$mnt/$TP_PREFIX-"* 2>/dev/null || true
	done
}

# tp_kill_all: SIGKILL every testpmd still running, and remove what they left.
tp_kill_all() {
	local n
	for n in "${!TP_PID[@]}"; do
		kill -KILL "${TP_PID[$n]}" 2>/dev/null || true
	done
	for n in "${!TP_HOLD[@]}"; do
		kill "${TP_HOLD[$n]}" 2>/dev/null || true
	done
	for n in "${!TP_PID[@]}"; do
		wait "${TP_PID[$n]}" 2>/dev/null || true
	done
	tp_remove_files
}
