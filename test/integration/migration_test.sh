#!/usr/bin/env bash
# Live migration of a vhost-user guest between two ports of one vswitchd:
# guest "a" (port vm1) pings guest "b" all along while b's QEMU migrates it
# over a UNIX socket to a second QEMU (-incoming) whose NIC is port vm3
# instead of vm2. Checked from outside:
#   - dirty logging: vm2 negotiated LOG_ALL and mapped the log (show vm2)
#     while the migration ran;
#   - RARP: vm3 sent the frame QEMU asked for with SEND_RARP (show vm3), and
#     the forwarding table now has b's MAC on vm3 (fdb show);
#   - at most MAX_LOST of the pings sent every 0.1 s are lost;
#   - b still answers afterwards, through vm3; vswitchd exits 0 on SIGTERM.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_root
lab_require_qemu
lab_require_cmd python3
lab_kernel 6.1

MAX_LOST=${MIGRATION_MAX_LOST:-10}
MAC_A=52:54:00:77:00:01
MAC_B=52:54:00:77:00:02
run=/run/vswitch-test-mig-$$
lab_setup
mkdir -p "$run"

trap 'vs_guest_cleanup "$run"' EXIT

# hmp SOCKET COMMAND: one human-monitor command, prints its output.
hmp() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        d = s.recv(65536)
        if not d:
            break
        buf += d
    return buf.decode(errors="replace")
until_prompt()
s.sendall(sys.argv[2].encode() + b"\n")
out = until_prompt()
# The monitor echoes the command line first.
lines = out.replace("\r", "").split("\n")[1:-1]
print("\n".join(lines))
EOF
}

lab_initramfs "$LAB_RUN/ping.cpio.gz" -i "$VS_LAB/init-ping.sh" -m virtio_net -m virtio_pci

cat >"$LAB_RUN/vs.yaml" <<EOF
pollers:
  cpus: [1]
memory:
  hugepage_size: none
  buffers: 4096
control:
  socket: $run/vswitchd.sock
ports:
  - name: vm1
    type: vhost-user
    path: $run/vm1.sock
  - name: vm2
    type: vhost-user
    path: $run/vm2.sock
  - name: vm3
    type: vhost-user
    path: $run/vm3.sock
EOF
VS_LOG=$LAB_RUN/vswitchd.log
vs_start "$LAB_RUN/vs.yaml"

t=$SECONDS
lab_guest_start a --initrd "$LAB_RUN/ping.cpio.gz" --ctl \
	--append "vs_ip=10.0.0.1/24 vs_mode=agent" --vhost-user "$run/vm1.sock,mac=$MAC_A"
# b answers pings; after its own short count it just stays up (linger).
b_append="vs_ip=10.0.0.2/24 vs_peer=10.0.0.1 vs_count=2 vs_interval=0.2 vs_linger=600"
lab_guest_start b --initrd "$LAB_RUN/ping.cpio.gz" --append "$b_append" \
	--vhost-user "$run/vm2.sock,mac=$MAC_B" \
	--qemu -monitor --qemu "unix:$LAB_RUN/b.mon,server=on,wait=off"
# The destination: the same machine, waiting for the migration stream.
lab_guest_start b2 --initrd "$LAB_RUN/ping.cpio.gz" --append "$b_append" \
	--vhost-user "$run/vm3.sock,mac=$MAC_B" \
	--qemu -monitor --qemu "unix:$LAB_RUN/b2.mon,server=on,wait=off" \
	--qemu -incoming --qemu "unix:$LAB_RUN/migrate.sock"
lab_guest_agent a 90 || fail "guest a did not boot"
lab_guest_wait b '^PING-RESULT ' 90 >/dev/null || fail "guest b did not come up"
say "guests up in $((SECONDS - t))s"
lab_guest_exec a 60 ". /lib/lab.sh; lab_ping_probe 10.0.0.2 50" >/dev/null ||
	fail "a gets no reply from b before the migration"
vs_ctl fdb show | tee "$LAB_RUN/fdb0.out"
grep -qiE "$MAC_B +vm2( |$)" "$LAB_RUN/fdb0.out" || fail "b's MAC is not on vm2 before the migration"

# Pings every 0.1 s across the migration; busybox prints its totals on SIGINT.
lab_guest_exec a 10 "ping -i 0.1 -W 1 10.0.0.2 >/tmp/mig.ping 2>&1 & echo \$! >/tmp/ping.pid" ||
	fail "cannot start the ping in a"
sleep 1

# Watch vm2 while the migration runs: dirty logging must be switched on.
(
	while :; do
		vs_ctl --json show vm2 2>/dev/null | tr -d '\n' | sed 's/$/\n/'
		sleep 0.1
	done
) >"$LAB_RUN/vm2-show.log" &
watch_pid=$!

t_mig=$SECONDS
hmp "$LAB_RUN/b.mon" "migrate -d unix:$LAB_RUN/migrate.sock" | tee "$LAB_RUN/migrate.out"
status=""
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
	status=$(hmp "$LAB_RUN/b.mon" "info migrate" | sed -n 's/^Migration status: *//p' | head -n1)
	case $status in completed | failed | cancelled) break ;; esac
	sleep 0.2
done
hmp "$LAB_RUN/b.mon" "info migrate" >"$LAB_RUN/info-migrate.out" || true
[ "$status" = completed ] || { cat "$LAB_RUN/info-migrate.out"; fail "migration status '$status'"; }
grep -E "^(total time|downtime|transferred ram)" "$LAB_RUN/info-migrate.out" || true
b2_status=$(hmp "$LAB_RUN/b2.mon" "info status")
[[ $b2_status == *running* ]] || fail "the destination is not running: $b2_status"
pass "migration completed in $((SECONDS - t_mig))s; destination: $b2_status"
sleep 3
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true

lab_guest_exec a 10 "kill -INT \$(cat /tmp/ping.pid); sleep 1; cat /tmp/mig.ping" >"$LAB_RUN/mig.ping" || true
tail -n 3 "$LAB_RUN/mig.ping"
read -r sent recv <<<"$(ping_counts "$LAB_RUN/mig.ping")"
[ -n "${sent:-}" ] && [ "${sent:-0}" -gt 20 ] || fail "the ping across the migration did not run (sent=${sent:-?})"
lost=$((sent - recv))
[ $lost -le "$MAX_LOST" ] || fail "$lost of $sent pings lost across the migration (at most $MAX_LOST allowed)"
pass "$lost of $sent pings (every 0.1 s) lost across the migration"

grep -q '"dirty_log": *true' "$LAB_RUN/vm2-show.log" ||
	fail "vm2 never showed dirty_log true during the migration"
grep -q '"LOG_ALL"' "$LAB_RUN/vm2-show.log" || fail "vm2 never negotiated LOG_ALL during the migration"
pass "vm2 logged dirty pages (LOG_ALL negotiated, log mapped) during the migration"

vs_ctl --json show vm3 >"$LAB_RUN/vm3.json"
rarps=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["details"]["rarp_sent"])' "$LAB_RUN/vm3.json")
[ "$rarps" -ge 1 ] || fail "vm3 sent no RARP frame for the migrated guest"
pass "vm3 sent $rarps RARP frame(s)"
vs_ctl fdb show | tee "$LAB_RUN/fdb1.out"
grep -qiE "$MAC_B +vm3( |$)" "$LAB_RUN/fdb1.out" || fail "the fdb does not have b's MAC on vm3"
pass "the fdb has b's MAC on vm3"
guest_ping a 10.0.0.2 10 0.1

lab_guest_stop a
lab_guest_stop b
lab_guest_stop b2
vs_stop 5
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
say "PASS in $((SECONDS - VS_T0))s"
