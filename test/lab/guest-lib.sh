# shellcheck shell=sh
# Helpers for a lab guest's /init (busybox ash). Installed as /lib/lab.sh by
# initramfs.sh; an /init sources it. Kernel parameters without a dot
# (vs_ip=10.0.0.1/24) reach /init as environment variables.
#
# Console lines meant for the host test start with an upper-case tag
# (LAB-READY, PING-RESULT, ...) so that it can grep for them.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin

lab_say() {
	echo "$*" >/dev/console
}

# Mounts, modules from /etc/lab-modules (already in dependency order), lo up.
lab_boot() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
	mkdir -p /dev/pts /dev/shm
	mount -t devpts devpts /dev/pts
	mount -t tmpfs tmpfs /tmp
	mount -t tmpfs tmpfs /run
	mount -t tmpfs tmpfs /dev/shm
	if [ -r /etc/lab-modules ]; then
		while read -r m opts; do
			[ -n "$m" ] || continue
			# shellcheck disable=SC2086 # options are separate words
			insmod "/lib/modules/$m.ko" $opts 2>/dev/null ||
				lab_say "LAB-WARN insmod $m failed"
		done </etc/lab-modules
	fi
	ip link set lo up
}

# lab_wait_netdev IFNAME [SECONDS]: drivers probe asynchronously.
lab_wait_netdev() {
	n=$((${2:-10} * 10))
	while [ $n -gt 0 ]; do
		[ -e "/sys/class/net/$1" ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	lab_say "LAB-ERROR no netdev $1"
	return 1
}

# lab_net_up IFNAME ADDR/PREFIX
lab_net_up() {
	lab_wait_netdev "$1" || return 1
	ip link set "$1" up
	[ -n "$2" ] && ip addr add "$2" dev "$1"
	return 0
}

# lab_ping_probe PEER SECONDS: the first replies get lost while the peer is
# still booting or the switch still learns, so probe before counting.
lab_ping_probe() {
	t0=$(date +%s)
	while :; do
		if ping -c 1 -W 1 "$1" >/dev/null 2>&1; then
			lab_say "PING-PROBE ok peer=$1 after=$(($(date +%s) - t0))s"
			return 0
		fi
		if [ $(($(date +%s) - t0)) -ge "$2" ]; then
			lab_say "PING-PROBE failed peer=$1 after=${2}s"
			return 1
		fi
	done
}

# lab_ping_count PEER COUNT INTERVAL: prints
#   PING-RESULT peer=P sent=N received=M
#   PING-RTT min/avg/max=a/b/c ms
lab_ping_count() {
	out=$(ping -c "$2" -i "$3" -W 2 "$1" 2>&1)
	sent=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
	recv=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
	rtt=$(echo "$out" | sed -n 's/^round-trip \(.*\)$/\1/p')
	lab_say "PING-RESULT peer=$1 sent=${sent:-0} received=${recv:-0}"
	[ -n "$rtt" ] && lab_say "PING-RTT $rtt"
	return 0
}

# lab_agent [TTY]: runs commands the host test writes to the control serial
# (ttyS1), one per line as "ID COMMAND"; after each, "LAB-END ID rc=RC" on the
# same line. Output of the command goes back on the control serial too. The
# host stops the agent with the command "exit".
lab_agent() {
	tty=${1:-/dev/ttyS1}
	# Raw: no echo of the commands, no CR/LF rewriting either way.
	stty -F "$tty" raw -echo 2>/dev/null
	exec 3<>"$tty"
	echo "LAB-AGENT-READY" >&3
	lab_say "LAB-AGENT-READY"
	while IFS= read -r line <&3; do
		id=${line%% *}
		cmd=${line#* }
		[ "$cmd" = exit ] && { echo "LAB-END $id rc=0" >&3; break; }
		sh -c "$cmd" </dev/null >&3 2>&3
		echo "LAB-END $id rc=$?" >&3
	done
	exec 3>&-
}

lab_poweroff() {
	lab_say "LAB-POWEROFF"
	sync
	poweroff -f
}
