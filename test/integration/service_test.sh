#!/usr/bin/env bash
# vswitchd as systemd runs it, with systemd's two interfaces played by the test:
#   (a) NOTIFY_SOCKET: a datagram socket the test listens on. READY=1 comes
#       once, after the configured ports are up and the control socket answers
#       (the listener asks it the moment READY arrives), with a STATUS= line;
#       STOPPING=1 comes on SIGTERM, and vswitchd exits 0;
#   (b) JOURNAL_STREAM naming stderr: every line carries its priority ("<6>"
#       info, "<4>" warning); a refused config is a "<3>" line, exit status 2;
#   (c) the repeat limit: 25 identical warnings (a refused add-port) give
#       VS_LOG_REPEAT_MAX (10) lines and one "suppressed 15 messages" line at exit.
# Skipped outside CI when the build has no sd_notify (no libsystemd).
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_cmd python3
[[ $("$VSWITCHD" --generate man) == *Type=notify* ]] ||
	lab_skip "vswitchd built without libsystemd (no sd_notify): install libsystemd-dev and rebuild"

work=$(mktemp -d "${TMPDIR:-/tmp}/vs-service.XXXXXX")
listener=""
cleanup() {
	vs_kill
	# wait reports the listener's SIGTERM: not the test's failure.
	if [ -n "$listener" ]; then
		kill "$listener" 2>/dev/null
		wait "$listener" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/vs.yaml" <<EOF
pollers:
  cpus: [1]
memory:
  hugepage_size: none
  buffers: 1024
  large_buffers: 0
control:
  socket: $work/vswitchd.sock
ports:
  - {name: svc-a, type: vhost-user, path: $work/a.sock}
  - {name: svc-b, type: vhost-user, path: $work/b.sock}
EOF

# The notify listener: prints each datagram as one line (newlines as |); at
# READY=1 it runs list-ports on the control socket and prints what it got.
python3 - "$work/notify.sock" "$VSWITCHCTL" "$work/vswitchd.sock" >"$work/notify.log" 2>&1 <<'EOF' &
import socket, subprocess, sys
path, ctl, sock = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
print("listening", flush=True)
while True:
    msg = s.recv(4096).decode()
    print("notify: " + msg.replace("\n", "|"), flush=True)
    if "READY=1" in msg.split("\n"):
        r = subprocess.run([ctl, "-s", sock, "--timeout", "5", "list-ports"],
                           capture_output=True, text=True)
        names = sorted(l.split()[0] for l in r.stdout.splitlines()[1:] if l.strip())
        print("at-ready: rc=%d ports=%s" % (r.returncode, ",".join(names)), flush=True)
EOF
listener=$!
for _ in $(seq 50); do grep -q listening "$work/notify.log" && break; sleep 0.1; done
grep -q listening "$work/notify.log" || fail "the notify listener did not start: $(cat "$work/notify.log")"

# start_journal CONFIG: vswitchd with stderr to $VS_LOG and JOURNAL_STREAM naming it.
start_journal() {
	: >"$VS_LOG"
	exec 3>>"$VS_LOG"
	local stream
	stream=$(stat -L -c '%d:%i' "$VS_LOG")
	NOTIFY_SOCKET=$work/notify.sock JOURNAL_STREAM=$stream "$VSWITCHD" -c "$1" 2>&3 >&3 &
	VS_PID=$!
	exec 3>&-
}

# --- (b) a refused config: a priority-3 line, exit 2, no READY ----------------
printf 'fdb:\n  size: 12\n' >"$work/bad.yaml"
VS_LOG=$work/bad.log
start_journal "$work/bad.yaml"
wait "$VS_PID" && rc=0 || rc=$?
VS_PID=""
[ "$rc" = 2 ] || fail "a refused config exited with $rc, expected 2"
grep -q "^<3>$work/bad.yaml:2:9: fdb.size: " "$VS_LOG" || fail "no <3>FILE:LINE:COL line: $(cat "$VS_LOG")"
! grep -q READY "$work/notify.log" || fail "READY=1 sent for a refused config"
pass "a refused config: one <3> line with its place, exit 2, never ready"

# --- (a) readiness ---------------------------------------------------------------
VS_LOG=$work/vswitchd.log
VS_SOCK=$work/vswitchd.sock
start_journal "$work/vs.yaml"
for _ in $(seq 200); do grep -q '^at-ready:' "$work/notify.log" && break; sleep 0.1; done
grep -q '^at-ready:' "$work/notify.log" || fail "no READY=1 within 20 s: $(cat "$work/notify.log")"
grep -q '^notify: READY=1|STATUS=2 ports, 1 pollers, control socket ' "$work/notify.log" ||
	fail "READY=1 without the expected STATUS: $(cat "$work/notify.log")"
grep -q '^at-ready: rc=0 ports=svc-a,svc-b$' "$work/notify.log" ||
	fail "at READY=1 the control socket did not list both ports: $(grep at-ready "$work/notify.log")"
[ "$(grep -c 'READY=1' "$work/notify.log")" = 1 ] || fail "READY=1 sent more than once"
pass "READY=1 once, after the ports are up and the control socket answers"

# --- (c) repeated warnings ---------------------------------------------------------
for _ in $(seq 25); do
	vs_ctl add-port svc-bad tap ifname=vs-svc-bad mtu=1 >/dev/null 2>&1 && fail "mtu=1 was accepted"
done
vs_stop
[ "$VS_RC" = 0 ] || fail "vswitchd exited with $VS_RC after SIGTERM"
grep -q '^notify: STOPPING=1' "$work/notify.log" || fail "no STOPPING=1: $(cat "$work/notify.log")"
pass "STOPPING=1 on SIGTERM, exit 0"

n=$(grep -c '^<4>add-port svc-bad: ' "$VS_LOG" || true)
[ "$n" = 10 ] || fail "$n lines of the repeated warning written, expected 10"
grep -q '^<4>suppressed 15 messages like: add-port svc-bad: ' "$VS_LOG" ||
	fail "no 'suppressed 15 messages' line: $(grep -c . "$VS_LOG") lines"
pass "25 identical warnings: 10 lines and one 'suppressed 15 messages' line"

grep -q '^<6>vswitchd .*: config ' "$VS_LOG" || fail "no <6> start-up line"
bad=$(grep -cv '^<[3467]>' "$VS_LOG" || true)
[ "$bad" = 0 ] || fail "$bad lines without a priority prefix: $(grep -v '^<[3467]>' "$VS_LOG" | head -3)"
pass "every line in the journal stream has a priority"
