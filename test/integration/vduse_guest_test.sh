#!/usr/bin/env bash
# VDUSE lab on a real kernel: a TCG guest running Linux 6.12 (virtio-net over
# VDUSE needs >= 6.10) with the vDPA modules, iproute2's ip and vdpa, iperf3,
# and vswitchd/vswitchctl from this build (test/lab/vduse/).
#   1. the guest: kernel >= 6.10, /dev/vduse/control after the modules load,
#      the vduse management device and the virtio_vdpa driver on the vDPA bus;
#   2. vswitchd in the guest with two TAP ports, each TAP's netdev in its own
#      namespace: 20/20 pings and an iperf3 run through the switch, SIGTERM
#      exits 0 and takes both TAPs with it.
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
trap vs_guest_cleanup EXIT

t=$SECONDS
mods=()
for m in $MODULES; do
	mods+=(-m "$m")
done
lab_initramfs "$LAB_RUN/vduse.cpio.gz" -i "$VS_LAB/vduse/init-vduse.sh" "${mods[@]}" \
	-b ip -b vdpa -b iperf3 \
	-f "$VSWITCHD:/usr/bin/vswitchd" -f "$VSWITCHCTL:/usr/bin/vswitchctl" \
	-f "$VS_LAB/vduse/vduse-lib.sh:/lib/vduse.sh" -f "$VS_LAB/vduse:/etc/vduse"
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
	lab_guest_exec vd "$secs" ". /lib/vduse.sh; $*" >"$LAB_RUN/g.out" && cat "$LAB_RUN/g.out" ||
		{ cat "$LAB_RUN/g.out"; fail "guest command failed: $*"; }
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

# guest_iperf TAG SERVER_NS SERVER_ADDR CLIENT_NS: 3 s of TCP, prints
# "TAG <Mbit/s>" (the receiver's rate) and fails without one above zero.
guest_iperf() {
	g 90 "vd_iperf $2 $3 $4 3"
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

lab_guest_exec vd 10 exit >/dev/null || true
lab_guest_waitexit vd 20 || true
say "PASS in $((SECONDS - VS_T0))s"
