#!/usr/bin/env bash
# Proves the guest lab itself, without vswitchd: two TCG guests (6.1 kernel,
# busybox initramfs) wired by QEMU's own -netdev stream over a UNIX socket ping
# each other, one driven through the control serial, the other stand-alone.
# When a vswitchd test with guests fails and this one passes, look at the
# switch, not at the lab.
set -euo pipefail
. "$(dirname "$0")/common.sh"

lab_require_root
lab_require_qemu
lab_require_cmd cpio modinfo xz
lab_kernel 6.1
lab_setup

cleanup() {
	local rc=$?
	lab_guest_stop_all
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

lab_guest_exec la 60 ". /lib/lab.sh; lab_ping_probe 10.0.0.2 50" || fail "la: no reply from lb"
lab_guest_exec la 60 "ping -c $COUNT -i 0.1 -W 2 10.0.0.2" >"$LAB_RUN/la.ping" || true
read -r sent recv <<<"$(ping_counts "$LAB_RUN/la.ping")"
[ "${sent:-0}" -eq $COUNT ] && [ "${recv:-0}" -eq $COUNT ] ||
	{ cat "$LAB_RUN/la.ping"; fail "la -> lb: sent=${sent:-?} received=${recv:-?}"; }
pass "la -> lb: $recv/$sent"
line=$(lab_guest_wait lb '^PING-RESULT ' 60) || fail "lb printed no PING-RESULT"
[ "$line" = "PING-RESULT peer=10.0.0.1 sent=$COUNT received=$COUNT" ] || fail "lb: '$line'"
pass "lb -> la: $line"

lab_guest_exec la 10 exit >/dev/null || true
lab_guest_waitexit la 20 || fail "guest la did not power off after the agent's exit"
pass "guest powers off and QEMU exits (-no-reboot)"
say "PASS in $((SECONDS - VS_T0))s"
