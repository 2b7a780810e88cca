#!/usr/bin/env bash
# VDUSE lab on a real kernel: a TCG guest running Linux 6.12 (virtio-net over
# VDUSE needs >= 6.10) with the vDPA modules, iproute2's ip and vdpa, iperf3,
# and vswitchd/vswitchctl from this build (test/lab/vduse/).
#   1. the guest: kernel >= 6.10, /dev/vduse/control after the modules load,
#      the vduse management device and the virtio_vdpa driver on the vDPA bus;
#   2. vswitchd in the guest with two TAP ports, each TAP's netdev in its own
#      namespace: 20/20 pings and an iperf3 run through the switch, SIGTERM
#      exits 0 and takes both TAPs with it;
#   3. vswitchd with a TAP port and a VDUSE port vs-c1 from its config:
#      show names the netdev (checked against sysfs), DRIVER_OK, VERSION_1 and
#      ACCESS_PLATFORM, both queues started, IOTLB mappings; the netdev moved
#      into a namespace pings the TAP's namespace 20/20 each way, iperf3 both
#      ways (VDUSE-IPERF3 and VDUSE-IPERF3-REVERSE lines, Mbit/s);
#   4. del-port leaves nothing in /sys/bus/vdpa/devices or /dev/vduse (but
#      control), and a second add-port of the same name forwards again;
#   5. vswitchd killed with SIGKILL leaves the device in the kernel; started
#      again with the same config, it takes the device over and forwards again;
#   6. `vswitchctl add-port c2 vduse name=vs-c2`: the two netdevs, each in
#      its own namespace, ping each other 20/20 through the switch;
#   7. driver=vhost_vdpa gives a /dev/vhost-vdpa-N and no netdev, del-port
#      removes both; SIGTERM exits 0 and leaves no device behind.
set -euo pipefail
. "$(dirname "$0")/common.sh"

NS_A=tapa
NS_B=tapb
MODULES="failover net_failover virtio_net vhost_iotlb vdpa vduse virtio_vdpa vhost vhost_vdpa tun"

lab_require_root
lab_require_qemu
lab_require_cmd cpio modinfo xz ip vdpa iperf3
vs_require_binaries
lab_kernel 6.12
lab_setup
# On failure, what the guest knows first: vswitchd's log and the kernel's.
cleanup() {
	local rc=$?
	if [ $rc -ne 0 ] && lab_guest_running vd; then
		echo "---- guest: vswitchd log and dmesg ----"
		lab_guest_exec vd 15 "tail -n 60 /tmp/vswitchd.log; dmesg | tail -n 40" || true
	fi
	set +e
	(exit $rc)
	vs_guest_cleanup # keeps $? as the exit status
}
trap cleanup EXIT

t=$SECONDS
mods=()
for m in $MODULES; do
	mods+=(-m "$m")
done
lab_initramfs "$LAB_RUN/vduse.cpio.gz" -i "$VS_LAB/vduse/init-vduse.sh" "${mods[@]}" \
	-b ip -b vdpa -b iperf3 \
	-f "$VSWITCHD:/usr/bin/vswitchd" -f "$VSWITCHCTL:/usr/bin/vswitchctl" \
	-f "$VS_LAB/vduse/vduse-lib.sh:/lib/vduse.sh" \
	-f "$VS_LAB/vduse/vswitch-taps.yaml:/etc/vduse/vswitch-taps.yaml" \
	-f "$VS_LAB/vduse/vswitch-vduse.yaml:/etc/vduse/vswitch-vduse.yaml"
zcat "$LAB_RUN/vduse.cpio.gz" | cpio -i --quiet --to-stdout etc/lab-modules >"$LAB_RUN/modules"
for m in $MODULES; do
	grep -q "^$m " "$LAB_RUN/modules" || fail "initramfs lacks module $m (has: $(cut -d' ' -f1 "$LAB_RUN/modules" | tr '\n' ' '))"
done
say "initramfs built in $((SECONDS - t))s"

t=$SECONDS
# Two vCPUs: vswitchd's poller on CPU 1, the namespaces' traffic on CPU 0.
# -cpu max: the build targets x86-64-v2, more than TCG's default model.
lab_guest_start vd --initrd "$LAB_RUN/vduse.cpio.gz" --ctl --cpu max --smp 2 --mem 768
lab_guest_agent vd 120 || fail "guest did not boot (or its agent did not start)"
say "guest booted in $((SECONDS - t))s"

# g SECONDS CMD: CMD in the guest with the helpers of /lib/vduse.sh; its
# output on stdout and in $LAB_RUN/g.out; fails the test on a non-zero exit.
g() {
	local secs=$1
	shift
	local rc=0
	lab_guest_exec vd "$secs" ". /lib/vduse.sh; $*" >"$LAB_RUN/g.out" || rc=$?
	cat "$LAB_RUN/g.out"
	[ $rc -eq 0 ] || fail "guest command failed (rc=$rc): $*"
}

# --- 1. the guest kernel -----------------------------------------------------------
line=$(grep -ao 'VDUSE-GUEST .*' "$LAB_RUN/vd.console" | tr -d '\r') || fail "the guest printed no VDUSE-GUEST line"
say "$line"
[[ $line =~ kernel=([0-9]+)\.([0-9]+) ]] || fail "no kernel version in '$line'"
kmaj=${BASH_REMATCH[1]} kmin=${BASH_REMATCH[2]}
[ "$kmaj" -gt 6 ] || { [ "$kmaj" -eq 6 ] && [ "$kmin" -ge 10 ]; } ||
	fail "guest kernel $kmaj.$kmin: virtio-net over VDUSE needs >= 6.10"
pass "guest kernel $kmaj.$kmin (>= 6.10)"
g 10 "[ -c /dev/vduse/control ] && ls -l /dev/vduse/control"
pass "/dev/vduse/control is a character device"
[[ $line == *"mgmtdev=[vduse"* ]] || fail "vdpa mgmtdev show does not list vduse: $line"
[[ $line =~ vdpa_drivers=[^\ ]*virtio_vdpa ]] || fail "no virtio_vdpa driver on the vDPA bus: $line"
pass "vduse management device and virtio_vdpa driver registered"
g 10 vd_leftovers
grep -qx 'VDPA-DEVICES ' "$LAB_RUN/g.out" && grep -qx 'VDUSE-NODES ' "$LAB_RUN/g.out" ||
	fail "vDPA or VDUSE devices exist before vswitchd ran"

# --- 2. the plumbing: two TAP ports, each netdev in its own namespace --------------
g 90 "vd_start /etc/vduse/vswitch-taps.yaml 80"
pass "vswitchd runs in the guest"
g 20 "vd_ns $NS_A vs-ta 10.77.0.1/24 && vd_ns $NS_B vs-tb 10.77.0.2/24"
g 20 "ip -n $NS_A -br addr show vs-ta; ip -n $NS_B -br addr show vs-tb"
grep -q '^vs-ta .*10\.77\.0\.1/24' "$LAB_RUN/g.out" && grep -q '^vs-tb .*10\.77\.0\.2/24' "$LAB_RUN/g.out" ||
	fail "the TAPs did not move into their namespaces with their addresses"
g 10 "ip -br link"
! grep -q '^vs-t[ab] ' "$LAB_RUN/g.out" || fail "a TAP is still in the guest's root namespace"
pass "vs-ta in $NS_A (10.77.0.1), vs-tb in $NS_B (10.77.0.2)"

# guest_ping20 NS PEER: 20/20 through the switch, after a probe.
guest_ping20() {
	g 120 "vd_ping $1 $2 20 60"
	read -r sent recv <<<"$(ping_counts "$LAB_RUN/g.out")"
	[ "${sent:-0}" -eq 20 ] && [ "${recv:-0}" -eq 20 ] ||
		fail "$1 -> $2: sent=${sent:-?} received=${recv:-?}, expected 20/20"
	pass "$1 -> $2: 20/20, $(sed -n 's/^round-trip //p' "$LAB_RUN/g.out")"
}

# guest_iperf TAG SERVER_NS SERVER_ADDR CLIENT_NS [-R]: 3 s of TCP, prints
# "TAG <Mbit/s>" (the receiver's rate) and fails without one above zero.
guest_iperf() {
	g 90 "vd_iperf $2 $3 $4 3 ${5:-}"
	mbps=$(awk '/receiver$/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' "$LAB_RUN/g.out" | tail -n1)
	[ -n "$mbps" ] || fail "$1: no receiver rate in the iperf3 output"
	awk -v m="$mbps" 'BEGIN { exit !(m > 0) }' || fail "$1: iperf3 moved nothing ($mbps Mbit/s)"
	say "$1 $mbps"
}

guest_ping20 $NS_A 10.77.0.2
guest_ping20 $NS_B 10.77.0.1
guest_iperf TAP-IPERF3 $NS_B 10.77.0.2 $NS_A
pass "iperf3 between the namespaces: $mbps Mbit/s"

g 30 "vd_stop TERM 20"
grep -qx 'VSWITCHD-EXIT rc=0' "$LAB_RUN/g.out" || fail "vswitchd did not exit 0 on SIGTERM"
g 10 "ip netns exec $NS_A ip -o link; ip netns exec $NS_B ip -o link; ip -o link"
! grep -q 'vs-t[ab]' "$LAB_RUN/g.out" || fail "a TAP outlived vswitchd"
pass "SIGTERM: exit 0, both TAPs gone"

# --- 3. a VDUSE port: its netdev in a namespace, switched to a TAP ---------------------
# vd_show PORT: the port's show facts as SHOW_* variables (test/lab/vduse/show.py).
vd_show() {
	lab_guest_exec vd 20 "vswitchctl --json show $1" >"$LAB_RUN/show-$1.json" ||
		{ cat "$LAB_RUN/show-$1.json"; fail "vswitchctl show $1 failed"; }
	eval "$(python3 "$VS_LAB/vduse/show.py" "$LAB_RUN/show-$1.json")" ||
		{ cat "$LAB_RUN/show-$1.json"; fail "show $1: not the JSON of a VDUSE port"; }
}

# vd_attach PORT DEVICE NS ADDR: wait until the kernel's driver set DRIVER_OK on
# VDUSE port PORT and show names the host netdev, check it against sysfs, the
# negotiated features, the queues and the IOTLB, then move the netdev into
# namespace NS with ADDR. Sets $IFNAME.
vd_attach() {
	local port=$1 dev=$2 ns=$3 addr=$4 deadline=$((SECONDS + 60))
	while :; do
		vd_show "$port"
		[[ -n $SHOW_IFNAME && $SHOW_STATUS == *DRIVER_OK* ]] && break
		[ $SECONDS -lt $deadline ] ||
			{ cat "$LAB_RUN/show-$port.json"; fail "$port: no netdev with DRIVER_OK within 60s (status '$SHOW_STATUS')"; }
		sleep 1
	done
	IFNAME=$SHOW_IFNAME
	g 10 "vd_netdev $dev; readlink /sys/bus/vdpa/devices/$dev/driver; ls -1 /dev/vduse"
	[ "$(sed -n 1p "$LAB_RUN/g.out")" = "$IFNAME" ] ||
		fail "$port: show says ifname $IFNAME, sysfs says '$(sed -n 1p "$LAB_RUN/g.out")'"
	[[ $(sed -n 2p "$LAB_RUN/g.out") == */virtio_vdpa ]] || fail "$port: $dev is not bound to virtio_vdpa"
	grep -qx "$dev" "$LAB_RUN/g.out" || fail "$port: no /dev/vduse/$dev"
	for f in VERSION_1 ACCESS_PLATFORM; do
		[[ " $SHOW_FEATURES " == *" $f "* ]] || fail "$port: $f not negotiated (features: $SHOW_FEATURES)"
	done
	[ "$SHOW_QSTATES" = "started started" ] || fail "$port: queues '$SHOW_QSTATES', expected two started"
	[ "$SHOW_IOTLB" -gt 0 ] || fail "$port: no IOTLB mapping while the driver runs"
	pass "$port: vDPA device $dev on virtio_vdpa, netdev $IFNAME, status $SHOW_STATUS, $SHOW_IOTLB IOTLB mapping(s), features $SHOW_FEATURES"
	g 20 "vd_ns $ns $IFNAME $addr && ip -n $ns -br addr show $IFNAME"
	grep -q "^$IFNAME .*${addr//./\\.}" "$LAB_RUN/g.out" || fail "$IFNAME did not move into $ns with $addr"
}

# no_leftovers WHEN: nothing on the vDPA bus, nothing in /dev/vduse but control.
no_leftovers() {
	g 10 vd_leftovers
	grep -qx 'VDPA-DEVICES ' "$LAB_RUN/g.out" || fail "$1: vDPA devices left: $(grep VDPA "$LAB_RUN/g.out")"
	grep -qx 'VDUSE-NODES ' "$LAB_RUN/g.out" || fail "$1: VDUSE devices left: $(grep VDUSE "$LAB_RUN/g.out")"
	pass "$1: no vDPA device, /dev/vduse holds only control"
}

# The config has the TAP and the VDUSE port vs-c1 (the device takes the name).
g 90 "vd_start /etc/vduse/vswitch-vduse.yaml 80"
g 20 "vd_ns tapv vs-tv 10.78.0.10/24"
vd_attach vs-c1 vs-c1 c1 10.78.0.1/24
guest_ping20 c1 10.78.0.10
guest_ping20 tapv 10.78.0.1
guest_iperf VDUSE-IPERF3 tapv 10.78.0.10 c1
pass "iperf3 VDUSE -> TAP: $mbps Mbit/s"
guest_iperf VDUSE-IPERF3-REVERSE tapv 10.78.0.10 c1 -R
pass "iperf3 TAP -> VDUSE: $mbps Mbit/s"
vd_show vs-c1
read -r q0 q1 <<<"$SHOW_QPACKETS"
[ "${q0:-0}" -ge 40 ] && [ "${q1:-0}" -ge 40 ] ||
	fail "vs-c1: queue packet counters '$SHOW_QPACKETS' do not account for 40 pings and iperf3"
pass "vs-c1: queue packets $SHOW_QPACKETS"

# --- 4. del-port removes the device; the same name comes back ---------------------------
g 60 "vswitchctl del-port vs-c1"
no_leftovers "after del-port vs-c1"
g 10 "ip -n c1 -o link"
! grep -q "$IFNAME" "$LAB_RUN/g.out" || fail "netdev $IFNAME is still in namespace c1 after del-port"
g 60 "vswitchctl add-port vs-c1 vduse name=vs-c1"
vd_attach vs-c1 vs-c1 c1 10.78.0.1/24
guest_ping20 c1 10.78.0.10
pass "a second add-port of vs-c1 works"

# --- 5. SIGKILL, then the same config recovers the port ---------------------------------
g 30 "vd_stop KILL 20"
grep -qx 'VSWITCHD-EXIT rc=137' "$LAB_RUN/g.out" || fail "vswitchd did not die of SIGKILL"
g 10 vd_leftovers
grep -qx 'VDPA-DEVICES vs-c1 ' "$LAB_RUN/g.out" && grep -qx 'VDUSE-NODES vs-c1 ' "$LAB_RUN/g.out" ||
	fail "the killed vswitchd's device should still be there (that is what the restart must handle)"
pass "after SIGKILL the kernel still holds VDUSE device vs-c1"
g 90 "vd_start /etc/vduse/vswitch-vduse.yaml 80"
# The TAP died with the old process: the new one is back in the root namespace.
g 20 "vd_ns tapv vs-tv 10.78.0.10/24"
vd_attach vs-c1 vs-c1 c1 10.78.0.1/24
[ "$SHOW_LEFTOVER" = yes ] || fail "vs-c1: show does not report the recovered leftover device"
g 10 vd_leftovers
grep -qx 'VDPA-DEVICES vs-c1 ' "$LAB_RUN/g.out" || fail "after the restart: $(cat "$LAB_RUN/g.out")"
guest_ping20 c1 10.78.0.10
pass "restarted vswitchd took over vs-c1 and forwards again"

# --- 6. two VDUSE ports, each netdev in its own namespace ------------------------------
g 60 "vswitchctl add-port c2 vduse name=vs-c2"
vd_attach c2 vs-c2 c2 10.78.0.2/24
guest_ping20 c1 10.78.0.2
guest_ping20 c2 10.78.0.1
pass "two VDUSE netdevs in two namespaces ping each other through the switch"

# --- 7. driver=vhost_vdpa: a /dev/vhost-vdpa-N for a VM instead of a netdev -------------
g 60 "vswitchctl add-port v1 vduse name=vs-v1 driver=vhost_vdpa"
deadline=$((SECONDS + 30))
until vd_show v1 && [ -n "$SHOW_VHOST_DEV" ]; do
	[ $SECONDS -lt $deadline ] || { cat "$LAB_RUN/show-v1.json"; fail "v1: show names no vhost-vdpa device within 30s"; }
	sleep 1
done
g 10 "readlink /sys/bus/vdpa/devices/vs-v1/driver; [ -c /dev/$SHOW_VHOST_DEV ] && echo chardev; ls /sys/bus/vdpa/devices/vs-v1/ | grep -c '^virtio' || true"
[[ $(sed -n 1p "$LAB_RUN/g.out") == */vhost_vdpa ]] || fail "v1: vs-v1 is not bound to vhost_vdpa"
grep -qx chardev "$LAB_RUN/g.out" || fail "v1: /dev/$SHOW_VHOST_DEV is not a character device"
[ "$(sed -n 3p "$LAB_RUN/g.out")" = 0 ] || fail "v1: vs-v1 got a virtio device (a netdev) although bound to vhost_vdpa"
pass "v1: vs-v1 bound to vhost_vdpa, /dev/$SHOW_VHOST_DEV, no netdev"
g 60 "vswitchctl del-port v1; vd_leftovers; [ ! -e /dev/$SHOW_VHOST_DEV ] && echo vhost-dev-gone"
! grep -q '^VDPA-DEVICES .*vs-v1' "$LAB_RUN/g.out" || fail "del-port v1 left vs-v1 on the vDPA bus"
grep -qx vhost-dev-gone "$LAB_RUN/g.out" || fail "del-port v1 left /dev/$SHOW_VHOST_DEV"
pass "del-port v1 removed vs-v1 and /dev/$SHOW_VHOST_DEV"

g 30 "vd_stop TERM 20"
grep -qx 'VSWITCHD-EXIT rc=0' "$LAB_RUN/g.out" || fail "vswitchd did not exit 0 on SIGTERM"
no_leftovers "after SIGTERM"

lab_guest_exec vd 10 exit >/dev/null || true
lab_guest_waitexit vd 20 || true
say "PASS in $((SECONDS - VS_T0))s"
