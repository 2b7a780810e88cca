# shellcheck shell=sh
# Guest-side helpers of the VDUSE test (busybox ash), installed as
# /lib/vduse.sh. The host runs them one line at a time through the agent:
#   lab_guest_exec vd 30 ". /lib/vduse.sh; vd_ns a vs-ta 10.77.0.1/24"
# Each prints what the host asserts on; none decides pass or fail itself.

VD_LOG=/tmp/vswitchd.log

# Busybox sh prefers its own applets to PATH, and busybox ip has no netns:
# iproute2's ip by its path.
ip() { /usr/sbin/ip "$@"; }

# vd_start CONFIG [SECONDS]: vswitchd in the background (pid in
# /run/vswitchd.pid, exit code in /run/vswitchd.rc once it exits), then waits
# until it answers on its control socket.
vd_start() {
	rm -f /run/vswitchd.pid /run/vswitchd.rc
	echo "---- vd_start $1 ----" >>"$VD_LOG"
	(
		ulimit -l unlimited
		vswitchd -c "$1" >>"$VD_LOG" 2>&1 &
		echo $! >/run/vswitchd.pid
		wait $!
		echo $? >/run/vswitchd.rc
	) </dev/null >/dev/null 2>&1 &
	n=$((${2:-60} * 5))
	while [ $n -gt 0 ]; do
		if [ -s /run/vswitchd.rc ]; then
			echo "vswitchd exited with $(cat /run/vswitchd.rc) during start-up"
			tail -n 30 "$VD_LOG"
			return 1
		fi
		vswitchctl --timeout 2 version >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	echo "vswitchd did not answer within ${2:-60}s"
	tail -n 30 "$VD_LOG"
	return 1
}

# vd_stop SIGNAL [SECONDS]: signals vswitchd, waits for its exit, prints
# "VSWITCHD-EXIT rc=RC" (128+N for a signal N).
vd_stop() {
	kill "-$1" "$(cat /run/vswitchd.pid)" || return 1
	n=$((${2:-20} * 5))
	while [ ! -s /run/vswitchd.rc ] && [ $n -gt 0 ]; do
		sleep 0.2
		n=$((n - 1))
	done
	[ -s /run/vswitchd.rc ] || { echo "vswitchd still running ${2:-20}s after SIG$1"; return 1; }
	echo "VSWITCHD-EXIT rc=$(cat /run/vswitchd.rc)"
}

# vd_ns NS IFNAME ADDR/PREFIX: IFNAME (a netdev of this namespace) into the
# network namespace NS (created when missing), addressed and up.
vd_ns() {
	[ -e "/run/netns/$1" ] || ip netns add "$1" || return 1
	ip link set "$2" netns "$1" &&
		ip -n "$1" link set lo up &&
		ip -n "$1" addr add "$3" dev "$2" &&
		ip -n "$1" link set "$2" up
}

# vd_ping NS PEER COUNT [PROBE_SECONDS]: from namespace NS, ping PEER until it
# answers once (links come up, the switch learns), then COUNT pings every
# 0.2 s; prints the counting ping's own output.
vd_ping() {
	t0=$(date +%s)
	until ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; do
		if [ $(($(date +%s) - t0)) -ge "${4:-60}" ]; then
			echo "PING-PROBE failed ns=$1 peer=$2 after=${4:-60}s"
			return 1
		fi
	done
	echo "PING-PROBE ok ns=$1 peer=$2 after=$(($(date +%s) - t0))s"
	ip netns exec "$1" ping -c "$3" -i 0.2 -W 2 "$2"
}

# vd_iperf SERVER_NS SERVER_ADDR CLIENT_NS SECONDS [CLIENT_OPTION]: one
# iperf3 run; prints the client's output (-f m: Mbits/sec).
vd_iperf() {
	ip netns exec "$1" iperf3 -s -1 -B "$2" >/tmp/iperf3-server.log 2>&1 &
	spid=$!
	n=50
	until ip netns exec "$1" netstat -ltn 2>/dev/null | grep -q "$2:5201"; do
		n=$((n - 1))
		[ $n -gt 0 ] || { echo "iperf3 server did not listen"; cat /tmp/iperf3-server.log; return 1; }
		sleep 0.2
	done
	# shellcheck disable=SC2086 # $5: an optional iperf3 option, or nothing
	ip netns exec "$3" timeout $(($4 + 30)) iperf3 -c "$2" -t "$4" -f m $5
	rc=$?
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	return $rc
}

# vd_leftovers: "VDPA-DEVICES <names>" and "VDUSE-NODES <names but control>".
vd_leftovers() {
	echo "VDPA-DEVICES $(ls /sys/bus/vdpa/devices 2>/dev/null | tr '\n' ' ')"
	echo "VDUSE-NODES $(ls /dev/vduse 2>/dev/null | grep -vx control | tr '\n' ' ')"
}

# vd_netdev VDPA_NAME: the netdev that virtio_net made of the vDPA device, as
# seen from this namespace (empty once it moved elsewhere).
vd_netdev() {
	ls -1 /sys/bus/vdpa/devices/"$1"/virtio*/net 2>/dev/null
}
