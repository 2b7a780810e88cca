#!/usr/bin/env bash
# Socket files in a directory others may write to: vswitchd starts under a
# ptrace helper (symlink_race) that, right after each bind(), replaces what the
# bind created in that directory (and any directory that appeared there) by a
# symlink to a victim file, as a local attacker racing vswitchd would. The
# victim's mode and owner must not change, and the control socket and both
# vhost-user server sockets must still end up as sockets with their modes,
# accepting connections.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_root
lab_require_cmd python3 stat
VS_SYMLINK_RACE=${VS_SYMLINK_RACE:-$VS_BUILD_DIR/test/integration/symlink_race}
[ -x "$VS_SYMLINK_RACE" ] || fail "no symlink_race helper at $VS_SYMLINK_RACE (build first)"

work=$(mktemp -d "${TMPDIR:-/tmp}/vs-sock-race.XXXXXX")
shared=$work/shared
victim=$work/victim
tracer_pid=""
cleanup() {
	if [ -n "$tracer_pid" ]; then
		kill -KILL "$tracer_pid" 2>/dev/null || true # takes vswitchd with it (EXITKILL)
		wait "$tracer_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -m 0777 "$shared"
echo "secret" >"$victim"
chmod 0600 "$victim"
victim_before=$(stat -c '%a %u %g' "$victim")

cat >"$work/vs.yaml" <<EOF
pollers:
  cpus: [1]
memory:
  hugepage_size: none
  buffers: 1024
control:
  socket: $shared/ctl.sock
  mode: 0666
  group: nogroup
ports:
  - name: vm1
    type: vhost-user
    path: $shared/vm1.sock
  - name: vm2
    type: vhost-user
    path: $shared/vm2.sock
EOF
VS_SOCK=$shared/ctl.sock
VS_LOG=$work/vswitchd.log
"$VS_SYMLINK_RACE" "$shared" "$victim" "$work/pid" -- "$VSWITCHD" -c "$work/vs.yaml" >"$VS_LOG" 2>&1 &
tracer_pid=$!
deadline=$((SECONDS + 30))
until [ -S "$VS_SOCK" ] && vs_ctl --timeout 2 version >/dev/null 2>&1; do
	kill -0 "$tracer_pid" 2>/dev/null || break
	[ $SECONDS -lt $deadline ] || break
	sleep 0.1
done
cat "$VS_LOG"
ls -la "$shared"

swaps=$(grep -c '^symlink_race: swapped ' "$VS_LOG" || true)
[ "$swaps" -ge 1 ] || fail "the helper swapped nothing: the race was not played"
pass "the helper swapped $swaps entries right after bind()"
victim_after=$(stat -c '%a %u %g' "$victim")
[ "$victim_after" = "$victim_before" ] ||
	fail "the victim's mode/owner/group changed: '$victim_before' -> '$victim_after'"
pass "the victim file kept mode/uid/gid $victim_before"

kill -0 "$tracer_pid" 2>/dev/null || fail "vswitchd did not start"
vs_ctl version >/dev/null || fail "vswitchctl cannot reach $VS_SOCK"
for s in ctl.sock:666 vm1.sock:660 vm2.sock:660; do
	f=$shared/${s%%:*}
	[ -S "$f" ] && [ ! -L "$f" ] || fail "$f is not a socket"
	[ "$(stat -c %a "$f")" = "${s#*:}" ] || fail "$f has mode $(stat -c %a "$f"), expected ${s#*:}"
done
[ "$(stat -c %G "$shared/ctl.sock")" = nogroup ] || fail "ctl.sock is not in group nogroup"
python3 -c 'import socket, sys
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(p); s.close()' \
	"$shared/vm1.sock" "$shared/vm2.sock" || fail "a vhost-user socket does not accept connections"
pass "ctl.sock (0666, nogroup), vm1.sock and vm2.sock (0660) are vswitchd's sockets and accept"

kill -TERM "$(cat "$work/pid")"
rc=0
wait "$tracer_pid" || rc=$?
tracer_pid=""
[ $rc -eq 0 ] || fail "vswitchd exited with $rc"
for f in ctl.sock vm1.sock vm2.sock; do
	[ ! -e "$shared/$f" ] || fail "$f left behind after exit"
done
pass "clean exit, socket files removed"
say "PASS in $((SECONDS - VS_T0))s"
