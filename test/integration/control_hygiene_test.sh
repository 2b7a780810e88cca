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

IDLE=2
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
# 64 clients connect and stay silent; the helper prints READY, then waits for
# the server to close each one and prints how long that took.
python3 - "$VS_SOCK" >"$work/idle.out" 2>&1 <<'EOF' &
import socket, sys, time, select
socks = []
for i in range(64):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    socks.append(s)
t0 = time.monotonic()
print("READY", flush=True)
open_ = set(socks)
while open_ and time.monotonic() - t0 < 30:
    r, _, _ = select.select(list(open_), [], [], 1)
    for s in r:
        if s.recv(4096) == b"":
            open_.discard(s)
print("CLOSED %d of 64 after %.1f s" % (64 - len(open_), time.monotonic() - t0), flush=True)
EOF
idle_pid=$!
deadline=$((SECONDS + 10))
until grep -q READY "$work/idle.out"; do
	[ $SECONDS -lt $deadline ] || fail "the idle clients could not connect: $(cat "$work/idle.out")"
	sleep 0.05
done
t0=$(date +%s.%N)
# While they are there (well before the timeout) a new client is refused.
# (The refusal comes unasked: read it without sending, which could hit EPIPE.)
reply=$(python3 - "$VS_SOCK" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(2)
s.connect(sys.argv[1])
try:
    print(s.recv(4096).decode().strip())
except socket.timeout:
    print("no reply within 2 s")
EOF
)
echo "65th client: $reply"
[[ $reply == *EBUSY* ]] || fail "a 65th client was not refused while 64 idle clients held the slots"
pass "a 65th client is refused while 64 idle ones are connected"
ok=0
while :; do
	if vs_ctl --timeout 1 version >/dev/null 2>&1; then
		ok=1
		break
	fi
	awk -v t0="$t0" -v now="$(date +%s.%N)" -v lim=$((IDLE + 2)) 'BEGIN { exit !(now - t0 > lim) }' && break
	sleep 0.1
done
waited=$(awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { printf "%.1f", now - t0 }')
[ $ok -eq 1 ] || fail "vswitchctl still refused ${waited}s after 64 clients went idle (idle_timeout $IDLE s)"
pass "vswitchctl got through ${waited}s after 64 clients went idle (idle_timeout ${IDLE}s)"
wait "$idle_pid" || true
cat "$work/idle.out"
grep -q "CLOSED 64 of 64" "$work/idle.out" || fail "the server did not close all idle clients"
pass "all 64 idle clients were closed"

vs_stop 5
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
say "PASS in $((SECONDS - VS_T0))s"
