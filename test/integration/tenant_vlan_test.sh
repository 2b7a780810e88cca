#!/usr/bin/env bash
# Two tenants on one switch, each in its own VLAN, with a trunk uplink, all on
# TAP ports in their own namespaces (one subnet for everyone, so only the VLANs
# keep the tenants apart):
#   - access ports of VLAN 10 reach each other, not VLAN 20's (and the reverse);
#   - the trunk's far side sees VLAN 10 and 20 broadcasts tagged with their own
#     VID (tcpdump), and its untagged frames belong to the native VLAN 99 only;
#   - a tagged frame from the trunk reaches VLAN 20's access port untagged;
#   - tagged frames sent into an access port go nowhere and are counted as
#     tagged_on_access;
#   - set-port moves a port to the other tenant's VLAN at run time while a ping
#     between two other ports loses nothing.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox timeout tcpdump python3

sfx=$$
run=/run/vswitch-tenant-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-tenant-vlan.XXXXXX")
frames=$(dirname "$0")/tenant_frames.py
declare -A ip=([a1]=10.98.0.1 [a2]=10.98.0.2 [b1]=10.98.0.3 [b2]=10.98.0.4 [up]=10.98.0.9
	[c1]=10.98.0.10)

tap() { echo "vs-$1-$sfx"; }
ns() { echo "vs-tn-$1-$sfx"; }

VS_CLEANUP_PATHS+=("$run" "$work")
trap vs_cleanup EXIT

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
memory:
  hugepage_size: none
  buffers: 4096
control:
  socket: $run/vswitchd.sock
ports:
  - {name: a1, type: tap, ifname: $(tap a1), vlan_mode: access, tag: 10}
  - {name: a2, type: tap, ifname: $(tap a2), vlan_mode: access, tag: 10}
  - {name: b1, type: tap, ifname: $(tap b1), vlan_mode: access, tag: 20}
  - {name: b2, type: tap, ifname: $(tap b2), vlan_mode: access, tag: 20}
  - name: up
    type: tap
    ifname: $(tap up)
    vlan_mode: trunk
    trunks: [10, 20]
    native_vlan: 99
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

wire() { vs_netns_tap --no-ipv6 "$(ns "$1")" "$(tap "$1")" "${ip[$1]}/24"; }
for p in a1 a2 b1 b2 up; do
	wire "$p"
done
mac_of() { ip -n "$(ns "$1")" -br link show "$(tap "$1")" | awk '{print $3}'; }
nsx() {
	local p=$1
	shift
	ip netns exec "$(ns "$p")" "$@"
}
# ping FROM TO COUNT: prints "SENT RECEIVED".
ping_n() {
	nsx "$1" timeout 30 busybox ping -c "$3" -i 0.05 -W 1 "${ip[$2]}" >"$work/ping.out" 2>&1 || true
	ping_counts "$work/ping.out"
}
port_json() { vs_ctl --json show "$1"; }
drop_count() { port_json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['drops']['$2'])"; }

# --- the same VLAN reaches, the other does not --------------------------------
deadline=$((SECONDS + 10))
until nsx a1 busybox ping -c 1 -W 1 "${ip[a2]}" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply a1 -> a2 (VLAN 10) within 10 s"
done
read -r s r <<<"$(ping_n a1 a2 20)"
[ "$s" = 20 ] && [ "$r" = 20 ] || fail "ping a1 -> a2 (both VLAN 10): $r/$s"
read -r s r <<<"$(ping_n b1 b2 20)"
[ "$s" = 20 ] && [ "$r" = 20 ] || fail "ping b1 -> b2 (both VLAN 20): $r/$s"
pass "access ports of one VLAN reach each other: 20/20 in VLAN 10 and in VLAN 20"
for pair in "a1 b1" "a2 b2" "b1 a1" "up a1" "up b1"; do
	read -r from to <<<"$pair"
	read -r s r <<<"$(ping_n "$from" "$to" 3)"
	[ "${r:-0}" = 0 ] || fail "ping $from -> $to crossed VLANs: $r of $s answered"
done
pass "no ping crosses VLANs (VLAN 10 <-> 20, native 99 <-> either)"

# --- the trunk's far side sees each VLAN with its tag --------------------------
mac_a1=$(mac_of a1)
mac_b1=$(mac_of b1)
# capture PORT FILE COUNT FILTER...: tcpdump in PORT's namespace until COUNT frames
# matched (or CAP_SECS, default 8 s), in the background; waits until it listens.
capture() {
	local p=$1 f=$2 c=$3
	shift 3
	vs_bg nsx "$p" timeout "${CAP_SECS:-8}" tcpdump -i "$(tap "$p")" -e -nn -U -c "$c" -w "$f" "$@" 2>"$f.err"
	local deadline=$((SECONDS + 5))
	until grep -q "listening on" "$f.err" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "tcpdump on $p did not start"
		sleep 0.05
	done
}
capture up "$work/up.pcap" 6 ether src "$mac_a1" or ether src "$mac_b1"
nsx a1 busybox arping -c 3 -w 4 -I "$(tap a1)" 10.98.0.77 >/dev/null 2>&1 &
nsx b1 busybox arping -c 3 -w 4 -I "$(tap b1)" 10.98.0.78 >/dev/null 2>&1 || true
wait "${VS_BG_PIDS[-1]}" || true
tcpdump -r "$work/up.pcap" -e -nn 2>/dev/null >"$work/up.txt"
n10=$(grep -ci "^.*$mac_a1 > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length [0-9]*: vlan 10,.*10.98.0.77" "$work/up.txt" || true)
n20=$(grep -ci "^.*$mac_b1 > ff:ff:ff:ff:ff:ff, ethertype 802.1Q (0x8100), length [0-9]*: vlan 20,.*10.98.0.78" "$work/up.txt" || true)
bad=$(grep -i "$mac_a1\|$mac_b1" "$work/up.txt" | grep -vc "ethertype 802.1Q" || true)
[ "$n10" -ge 3 ] && [ "$n20" -ge 3 ] && [ "$bad" -eq 0 ] ||
	{ cat "$work/up.txt"; fail "trunk capture: $n10 VLAN 10 and $n20 VLAN 20 ARP requests (want >= 3 each), $bad untagged"; }
pass "the trunk carries VLAN 10 and 20 tagged: $n10 and $n20 ARP requests, none untagged"

# --- the native VLAN leaves untagged -------------------------------------------
vs_ctl add-port c1 tap ifname="$(tap c1)" vlan_mode=access tag=99 >/dev/null ||
	fail "add-port c1 (access 99) failed"
wire c1
deadline=$((SECONDS + 10))
until nsx up busybox ping -c 1 -W 1 "${ip[c1]}" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply up -> c1 (native VLAN 99) within 10 s"
done
mac_c1=$(mac_of c1)
capture up "$work/native.pcap" 10 ether src "$mac_c1" and icmp
read -r s r <<<"$(ping_n up c1 10)"
wait "${VS_BG_PIDS[-1]}" || true
[ "$s" = 10 ] && [ "$r" = 10 ] || fail "ping up -> c1 over the native VLAN: $r/$s"
tcpdump -r "$work/native.pcap" -e -nn 2>/dev/null >"$work/native.txt"
replies=$(grep -ci "^.*$mac_c1 > .*ethertype IPv4.*ICMP echo reply" "$work/native.txt" || true)
tagged=$(grep -i "^.*$mac_c1 >" "$work/native.txt" | grep -c "802.1Q" || true)
[ "$replies" -ge 10 ] && [ "$tagged" -eq 0 ] ||
	{ cat "$work/native.txt"; fail "native VLAN: $replies untagged echo replies from c1 (want 10), $tagged tagged"; }
pass "native VLAN 99: ping up -> c1 10/10, c1's $replies replies leave the trunk untagged"

# --- a tagged frame from the trunk reaches its access port untagged ------------
capture b2 "$work/b2.pcap" 5 ether src 02:00:00:00:99:01
nsx up python3 "$frames" send "$(tap up)" ff:ff:ff:ff:ff:ff 02:00:00:00:99:01 20 5
wait "${VS_BG_PIDS[-1]}" || true
tcpdump -r "$work/b2.pcap" -e -nn 2>/dev/null >"$work/b2.txt"
got=$(grep -c "02:00:00:00:99:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 64" "$work/b2.txt" || true)
[ "$got" -eq 5 ] || { cat "$work/b2.txt"; fail "b2 saw $got of 5 VLAN 20 frames from the trunk untagged"; }
pass "5 frames tagged 20 on the trunk reach b2 untagged (64 of 68 bytes)"

# --- tagged frames into an access port are dropped and counted ------------------
before=$(drop_count a1 tagged_on_access)
CAP_SECS=3 capture a2 "$work/a2.pcap" 1 ether src 02:00:00:00:aa:01
a2_cap=${VS_BG_PIDS[-1]}
CAP_SECS=3 capture up "$work/up2.pcap" 1 ether src 02:00:00:00:aa:01
nsx a1 python3 "$frames" send "$(tap a1)" ff:ff:ff:ff:ff:ff 02:00:00:00:aa:01 10 50
nsx a1 python3 "$frames" send "$(tap a1)" ff:ff:ff:ff:ff:ff 02:00:00:00:aa:01 20 50
deadline=$((SECONDS + 5))
while after=$(drop_count a1 tagged_on_access) && [ $((after - before)) -lt 100 ] && [ $SECONDS -lt $deadline ]; do
	sleep 0.1
done
[ $((after - before)) -eq 100 ] || fail "a1 counted $((after - before)) tagged_on_access drops, expected 100"
wait "$a2_cap" "${VS_BG_PIDS[-1]}" || true
for f in a2 up2; do
	n=$(tcpdump -r "$work/$f.pcap" -nn 2>/dev/null | wc -l)
	[ "$n" -eq 0 ] || fail "$n tagged frames from access port a1 left the switch (capture $f)"
done
pass "100 tagged frames into access port a1: 100 counted as tagged_on_access, none sent"

# --- set-port at run time --------------------------------------------------------
vs_bg nsx a1 timeout 30 busybox ping -c 60 -i 0.05 -W 1 "${ip[a2]}" >"$work/bg_ping.out" 2>&1
sleep 0.5
vs_ctl set-port b2 vlan_mode=access tag=10 >/dev/null || fail "set-port b2 vlan_mode=access tag=10"
vs_ctl list-ports >"$work/ports.txt"
grep -q "^b2 .*access 10" "$work/ports.txt" || { cat "$work/ports.txt"; fail "list-ports does not show b2 in access 10"; }
deadline=$((SECONDS + 10))
until nsx a1 busybox ping -c 1 -W 1 "${ip[b2]}" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "a1 cannot reach b2 after b2 moved to VLAN 10"
done
read -r s r <<<"$(ping_n b1 b2 5)"
[ "${r:-0}" = 0 ] || fail "b1 still reaches b2 after it left VLAN 20: $r/$s"
wait "${VS_BG_PIDS[-1]}" || true
read -r s r <<<"$(ping_counts "$work/bg_ping.out")"
[ "$s" = 60 ] && [ "$r" = 60 ] || fail "ping a1 -> a2 during set-port: $r/$s"
pass "set-port moved b2 to VLAN 10 (a1 reaches it, b1 no longer); ping a1 -> a2 meanwhile 60/60"
out=$(vs_ctl set-port b2 tag=4095 2>&1) && fail "set-port tag=4095 was accepted"
grep -q "1 to 4094" <<<"$out" || fail "set-port tag=4095: unhelpful error: $out"
out=$(vs_ctl set-port b2 ifname=x 2>&1) && fail "set-port ifname=x was accepted"
grep -q "cannot change while the port runs" <<<"$out" || fail "set-port ifname=x: unhelpful error: $out"
pass "set-port refuses a bad tag and a type's option: $out"

vs_stop
[ "$VS_RC" = 0 ] || fail "vswitchd exited with $VS_RC"
pass "clean shutdown"
