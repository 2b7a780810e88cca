#!/usr/bin/env bash
# Proves the guest lab itself, without vswitchd: two TCG guests (6.1 kernel,
# busybox initramfs) ping each other, one driven through the control serial,
# the other stand-alone,
#   1. wired by QEMU's own -netdev stream over a UNIX socket;
#   2. on vhost-user sockets of DPDK's vhost PMD (testpmd, io forwarding),
#      the reference back-end for what vswitchd does.
# When a vswitchd test with guests fails and this one passes, look at the
# switch, not at the lab.
set -euo pipefail
. "$(dirname "$0")/common.sh"

lab_require_root
lab_require_qemu
lab_require_cmd cpio modinfo xz dpdk-testpmd
lab_kernel 6.1
lab_setup
testpmd_pid=""

cleanup() {
	local rc=$?
	lab_guest_stop_all
	if [ -n "$testpmd_pid" ]; then
		kill "$testpmd_pid" 2>/dev/null || true
		wait "$testpmd_pid" 2>/dev/null || true
		[ $rc -ne 0 ] && tail -n 30 "$LAB_RUN/testpmd.log"
	fi
	# testpmd leaves its runtime directory (6 MB in /var/run) even on a clean exit.
	rm -rf "/var/run/dpdk/vs-lab-$$"
	lab_cleanup
	exit $rc
}
trap cleanup EXIT

COUNT=10
t=$SECONDS
lab_initramfs "$LAB_RUN/ping.cpio.gz" -i "$VS_LAB/init-ping.sh" -m virtio_net -m virtio_pci
say "initramfs built in $((SECONDS - t))s"
zcat "$LAB_RUN/ping.cpio.gz" | cpio -i --quiet --to-stdout etc/lab-modules >"$LAB_RUN/modules"
for m in virtio_ring virtio virtio_pci virtio_net net_failover; do
	grep -q "^$m " "$LAB_RUN/modules" || fail "initramfs lacks module $m (resolved: $(tr '\n' ' ' <"$LAB_RUN/modules"))"
done
# Dependencies must come before their users.
[ "$(grep -n '^virtio_ring ' "$LAB_RUN/modules" | cut -d: -f1)" -lt \
	"$(grep -n '^virtio_net ' "$LAB_RUN/modules" | cut -d: -f1)" ] || fail "module order wrong"
pass "initramfs has virtio_net and virtio_pci with dependencies in order"

t=$SECONDS
lab_guest_start la --initrd "$LAB_RUN/ping.cpio.gz" --ctl \
	--append "vs_ip=10.0.0.1/24 vs_mode=agent" --stream-server "$LAB_RUN/link.sock"
lab_guest_start lb --initrd "$LAB_RUN/ping.cpio.gz" \
	--append "vs_ip=10.0.0.2/24 vs_peer=10.0.0.1 vs_count=$COUNT vs_interval=0.1 vs_linger=60" \
	--stream-client "$LAB_RUN/link.sock"
lab_guest_agent la 90 || fail "guest la: agent did not come up"
say "guests booted in $((SECONDS - t))s"

lab_guest_exec la 20 "cat /proc/version" >"$LAB_RUN/version" || fail "exec in guest failed"
grep -q 'Linux version 6\.1\.' "$LAB_RUN/version" || fail "guest does not run 6.1: $(cat "$LAB_RUN/version")"
set +e
lab_guest_exec la 20 "exit 3" >/dev/null
rc=$?
set -e
[ $rc -eq 3 ] || fail "exec did not return the guest command's exit code (got $rc)"
pass "control channel: output and exit codes"

guest_ping la 10.0.0.2 $COUNT 0.1
guest_ping_result lb $COUNT
lab_guest_exec la 10 exit >/dev/null || true
lab_guest_waitexit la 20 || fail "guest la did not power off after the agent's exit"
pass "guest powers off and QEMU exits (-no-reboot)"
lab_guest_stop lb
say "stream phase in $((SECONDS - t))s"

# --- vhost-user through DPDK's vhost PMD -------------------------------------
t=$SECONDS
# testpmd exits at EOF on stdin: keep a FIFO open for it.
mkfifo "$LAB_RUN/testpmd.in"
exec {tp_in}<>"$LAB_RUN/testpmd.in"
dpdk-testpmd -l 0,1 --main-lcore 0 --no-pci --no-huge -m 512 --single-file-segments \
	--file-prefix "vs-lab-$$" \
	--vdev "net_vhost0,iface=$LAB_RUN/v1.sock,queues=1" \
	--vdev "net_vhost1,iface=$LAB_RUN/v2.sock,queues=1" \
	-- --total-num-mbufs=16384 --forward-mode=io --auto-start \
	<&"$tp_in" >"$LAB_RUN/testpmd.log" 2>&1 &
testpmd_pid=$!
deadline=$((SECONDS + 30))
until [ -S "$LAB_RUN/v1.sock" ] && [ -S "$LAB_RUN/v2.sock" ]; do
	kill -0 "$testpmd_pid" 2>/dev/null || { cat "$LAB_RUN/testpmd.log"; fail "testpmd exited"; }
	[ $SECONDS -lt $deadline ] || fail "testpmd created no vhost-user sockets"
	sleep 0.1
done
lab_guest_start va --initrd "$LAB_RUN/ping.cpio.gz" --ctl \
	--append "vs_ip=10.0.0.1/24 vs_mode=agent" --vhost-user "$LAB_RUN/v1.sock"
lab_guest_start vb --initrd "$LAB_RUN/ping.cpio.gz" \
	--append "vs_ip=10.0.0.2/24 vs_peer=10.0.0.1 vs_count=$COUNT vs_interval=0.1 vs_linger=60" \
	--vhost-user "$LAB_RUN/v2.sock"
lab_guest_agent va 90 || fail "guest va: agent did not come up"
say "vhost-user guests booted in $((SECONDS - t))s"
guest_ping va 10.0.0.2 $COUNT 0.1
guest_ping_result vb $COUNT
# Guests before the back-end.
lab_guest_stop va
lab_guest_stop vb
kill "$testpmd_pid"
wait "$testpmd_pid" || true
testpmd_pid=""
say "vhost-user phase in $((SECONDS - t))s"
say "PASS in $((SECONDS - VS_T0))s"
