#!/usr/bin/env bash
# TAP ports with offloads: three network namespaces on one vswitchd, ns1 and ns2
# through TAP ports with offloads on and MTU 9000, ns3 through a TAP port with
# offloads=off (a plain TAP device, so segments from ns1 are cut by the switch).
# Checks what the kernel reports (ethtool -k, MTU), iperf3 TCP both ways between
# ns1 and ns2 with frames longer than 1514 bytes crossing the switch (its byte
# counters and a capture in ns2), `ping -s 8972 -M do` both ways, a jumbo frame
# refused towards the 1500-byte port, and TCP to and from ns3: iperf3 completes
# and a 64 MiB stream arrives byte for byte (same length, same SHA-256); then
# TCP over IPv6 the same way.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd iperf3 ethtool tcpdump ping python3 timeout sha256sum

sfx=$$
ns1=vs-o1-$sfx
ns2=vs-o2-$sfx
ns3=vs-o3-$sfx
t1=vs-u1-$sfx
t2=vs-u2-$sfx
t3=vs-u3-$sfx
run=/run/vswitch-test-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-tap-offload.XXXXXX")
VS_CLEANUP_PATHS=("$run" "$work")
trap vs_cleanup EXIT

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
ports:
  - name: one
    type: tap
    ifname: $t1
    mtu: 9000
  - name: two
    type: tap
    ifname: $t2
    mtu: 9000
  - name: three
    type: tap
    ifname: $t3
    offloads: off
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

i=1
for pair in "$ns1 $t1" "$ns2 $t2" "$ns3 $t3"; do
	read -r ns t <<<"$pair"
	vs_netns_tap "$ns" "$t" "10.99.7.$i/24"
	i=$((i + 1))
done
pass "TAPs in $ns1 (10.99.7.1), $ns2 (10.99.7.2), $ns3 (10.99.7.3)"

# --- what the kernel reports ------------------------------------------------------
# feature NS DEV NAME: ethtool -k's on/off for one feature.
feature() {
	ip netns exec "$1" ethtool -k "$2" | awk -v f="$3:" '$1 == f { print $2 }'
}
for pair in "$ns1 $t1" "$ns2 $t2"; do
	read -r ns t <<<"$pair"
	for f in tx-checksumming tcp-segmentation-offload tx-tcp-segmentation tx-tcp6-segmentation \
		tx-tcp-ecn-segmentation; do
		v=$(feature "$ns" "$t" "$f")
		[ "$v" = on ] || { ip netns exec "$ns" ethtool -k "$t"; fail "$t: $f is '$v', expected on"; }
	done
	mtu=$(ip netns exec "$ns" cat "/sys/class/net/$t/mtu")
	[ "$mtu" -eq 9000 ] || fail "$t: mtu $mtu, expected 9000"
	# No frame of more segments than the switch cuts in software (128).
	segs=$(ip -n "$ns" -d link show dev "$t" | grep -o 'gso_max_segs [0-9]*' | cut -d' ' -f2)
	[ "$segs" = 128 ] || fail "$t: gso_max_segs is '$segs', expected 128"
done
pass "$t1, $t2: ethtool -k says checksum and TCP segmentation offloads on (IPv4, IPv6, ECN), mtu 9000, gso_max_segs 128"
if [ "$(uname -r | awk -F. '{ print ($1 > 6 || ($1 == 6 && $2 >= 2)) }')" = 1 ]; then
	v=$(feature "$ns1" "$t1" tx-udp-segmentation)
	[ "$v" = on ] || fail "$t1: tx-udp-segmentation is '$v' on Linux $(uname -r), expected on"
	pass "$t1: UDP segmentation offload on (Linux >= 6.2)"
fi
for f in tx-checksumming tcp-segmentation-offload; do
	v=$(feature "$ns3" "$t3" "$f")
	[ "$v" = off ] || fail "$t3 (offloads=off): $f is '$v', expected off"
done
mtu=$(ip netns exec "$ns3" cat "/sys/class/net/$t3/mtu")
[ "$mtu" -eq 1500 ] || fail "$t3: mtu $mtu, expected 1500"
pass "$t3 (offloads=off): checksum and segmentation offloads off, mtu 1500"

# show: the offloads in force and the mtu, as the kernel has them.
vs_ctl --json show one >"$work/show-one.json" || fail "show one failed"
vs_ctl --json show three >"$work/show-three.json" || fail "show three failed"
python3 - "$work/show-one.json" "$work/show-three.json" <<'EOF' || fail "show does not report the offloads and mtu in force"
import json, sys
one = json.load(open(sys.argv[1]))
three = json.load(open(sys.argv[2]))
assert one["mtu"] == 9000 and one["details"]["vnet_hdr"] is True, one
assert {"csum", "tso4", "tso6", "ecn"} <= set(one["tx_offloads"]), one
assert three["mtu"] == 1500 and three["details"]["vnet_hdr"] is False, three
assert three["tx_offloads"] == [], three
EOF
pass "show: one has tx_offloads $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(",".join(d["tx_offloads"]), "mtu", d["mtu"])' "$work/show-one.json"), three none"

deadline=$((SECONDS + 10))
until ip netns exec "$ns1" ping -c 1 -W 1 10.99.7.2 >/dev/null 2>&1 &&
	ip netns exec "$ns1" ping -c 1 -W 1 10.99.7.3 >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply from $ns2 and $ns3 within 10 s"
done

# --- jumbo frames -------------------------------------------------------------------
for dir in "$ns1 10.99.7.2" "$ns2 10.99.7.1"; do
	read -r ns peer <<<"$dir"
	ip netns exec "$ns" timeout 30 ping -c 5 -i 0.2 -W 2 -s 8972 -M 'do' "$peer" >"$work/jping.out" 2>&1 ||
		{ cat "$work/jping.out"; fail "ping -s 8972 -M 'do' $ns -> $peer failed"; }
	grep -q "5 received" "$work/jping.out" || { cat "$work/jping.out"; fail "ping -s 8972 -M 'do' $ns -> $peer lost replies"; }
	grep -q "8980 bytes from" "$work/jping.out" || { cat "$work/jping.out"; fail "no 8980-byte ICMP reply"; }
done
pass "ping -s 8972 -M 'do' (9014-byte frames) both ways between $ns1 and $ns2, 5/5"
# Towards the 1500-byte port the switch drops it: ns3's kernel would take it.
if ip netns exec "$ns1" timeout 10 ping -c 2 -i 0.2 -W 1 -s 8972 -M 'do' 10.99.7.3 >"$work/jping3.out" 2>&1; then
	cat "$work/jping3.out"
	fail "a 9014-byte frame reached the port with mtu 1500"
fi
pass "a 9014-byte frame towards the mtu-1500 port is dropped"

# --- TCP with offloads: ns1 <-> ns2 ---------------------------------------------------
# iperf_run NS SERVER_NS SERVER_IP NAME [-R]: 5 s of TCP; checks the run completed
# and sets $iperf_sum (Gbit/s received, bytes, retransmissions).
iperf_run() {
	local ns=$1 sns=$2 sip=$3 name=$4
	shift 4
	ip netns exec "$sns" iperf3 -s -1 -B "$sip" >"$work/iperf-server-$name.out" 2>&1 &
	VS_BG_PIDS+=($!)
	local deadline=$((SECONDS + 10))
	until ip netns exec "$sns" ss -ltnH 'sport = :5201' 2>/dev/null | grep -q .; do
		[ $SECONDS -lt $deadline ] || fail "iperf3 server in $sns did not start"
		sleep 0.1
	done
	if ! ip netns exec "$ns" timeout 60 iperf3 -c "$sip" -t 5 -J "$@" >"$work/iperf-$name.json" 2>&1; then
		cat "$work/iperf-$name.json"
		fail "iperf3 $name failed"
	fi
	iperf_sum=$(python3 - "$work/iperf-$name.json" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))["end"]
sent, recv = e["sum_sent"]["bytes"], e["sum_received"]["bytes"]
assert recv > 0 and sent > 0, (sent, recv)
print("%.2f Gbit/s, %d bytes sent, %d received, %d retransmissions" % (
    e["sum_received"]["bits_per_second"] / 1e9, sent, recv, e["sum_sent"].get("retransmits", 0)))
EOF
	) || { cat "$work/iperf-$name.json"; fail "iperf3 $name: no data received"; }
}

bytes_per_frame() { # PORT: rx_bytes / rx_packets from show
	vs_ctl --json show "$1" | python3 -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c["rx_bytes"] // max(c["rx_packets"], 1))'
}

# A capture in ns2 while ns1 sends: what the switch wrote to t2.
ip netns exec "$ns2" timeout 20 tcpdump -i "$t2" -nn -c 5 -w "$work/big.pcap" 'tcp and greater 2000' \
	>"$work/tcpdump.out" 2>&1 &
cap=$!
VS_BG_PIDS+=("$cap")
sleep 1
iperf_run "$ns1" "$ns2" 10.99.7.2 one-two
r=$iperf_sum
pass "iperf3 $ns1 -> $ns2 (offloads): $r"
say "THROUGHPUT tap-tap offloads iperf3 ${r%% Gbit/s*} Gbit/s ($ns1 -> $ns2)"
wait "$cap" || true
n=$(tcpdump -r "$work/big.pcap" -nn 2>/dev/null | wc -l)
[ "$n" -eq 5 ] || { cat "$work/tcpdump.out"; fail "tcpdump in $ns2 saw $n TCP frames over 2000 bytes, expected 5"; }
pass "tcpdump in $ns2: TCP frames over 2000 bytes came through the switch ($(tcpdump -r "$work/big.pcap" -nn 2>/dev/null | head -n1 | grep -o 'length [0-9]*'))"
bpf=$(bytes_per_frame one)
[ "$bpf" -gt 1514 ] || fail "port one received $bpf bytes per frame on average: no segment over 1514 bytes"
pass "port one: $bpf bytes per frame on average (TSO segments)"

iperf_run "$ns1" "$ns2" 10.99.7.2 two-one -R
r=$iperf_sum
pass "iperf3 $ns2 -> $ns1 (offloads): $r"
say "THROUGHPUT tap-tap offloads iperf3 ${r%% Gbit/s*} Gbit/s ($ns2 -> $ns1)"
bpf=$(bytes_per_frame two)
[ "$bpf" -gt 1514 ] || fail "port two received $bpf bytes per frame on average: no segment over 1514 bytes"
pass "port two: $bpf bytes per frame on average"

# --- TCP to and from a TAP without offloads (the switch segments) ------------------------
iperf_run "$ns1" "$ns3" 10.99.7.3 one-three
r=$iperf_sum
pass "iperf3 $ns1 -> $ns3 (offloads off there): $r"
segs=$(vs_ctl --json show three | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sw_segmented"])')
[ "$segs" -gt 0 ] || fail "port three: sw_segmented is $segs: the switch did not cut ns1's segments for it"
pass "port three: $segs TSO frames from $ns1 cut into segments by the switch (sw_segmented)"
iperf_run "$ns1" "$ns3" 10.99.7.3 three-one -R
r=$iperf_sum
pass "iperf3 $ns3 -> $ns1: $r"

# stream FROM_NS TO_NS TO_IP: 64 MiB over one TCP connection, compared at the end.
stream() {
	local from=$1 to=$2 ip=$3
	head -c $((64 << 20)) /dev/urandom >"$work/blob"
	ip netns exec "$to" timeout 60 python3 - "$ip" >"$work/recv.out" 2>&1 <<'EOF' &
import hashlib, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.create_server((sys.argv[1], 5301), family=fam)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
print(n, h.hexdigest())
EOF
	local rp=$!
	VS_BG_PIDS+=("$rp")
	local deadline=$((SECONDS + 10))
	until ip netns exec "$to" ss -ltnH 'sport = :5301' 2>/dev/null | grep -q .; do
		[ $SECONDS -lt $deadline ] || fail "receiver in $to did not start"
		sleep 0.1
	done
	ip netns exec "$from" timeout 60 python3 - "$ip" "$work/blob" <<'EOF' || fail "sending the stream $from -> $to failed"
import socket, sys
s = socket.create_connection((sys.argv[1], 5301))
with open(sys.argv[2], "rb") as f:
    s.sendfile(f)
s.shutdown(socket.SHUT_WR)
s.recv(1)
EOF
	wait "$rp" || { cat "$work/recv.out"; fail "the receiver in $to failed"; }
	local want
	want="$(stat -c %s "$work/blob") $(sha256sum "$work/blob" | cut -d' ' -f1)"
	[ "$(cat "$work/recv.out")" = "$want" ] ||
		fail "stream $from -> $to: received '$(cat "$work/recv.out")', sent '$want'"
}
stream "$ns1" "$ns3" 10.99.7.3
pass "64 MiB $ns1 -> $ns3 arrived whole (same length and SHA-256)"
stream "$ns3" "$ns1" 10.99.7.1
pass "64 MiB $ns3 -> $ns1 arrived whole"
stream "$ns1" "$ns2" 10.99.7.2
pass "64 MiB $ns1 -> $ns2 arrived whole"

# --- the same over IPv6 (TSO6 segments, and cut for ns3) ---------------------------------
i=1
for pair in "$ns1 $t1" "$ns2 $t2" "$ns3 $t3"; do
	read -r ns t <<<"$pair"
	ip -n "$ns" addr add "fd00:99:7::$i/64" dev "$t" nodad
	i=$((i + 1))
done
deadline=$((SECONDS + 10))
until ip netns exec "$ns1" ping -6 -c 1 -W 1 fd00:99:7::2 >/dev/null 2>&1 &&
	ip netns exec "$ns1" ping -6 -c 1 -W 1 fd00:99:7::3 >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no IPv6 ping reply from $ns2 and $ns3 within 10 s"
done
iperf_run "$ns1" "$ns2" fd00:99:7::2 one-two-6
pass "iperf3 over IPv6 $ns1 -> $ns2 (offloads): $iperf_sum"
segs0=$(vs_ctl --json show three | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sw_segmented"])')
stream "$ns1" "$ns3" fd00:99:7::3
segs=$(vs_ctl --json show three | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["sw_segmented"])')
[ "$segs" -gt "$segs0" ] || fail "port three: no TCP/IPv6 segment cut by the switch (sw_segmented $segs0 -> $segs)"
pass "64 MiB over IPv6 $ns1 -> $ns3 arrived whole, $((segs - segs0)) TSO6 frames cut by the switch"

# --- a peer with a small MSS: ns1's segments stay within what the switch takes ---------
ip -n "$ns2" link set "$t2" mtu 300
bad0=$(vs_ctl --json show one | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["drops"]["bad_offload"])')
iperf_run "$ns1" "$ns2" 10.99.7.2 small-mss -t 3
bad=$(vs_ctl --json show one | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["drops"]["bad_offload"])')
[ "$bad" -eq "$bad0" ] || fail "port one dropped $((bad - bad0)) frames as bad_offload with a 260-byte MSS peer"
pass "iperf3 $ns1 -> $ns2 with mtu 300 there (MSS 260): $iperf_sum, no bad_offload drop"

for p in one two three; do
	vs_ctl --json show "$p" >"$work/show.json"
	python3 - "$work/show.json" <<'EOF' || fail "port $p counted receive errors: $(cat "$work/show.json")"
import json, sys
d = json.load(open(sys.argv[1]))["details"]
bad = {k: d[k] for k in ("rx_errors", "rx_oversize", "rx_no_buffer", "rx_bad_hdr") if d[k]}
assert not bad, bad
EOF
done
pass "no port counted a frame it could not read"

vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
pass "SIGTERM: exit code 0"
say "PASS in $((SECONDS - VS_T0))s"
