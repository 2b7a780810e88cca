#!/usr/bin/env bash
# The Prometheus endpoint (control.metrics): scraped twice with curl around a
# ping, every line is valid text exposition (HELP and TYPE before the samples,
# names, labels and values well formed), the families the README lists are
# there, and every counter is monotonic (the pinging port's rx counter grew).
# Hostile clients: a slow request is cut at the timeout, a huge head gets 431,
# garbage gets 400, more clients than allowed are closed, and scrapes keep
# working throughout.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd curl ping python3

sfx=$$
ns1=vs-metn1-$sfx
ns2=vs-metn2-$sfx
t1=vs-mett1-$sfx
t2=vs-mett2-$sfx
run=/run/vswitch-metrics-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-metrics.XXXXXX")
port=$((20000 + sfx % 20000))
url=http://127.0.0.1:$port/metrics

cleanup() {
	vs_kill
	ip netns del "$ns1" 2>/dev/null || true
	ip netns del "$ns2" 2>/dev/null || true
	ip link del "$t1" 2>/dev/null || true
	ip link del "$t2" 2>/dev/null || true
	rm -rf "$run" "$work"
}
trap cleanup EXIT

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
  metrics: 127.0.0.1:$port
ports:
  - {name: one, type: tap, ifname: $t1}
  - {name: two, type: tap, ifname: $t2}
EOF
vs_start "$work/vswitchd.yaml"
for n in 1 2; do
	ns=vs-metn$n-$sfx
	t=vs-mett$n-$sfx
	ip netns add "$ns"
	ip link set "$t" netns "$ns"
	ip -n "$ns" addr add "10.97.0.$n/24" dev "$t"
	ip -n "$ns" link set "$t" up
done

# check.py FILE [EARLIER]: validates the exposition in FILE and prints
# "SERIES VALUE" lines; with EARLIER, every counter must be >= its value there.
cat >"$work/check.py" <<'EOF'
import re, sys
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r'^(%s)(\{%s(?:,%s)*\})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|[+-]Inf)$' % (NAME, LABEL, LABEL))
HELP = re.compile(r'^# HELP (%s) (.*)$' % NAME)
TYPE = re.compile(r'^# TYPE (%s) (counter|gauge|untyped|summary|histogram)$' % NAME)
def parse(path):
    text = open(path).read()
    assert text.endswith('\n'), 'no final newline'
    types, helps, series = {}, set(), {}
    for n, line in enumerate(text.split('\n')[:-1], 1):
        m = HELP.match(line)
        if m:
            assert m.group(1) not in helps, 'line %d: second HELP for %s' % (n, m.group(1))
            helps.add(m.group(1))
            continue
        m = TYPE.match(line)
        if m:
            assert m.group(1) not in types, 'line %d: second TYPE for %s' % (n, m.group(1))
            types[m.group(1)] = m.group(2)
            continue
        m = SAMPLE.match(line)
        assert m, 'line %d is not exposition format: %r' % (n, line)
        name = m.group(1)
        assert name in types, 'line %d: %s has no TYPE before it' % (n, name)
        assert name in helps, 'line %d: %s has no HELP' % (n, name)
        if types[name] == 'counter':
            assert name.endswith('_total'), '%s: a counter not named _total' % name
        key = name + (m.group(2) or '')
        assert key not in series, 'line %d: %s twice' % (n, key)
        series[key] = (types[name], float(m.group(3)))
    return series
now = parse(sys.argv[1])
if len(sys.argv) > 2:
    before = parse(sys.argv[2])
    for key, (kind, v) in before.items():
        if kind == 'counter' and key in now:
            assert now[key][1] >= v, '%s went down: %s -> %s' % (key, v, now[key][1])
for key, (kind, v) in sorted(now.items()):
    print(key, int(v))
EOF

scrape() { curl -sS --max-time 5 -o "$1" -w '%{http_code} %{content_type}\n' "$url"; }
out=$(scrape "$work/m1.txt")
[ "${out%% *}" = 200 ] || fail "scrape: $out"
case "$out" in *"text/plain; version=0.0.4"*) ;; *) fail "content type: $out" ;; esac
python3 "$work/check.py" "$work/m1.txt" >"$work/s1.txt" || fail "the first scrape is not valid exposition"
pass "scrape 1: $(grep -c . "$work/m1.txt") lines of valid exposition (text/plain; version=0.0.4)"
for want in 'vswitch_port_rx_packets_total{port="one",type="tap"}' \
	'vswitch_port_tx_bytes_total{port="two",type="tap"}' \
	'vswitch_port_drops_total{port="one",type="tap",reason="bad_source_mac"}' \
	'vswitch_poller_busy_cycles_total{poller="0",cpu="1"}' \
	'vswitch_fdb_entries' 'vswitch_pool_buffers_in_use{pool="small"}' 'vswitch_pool_buffers{pool="small"}'; do
	grep -qF "$want " "$work/s1.txt" || fail "no $want in the scrape"
done
pass "ports (rx/tx packets and bytes, drops by reason), pollers, fdb and pool families are there"

ip netns exec "$ns1" ping -q -c 20 -i 0.05 10.97.0.2 >"$work/ping.txt" || fail "ping through the switch: $(cat "$work/ping.txt")"
out=$(scrape "$work/m2.txt")
[ "${out%% *}" = 200 ] || fail "scrape 2: $out"
python3 "$work/check.py" "$work/m2.txt" "$work/m1.txt" >"$work/s2.txt" || fail "scrape 2 invalid, or a counter went down"
key='vswitch_port_rx_packets_total{port="one",type="tap"}'
a=$(grep -F "$key " "$work/s1.txt" | cut -d' ' -f2)
b=$(grep -F "$key " "$work/s2.txt" | cut -d' ' -f2)
[ "$b" -ge $((a + 20)) ] || fail "$key: $a -> $b after 20 pings"
fdb=$(grep '^vswitch_fdb_entries ' "$work/s2.txt" | cut -d' ' -f2)
[ "$fdb" -ge 2 ] || fail "vswitch_fdb_entries $fdb after a ping between two stations"
pass "scrape 2: valid, every counter monotonic, $key $a -> $b, fdb entries $fdb"

# --- hostile clients ------------------------------------------------------------
cat >"$work/hostile.py" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    return s
def status(s):
    data = b''
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    return data.split(b'\r\n', 1)[0].decode()
# A head of 10 KiB that never ends: 431, and the connection closes.
s = conn()
s.sendall(b'GET /metrics HTTP/1.1\r\nX-Filler: ' + b'a' * 10000)
line = status(s)
assert line.startswith('HTTP/1.1 431'), line
print('huge head:', line)
# Garbage.
s = conn()
s.sendall(b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + b'\0' * 40 + b'\r\n\r\n')
line = status(s)
assert line.startswith('HTTP/1.1 400'), line
print('garbage:', line)
# A slow client (a byte every 0.3 s) is closed at the timeout (5 s).
s = conn()
t0 = time.time()
closed = None
for b in b'GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: ' + b'x' * 100:
    try:
        s.send(bytes([b]))
        s.settimeout(0.3)
        if s.recv(1) == b'':
            closed = time.time() - t0
            break
    except socket.timeout:
        pass
    except (BrokenPipeError, ConnectionResetError):
        closed = time.time() - t0
        break
assert closed is not None and 4 <= closed <= 8, 'slow client closed after %s s' % closed
print('slow client closed after %.1f s' % closed)
# More clients than allowed: the extra ones are closed at once, the others at
# the timeout; none is answered without a request.
socks = [conn() for _ in range(24)]
time.sleep(0.5)
early = 0
for c in socks:
    c.settimeout(0.05)
    try:
        if c.recv(1) == b'':
            early += 1
    except socket.timeout:
        pass
assert early >= 8, '%d of 24 idle connections closed at once' % early
print('%d of 24 idle connections refused at once' % early)
for c in socks:
    c.close()
EOF
python3 "$work/hostile.py" "$port" & hostile=$!
sleep 1
out=$(scrape "$work/m3.txt")
[ "${out%% *}" = 200 ] || fail "scrape during the hostile clients: $out"
pass "a scrape while a slow client holds a connection"
wait "$hostile" || fail "hostile clients (see above)"
pass "huge head 431, garbage 400, slow client cut at the timeout, extra clients closed"
sleep 5.5 # the idle ones reach their timeout
out=$(scrape "$work/m4.txt")
[ "${out%% *}" = 200 ] || fail "scrape after the hostile clients: $out"
python3 "$work/check.py" "$work/m4.txt" "$work/m2.txt" >/dev/null || fail "scrape 4 invalid or not monotonic"
pass "scrapes work after them, counters still monotonic"

vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
