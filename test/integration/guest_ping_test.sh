#!/usr/bin/env bash
# Two QEMU guests (TCG, Debian's 6.1 kernel, busybox initramfs) whose
# virtio-net-pci NICs are vhost-user ports of vswitchd ping each other:
#   (a) vswitchd listens (mode: server), QEMU connects as client;
#   Then guest a sends TCP to guest b with iperf3 for a few seconds (rate and the
#   features both guests negotiated, VIRTIO_F_IN_ORDER or not, are printed);
#   (b) QEMU listens (server=on), vswitchd connects (mode: client); vswitchd is
#       restarted while the guests keep running and the pings must resume.
# Guest "a*" is driven over its control serial (lab_guest_exec); guest "b*"
# runs the stand-alone ping /init against "a*", so both directions are counted.
set -euo pipefail
. "$(dirname "$0")/common.sh"

COUNT=${GUEST_PING_COUNT:-20}
MAC_A=52:54:00:99:00:01
MAC_B=52:54:00:99:00:02
vs_guest_pair_setup ping.cpio.gz

start_guests() { # PREFIX NIC-OPTION-SUFFIX SOCK1 SOCK2
	local p=$1 o=$2
	lab_guest_start "${p}a" --initrd "$LAB_RUN/ping.cpio.gz" --ctl \
		--append "vs_ip=10.0.0.1/24 vs_mode=agent" --vhost-user "$3$o,mac=$MAC_A"
	lab_guest_start "${p}b" --initrd "$LAB_RUN/ping.cpio.gz" \
		--append "vs_ip=10.0.0.2/24 vs_peer=10.0.0.1 vs_count=$COUNT vs_interval=0.2 vs_linger=600 vs_iperf3=1" \
		--vhost-user "$4$o,mac=$MAC_B"
}

# --- (a) vswitchd is the vhost-user server ---------------------------------------
t=$SECONDS
vs_guest_pair_config "$LAB_RUN/server.yaml" server "$run/s1.sock" "$run/s2.sock"
VS_LOG=$LAB_RUN/vswitchd-a.log
vs_start "$LAB_RUN/server.yaml"
[ -S "$run/s1.sock" ] && [ -S "$run/s2.sock" ] || fail "vswitchd did not create the vhost-user sockets"
start_guests s ",reconnect=1000" "$run/s1.sock" "$run/s2.sock"
lab_guest_agent sa 90 || fail "guest sa did not boot"
say "guests booted in $((SECONDS - t))s"
guest_ping sa 10.0.0.2 "$COUNT"
guest_ping_result sb "$COUNT"
vs_ctl list-ports >"$LAB_RUN/ports.out" || fail "list-ports failed"
cat "$LAB_RUN/ports.out"
grep -q vm1 "$LAB_RUN/ports.out" && grep -q vm2 "$LAB_RUN/ports.out" ||
	fail "list-ports does not show vm1 and vm2"
vs_ctl fdb show >"$LAB_RUN/fdb.out" || fail "fdb show failed"
cat "$LAB_RUN/fdb.out"
grep -qiE "$MAC_A +vm1( |$)" "$LAB_RUN/fdb.out" && grep -qiE "$MAC_B +vm2( |$)" "$LAB_RUN/fdb.out" ||
	fail "the fdb did not learn $MAC_A on vm1 and $MAC_B on vm2"
pass "fdb learnt both guests on their ports"
# TCP through the switch, guest to guest: the virtio_net driver's own data path
# (TSO-less 1.5 KB segments under TCG, so the rate is modest).
read -r mbps _ <<<"$(guest_iperf sa 10.0.0.2 -t 4)"
awk -v m="$mbps" 'BEGIN { exit !(m > 0) }' || fail "iperf3 throughput is $mbps Mbit/s"
in_order=$(for p in vm1 vm2; do
	vs_ctl --json show $p | python3 -c 'import json,sys
f = json.load(sys.stdin)["details"]["features"]
print("%s:%s" % (sys.argv[1], "yes" if "IN_ORDER" in f else "no"))' $p
done | paste -sd' ') || fail "show vm1/vm2 failed"
pass "GUEST-IPERF3 $mbps Mbit/s guest to guest (VIRTIO_F_IN_ORDER negotiated: $in_order)"
lab_guest_stop sa
lab_guest_stop sb
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC after (a)"
pass "(a) server mode in $((SECONDS - t))s"

# --- (b) QEMU is the vhost-user server; vswitchd restarts under running guests --
t=$SECONDS
start_guests c ",server" "$run/c1.sock" "$run/c2.sock"
# QEMU listens first and waits for the back-end before it runs the guest.
deadline=$((SECONDS + 20))
until [ -S "$run/c1.sock" ] && [ -S "$run/c2.sock" ]; do
	[ $SECONDS -lt $deadline ] || fail "QEMU did not create its vhost-user sockets"
	lab_guest_running ca && lab_guest_running cb || fail "QEMU exited at start-up"
	sleep 0.1
done
vs_guest_pair_config "$LAB_RUN/client.yaml" client "$run/c1.sock" "$run/c2.sock"
VS_LOG=$LAB_RUN/vswitchd-b.log
vs_start "$LAB_RUN/client.yaml"
lab_guest_agent ca 90 || fail "guest ca did not boot"
say "guests booted in $((SECONDS - t))s"
guest_ping ca 10.0.0.2 "$COUNT"
guest_ping_result cb "$COUNT"

t_restart=$SECONDS
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM with live guests"
lab_guest_running ca && lab_guest_running cb || fail "a guest died when vswitchd stopped"
pass "vswitchd stopped under running guests"
# Nothing may pass while the switch is down.
if lab_guest_exec ca 20 "ping -c 2 -W 1 10.0.0.2 >/dev/null"; then
	fail "ping got through with vswitchd stopped"
fi
pass "no ping reply while vswitchd is down"
VS_LOG=$LAB_RUN/vswitchd-b2.log
vs_start "$LAB_RUN/client.yaml"
lab_guest_exec ca 90 ". /lib/lab.sh; lab_ping_probe 10.0.0.2 60" ||
	fail "ping did not resume within 60 s after vswitchd restarted"
pass "ping resumed $((SECONDS - t_restart))s after the stop"
guest_ping ca 10.0.0.2 "$COUNT"
lab_guest_stop ca
lab_guest_stop cb
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC after (b)"
pass "(b) client mode with restart in $((SECONDS - t))s"
say "PASS in $((SECONDS - VS_T0))s"
