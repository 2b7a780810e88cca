#!/usr/bin/env bash
# A VXLAN port of vswitchd against a Linux kernel VXLAN device (static remote),
# over an underlay of two network namespaces joined by a veth pair: vswitchd runs
# inside one of them ("host A", its VXLAN port on 198.51.100.1, a TAP port into a
# third namespace, the "VM", an access port of VLAN 10, which VNI 100 carries),
# the kernel's VXLAN device with VNI 100 in the other
# ("host B", 198.51.100.2). Checked: ping and iperf3 both ways; the datagrams on
# the kernel side (tcpdump: VNI 100, the VM's MAC inside, UDP source ports that
# differ between flows); show's per-VNI and per-remote counters; fdb show naming
# the remote VTEP; hostile datagrams (runt, bad flags, unknown VNI, an inner VLAN
# tag) dropped, counted and logged once each; a frame that would not fit the
# underlay's MTU dropped and counted with one log line.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd iperf3 busybox timeout tcpdump python3

sfx=$$
nsa=vs-vxa-$sfx   # host A: vswitchd and its underlay address
nsb=vs-vxb-$sfx   # host B: the kernel's VXLAN device
nsvm=vs-vxvm-$sfx # the VM behind vswitchd's TAP port
tap=vs-vxt-$sfx
run=/run/vswitch-vxlan-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-vxlan.XXXXXX")
bg_pids=()

cleanup() {
	local p
	for p in "${bg_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	vs_kill
	for p in "$nsa" "$nsb" "$nsvm"; do
		ip netns del "$p" 2>/dev/null || true
	done
	rm -rf "$run" "$work"
}
trap cleanup EXIT

# --- underlay: A (198.51.100.1) <-> B (198.51.100.2), only inside namespaces ---
for ns in "$nsa" "$nsb" "$nsvm"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip -n "$nsa" link add ula type veth peer name ulb netns "$nsb"
ip -n "$nsa" addr add 198.51.100.1/24 dev ula
ip -n "$nsb" addr add 198.51.100.2/24 dev ulb
ip -n "$nsa" link set ula up
ip -n "$nsb" link set ulb up
# A veth hands a frame with its checksum still to do (CHECKSUM_PARTIAL) to the
# other namespace as it is, and a UDP socket passes the payload on unfinished: the
# inner TCP checksums the kernel's VXLAN device leaves to the "NIC" would reach
# vswitchd incomplete. A real NIC finishes them; here the kernel must.
ip netns exec "$nsb" ethtool -K ulb tx off >/dev/null
# B: the kernel's VXLAN device, VNI 100, its only remote host A.
ip -n "$nsb" link add vx100 type vxlan id 100 local 198.51.100.2 remote 198.51.100.1 \
	dstport 4789 dev ulb
ip -n "$nsb" addr add 10.98.0.2/24 dev vx100
ip -n "$nsb" link set vx100 up
kmac=$(ip -n "$nsb" -o link show vx100 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
pass "underlay 198.51.100.1 <-> 198.51.100.2; kernel VXLAN vx100 (VNI 100, $kmac) in $nsb"

mkdir -p "$run"
cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
ports:
  - name: vm
    type: tap
    ifname: $tap
    vlan_mode: access
    tag: 10
  - name: vx
    type: vxlan
    local_ip: 198.51.100.1
    vni_map: {100: 10}
    remotes: [198.51.100.2]
EOF
check "--check-config accepts a vxlan port (vni_map and remotes from YAML)" \
	"$VSWITCHD" --check-config -c "$work/vswitchd.yaml"

# vswitchd inside A, where local_ip lives (ip netns exec execs it: same pid).
VS_SOCK=$run/vswitchd.sock
VS_LOG=$work/vswitchd.log
ip netns exec "$nsa" "$VSWITCHD" -c "$work/vswitchd.yaml" >>"$VS_LOG" 2>&1 &
VS_PID=$!
deadline=$((SECONDS + 20))
until [ -S "$VS_SOCK" ] && vs_ctl --timeout 2 version >/dev/null 2>&1; do
	kill -0 "$VS_PID" 2>/dev/null || fail "vswitchd exited during start-up"
	[ $SECONDS -lt $deadline ] || fail "vswitchd did not answer within 20 s"
	sleep 0.1
done
pass "vswitchd running in $nsa (pid $VS_PID)"
ip -n "$nsa" link set "$tap" netns "$nsvm"
ip -n "$nsvm" addr add 10.98.0.1/24 dev "$tap"
# The overlay's MTU: 1500 on the underlay less 50 bytes of VXLAN over IPv4.
ip -n "$nsvm" link set "$tap" mtu 1450 up
vmmac=$(ip -n "$nsvm" -o link show "$tap" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')

deadline=$((SECONDS + 10))
until ip netns exec "$nsvm" busybox ping -c 1 -W 1 10.98.0.2 >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply VM -> kernel VXLAN within 10 s"
done

# --- tcpdump on the kernel side while pinging both ways ------------------------
ip netns exec "$nsb" tcpdump -i ulb -nn -e -l -c 400 'udp port 4789' >"$work/dump.txt" 2>"$work/dump.err" &
dump_pid=$!
bg_pids+=("$dump_pid")
deadline=$((SECONDS + 5))
until grep -q "listening" "$work/dump.err" 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || fail "tcpdump did not start"
	sleep 0.1
done
for dir in "$nsvm 10.98.0.2" "$nsb 10.98.0.1"; do
	read -r ns peer <<<"$dir"
	ip netns exec "$ns" timeout 30 busybox ping -c 20 -i 0.05 -W 2 "$peer" >"$work/ping.out" 2>&1 || true
	read -r sent recv <<<"$(ping_counts "$work/ping.out")"
	[ "${sent:-0}" -eq 20 ] && [ "${recv:-0}" -eq 20 ] ||
		{ cat "$work/ping.out"; fail "ping $ns -> $peer: sent=${sent:-?} received=${recv:-?}, expected 20/20"; }
	pass "ping $ns -> $peer: 20/20, $(sed -n 's/^round-trip //p' "$work/ping.out")"
done
# A few UDP flows with different ports: their datagrams should not all share one
# source port.
for p in 1 2 3 4 5 6 7 8; do
	ip netns exec "$nsvm" busybox sh -c "echo x | busybox nc -u -w 0 10.98.0.2 $((7000 + p))" 2>/dev/null || true
done
sleep 0.5
kill "$dump_pid" 2>/dev/null || true
wait "$dump_pid" 2>/dev/null || true
# tcpdump prints a datagram as "198.51.100.1.SPORT > 198.51.100.2.4789: VXLAN,
# flags [I] (0x08), vni 100" and the inner frame ("VMMAC > KMAC ...") on the next
# line: one line each.
awk '/VXLAN/ { h = $0; if ((getline l) > 0) print h " | " l }' "$work/dump.txt" >"$work/dump.joined"
mv "$work/dump.joined" "$work/dump.txt"
grep -qE "198\.51\.100\.1\.[0-9]+ > 198\.51\.100\.2\.4789: VXLAN, flags \[I\] \(0x08\), vni 100 \| $vmmac > $kmac" \
	"$work/dump.txt" ||
	{ head -n 20 "$work/dump.txt"; fail "no VXLAN datagram with VNI 100 carrying $vmmac > $kmac seen on the kernel side"; }
n_icmp=$(grep -c "$vmmac > $kmac.*ICMP echo" "$work/dump.txt" || true)
[ "$n_icmp" -ge 20 ] || fail "tcpdump saw $n_icmp ICMP echo frames from the VM inside VXLAN, expected >= 20"
pass "tcpdump on $nsb: VXLAN VNI 100 from 198.51.100.1, inner $vmmac > $kmac ($n_icmp ICMP echoes)"
ports=$(sed -nE 's/.*198\.51\.100\.1\.([0-9]+) > 198\.51\.100\.2\.4789: VXLAN.*/\1/p' "$work/dump.txt" | sort -u)
nports=$(echo "$ports" | grep -c . || true)
[ "$nports" -ge 3 ] || fail "only $nports distinct UDP source ports over ICMP and 8 UDP flows: $ports"
for sp in $ports; do
	[ "$sp" -ge 49152 ] || fail "UDP source port $sp outside 49152..65535"
done
pass "$nports distinct UDP source ports (49152..65535) across the inner flows"

# --- iperf3 both ways -----------------------------------------------------------
ip netns exec "$nsb" iperf3 -s -B 10.98.0.2 >"$work/iperf-server.out" 2>&1 &
bg_pids+=($!)
deadline=$((SECONDS + 10))
until ip netns exec "$nsb" ss -ltn 2>/dev/null | grep -q '10.98.0.2:5201'; do
	[ $SECONDS -lt $deadline ] || fail "iperf3 server did not start"
	sleep 0.1
done
for rev in "" "-R"; do
	if ! ip netns exec "$nsvm" timeout 60 iperf3 -c 10.98.0.2 $rev -t 3 -f m --connect-timeout 5000 >"$work/iperf.out" 2>&1; then
		cat "$work/iperf.out"
		vs_ctl show vx || true
		vs_ctl show vm || true
		fail "iperf3 ${rev:-(VM sends)} failed"
	fi
	mbps=$(awk '/receiver$/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' "$work/iperf.out" | tail -n1)
	awk -v m="${mbps:-0}" 'BEGIN { exit !(m > 0) }' || { cat "$work/iperf.out"; fail "iperf3 $rev: ${mbps:-no} Mbit/s"; }
	pass "iperf3 ${rev:+(reverse) }VM <-> kernel VXLAN: $mbps Mbit/s"
	say "THROUGHPUT vxlan-kernel iperf3${rev:+ reverse} $mbps Mbit/s"
done

# --- show and fdb show ----------------------------------------------------------
vs_ctl --json show vx >"$work/show.json" || fail "show vx failed"
python3 - "$work/show.json" "$kmac" <<'EOF' || fail "show vx: $(cat "$work/show.json")"
import json, sys
d = json.load(open(sys.argv[1]))["details"]
v = d["vnis"][0]
assert v["vni"] == 100 and v["vlan"] == 10, v
assert v["rx_packets"] >= 40 and v["tx_packets"] >= 40, v
assert v["flood"] == ["198.51.100.2"], v
r = [r for r in d["remotes"] if r["ip"] == "198.51.100.2"][0]
assert r["rx_packets"] >= 40 and r["tx_packets"] >= 40 and r["stations"] == 1, r
s = d["station_list"]
assert any(x["mac"] == sys.argv[2] and x["remote"] == "198.51.100.2" and x["origin"] == "learned" for x in s), s
EOF
pass "show vx: VNI 100 and remote 198.51.100.2 with rx/tx counters, $kmac learned behind it"
vs_ctl fdb show >"$work/fdb.out"
grep -E "$kmac.*vx.*198\.51\.100\.2" "$work/fdb.out" >/dev/null ||
	{ cat "$work/fdb.out"; fail "fdb show does not name 198.51.100.2 for $kmac"; }
pass "fdb show: $kmac on vx behind 198.51.100.2"

# --- hostile datagrams ------------------------------------------------------------
# From B's underlay address to vswitchd's port: a runt, a bad flags byte, an
# unknown VNI, an inner frame with a VLAN tag.
ip netns exec "$nsb" python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.2", 0))
eth = bytes.fromhex("ffffffffffff" "020000000001" "0800") + bytes(46)
def vx(flags, vni, inner): return bytes([flags, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\0" + inner
for d in [b"\x08\0\0\0", vx(0x0c, 100, eth), vx(0x08, 4242, eth),
          vx(0x08, 100, eth[:12] + bytes.fromhex("8100000a0800") + bytes(46))]:
    for _ in range(3):
        s.sendto(d, ("198.51.100.1", 4789))
EOF
sleep 0.5
vs_ctl --json show vx >"$work/show.json"
python3 - "$work/show.json" <<'EOF' || fail "hostile datagrams not counted: $(cat "$work/show.json")"
import json, sys
d = json.load(open(sys.argv[1]))["details"]["vxlan_drops"]
for k in ["rx_runt", "rx_bad_flags", "rx_bad_vni", "rx_inner_tagged"]:
    assert d[k] == 3, (k, d)
EOF
for k in rx_runt rx_bad_flags rx_bad_vni rx_inner_tagged; do
	n=$(grep -c "port vx: .*dropped: $k" "$VS_LOG" || true)
	[ "$n" -eq 1 ] || fail "$n log lines for $k, expected 1"
done
vs_ctl version >/dev/null || fail "vswitchd does not answer after hostile datagrams"
pass "runt, bad flags, unknown VNI, inner VLAN tag: 3 each dropped and counted, one log line each"

# --- MTU headroom -------------------------------------------------------------------
ip -n "$nsvm" link set "$tap" mtu 1500
ip netns exec "$nsvm" busybox ping -c 3 -W 1 -s 1460 10.98.0.2 >/dev/null 2>&1 || true
ip -n "$nsvm" link set "$tap" mtu 1450
vs_ctl --json show vx >"$work/show.json"
big=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["details"]["vxlan_drops"]["tx_too_big"])' "$work/show.json")
[ "$big" -eq 3 ] || fail "tx_too_big is $big after three 1502-byte frames, expected 3"
grep -q "port vx: a 1502-byte frame would be a 1538-byte packet on ula (mtu 1500): dropped" "$VS_LOG" ||
	fail "no log line with the numbers of the frame too big for the underlay"
pass "1502-byte frames dropped before the underlay (tx_too_big 3, one log line with the numbers)"

vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
pass "SIGTERM: exit code 0"
say "PASS in $((SECONDS - VS_T0))s"
