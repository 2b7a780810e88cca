#!/usr/bin/env bash
# The control socket against hostile local clients:
#   (a) a port name from the socket is checked like one from the config file: a
#       name with a newline (which would forge a log line) or a space is refused
#       with EINVAL, and no text a client sends can start a line of the log;
#   (b) 64 clients that connect and then say nothing hold every slot only for
#       control.idle_timeout: a new vswitchctl is refused while they are there
#       and gets through within the timeout (plus the check period) after.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_root
lab_require_cmd python3

IDLE=3
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-ctl-hyg.XXXXXX")
cleanup() {
	vs_kill
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/vs.yaml" <<EOF
pollers:
  cpus: [1]
memory:
  hugepage_size: none
  buffers: 1024
control:
  socket: $work/vswitchd.sock
  idle_timeout: $IDLE
ports: []
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vs.yaml"

# request JSON-LINE: one raw request, prints the reply line.
request() {
	python3 - "$VS_SOCK" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.decode().strip())
EOF
}

# --- (a) names ------------------------------------------------------------------
forged='vswitchd: error: FORGED'
for name in "a\\n$forged-name" 'has space' 'semi;colon' '' "$(printf 'x%.0s' {1..32})"; do
	reply=$(request "{\"command\":\"add-port\",\"params\":{\"name\":\"$name\",\"type\":\"nosuch\"}}")
	echo "add-port '$name' -> $reply"
	[[ $reply == *'"ok": false'* || $reply == *'"ok":false'* ]] || fail "add-port '$name' was not refused"
	[[ $reply == *'"code":"EINVAL"'* || $reply == *'"code": "EINVAL"'* ]] ||
		fail "add-port '$name': expected EINVAL (invalid name), got: $reply"
	[[ $reply == *"not a valid port name"* ]] || fail "add-port '$name': the message does not name the rule"
done
pass "invalid port names refused with EINVAL"
# A valid name with a hostile type: the type reaches the log quoted, on one line.
reply=$(request "{\"command\":\"add-port\",\"params\":{\"name\":\"ok1\",\"type\":\"t\\n$forged-type\\r\\u001b[2J\"}}")
echo "add-port ok1 with a newline in its type -> $reply"
[[ $reply == *ENOENT* ]] || fail "add-port with an unknown type: expected ENOENT, got: $reply"
vs_ctl version >/dev/null || fail "vswitchd stopped answering"
cat "$VS_LOG"
if grep -q "^$forged" "$VS_LOG"; then
	fail "a client forged a log line"
fi
if grep -q $'\e' "$VS_LOG"; then
	fail "a client's escape sequence reached the log"
fi
pass "no client text starts a log line or reaches it raw"

# --- (b) idle clients ------------------------------------------------------------
# 64 clients connect and stay silent; at once a 65th must be refused; then
# vswitchctl is retried until it gets through, and the 64 must have been closed.
python3 - "$VS_SOCK" "$VSWITCHCTL" "$IDLE" >"$work/idle.out" 2>&1 <<'EOF' || true
import socket, subprocess, sys, time
path, ctl, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
socks = []
for i in range(64):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    socks.append(s)
t0 = time.monotonic()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(idle - 0.5)
s.connect(path)
try:
    # The refusal comes unasked: read it without sending (which could hit EPIPE).
    print("65TH %s after %.1f s" % (s.recv(4096).decode().strip(), time.monotonic() - t0))
except socket.timeout:
    print("65TH no reply")
s.close()
# vswitchctl refused the same way says why (not "Broken pipe").
r = subprocess.run([ctl, "-s", path, "--timeout", "1", "version"], capture_output=True)
print("CTL %d %s" % (r.returncode, r.stderr.decode().strip().replace("\n", " ")))
while True:
    r = subprocess.run([ctl, "-s", path, "--timeout", "1", "version"], capture_output=True)
    if r.returncode == 0:
        print("THROUGH after %.1f s" % (time.monotonic() - t0))
        break
    if time.monotonic() - t0 > idle + 5:
        print("STILL REFUSED after %.1f s: %s" % (time.monotonic() - t0, r.stderr.decode().strip()))
        break
    time.sleep(0.1)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        closed += s.recv(4096) == b""
    except BlockingIOError:
        pass
print("CLOSED %d of 64" % closed)
EOF
cat "$work/idle.out"
grep -q '^65TH .*EBUSY' "$work/idle.out" ||
	fail "a 65th client was not refused while 64 idle clients held the slots"
pass "a 65th client is refused while 64 idle ones are connected"
grep -q '^CTL [1-9].*too many control clients' "$work/idle.out" ||
	fail "vswitchctl refused while the slots were full did not print the daemon's reason"
pass "vswitchctl refused while the slots are full prints the daemon's reason"
line=$(grep '^THROUGH after' "$work/idle.out") ||
	fail "vswitchctl still refused $((IDLE + 5))s after 64 clients went idle (idle_timeout ${IDLE}s)"
# The check runs every timeout/4 (at most every second): through by 1.25 x
# the timeout, plus slack for a loaded machine (vswitchctl's own start-up).
waited=${line#THROUGH after }
waited=${waited% s}
awk -v w="$waited" -v lim="$IDLE" 'BEGIN { exit !(w >= lim - 0.2 && w <= lim * 1.25 + 3) }' ||
	fail "vswitchctl got through after ${waited}s; expected between ${IDLE} and $(awk -v l="$IDLE" 'BEGIN { print l * 1.25 + 3 }') s"
pass "vswitchctl got through ${waited}s after 64 clients went idle (idle_timeout ${IDLE}s)"
grep -q "CLOSED 64 of 64" "$work/idle.out" || fail "the server did not close all idle clients"
pass "all 64 idle clients were closed"

vs_stop 5
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
say "PASS in $((SECONDS - VS_T0))s"
