#!/usr/bin/env bash
# BGP EVPN through FRR: three "hosts" as network namespaces on one underlay
# segment (a bridge in a fourth namespace), each with its own vswitchd (a TAP port
# to a namespace "VM", a VXLAN port with control: evpn, VNI 100 carrying the
# untagged frames) and its own FRR (zebra and bgpd, iBGP full mesh,
# advertise-all-vni). No remote VTEP or MAC is configured anywhere. Checked: VM A
# pings VM B; zebra on A lists VM B's MAC as remote (show evpn mac vni all) and
# vswitchd's fdb show names B's VTEP for it; VM A reaches VM C, whose ARP requests
# only cross as floods along the type-3 flood lists; removing VM B's port withdraws
# its MAC on A within a few seconds; vswitchd removes its shadow devices on exit.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox timeout python3 vtysh /usr/lib/frr/zebra /usr/lib/frr/bgpd

sfx=$$
ul=vs-evu-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-evpn.XXXXXX")
chmod 755 "$work"
hosts=(a b c)
declare -A ip=([a]=203.0.113.1 [b]=203.0.113.2 [c]=203.0.113.3)
declare -A vmip=([a]=10.96.0.1 [b]=10.96.0.2 [c]=10.96.0.3)
declare -A vspid
bg_pids=()

cleanup() {
	local p h
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for h in "${hosts[@]}"; do
		[ -n "${vspid[$h]:-}" ] && kill -KILL "${vspid[$h]}" 2>/dev/null || true
	done
	for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for h in "${hosts[@]}"; do
		ip netns del "vs-evh$h-$sfx" 2>/dev/null || true
		ip netns del "vs-evm$h-$sfx" 2>/dev/null || true
	done
	ip netns del "$ul" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

ctl() { "$VSWITCHCTL" -s "$work/$1/vswitchd.sock" "${@:2}"; }
vty() { vtysh --vty_socket "$work/$1/frr" -c "$2"; }

# --- underlay: one segment, 203.0.113.0/24, only inside namespaces ------------
ip netns add "$ul"
ip -n "$ul" link add seg type bridge
ip -n "$ul" link set seg up
for h in "${hosts[@]}"; do
	ns=vs-evh$h-$sfx
	ip netns add "$ns"
	ip netns add "vs-evm$h-$sfx"
	ip -n "$ns" link set lo up
	ip -n "vs-evm$h-$sfx" link set lo up
	ip -n "$ul" link add "p$h" type veth peer name ul netns "$ns"
	ip -n "$ul" link set "p$h" master seg up
	ip -n "$ns" addr add "${ip[$h]}/24" dev ul
	ip -n "$ns" link set ul up
	# See vxlan_test.sh: unfinished checksums would cross the veth.
	ip netns exec "$ns" ethtool -K ul tx off >/dev/null
done

for h in "${hosts[@]}"; do
	ns=vs-evh$h-$sfx
	d=$work/$h
	mkdir -p "$d/frr"
	chmod 777 "$d/frr"
	cat >"$d/vswitchd.yaml" <<EOF
pollers: {cpus: [1], mode: adaptive}
memory: {hugepage_size: none, buffers: 4096}
control: {socket: $d/vswitchd.sock}
fdb: {aging: 30}
ports:
  - {name: vm, type: tap, ifname: vs-evt-$sfx}
  - {name: vx, type: vxlan, local_ip: ${ip[$h]}, vni_map: {100: 0}, control: evpn}
EOF
	ip netns exec "$ns" "$VSWITCHD" -c "$d/vswitchd.yaml" >"$d/vswitchd.log" 2>&1 &
	vspid[$h]=$!
	deadline=$((SECONDS + 20))
	until ctl "$h" version >/dev/null 2>&1; do
		kill -0 "${vspid[$h]}" 2>/dev/null || { cat "$d/vswitchd.log"; fail "vswitchd $h exited"; }
		[ $SECONDS -lt $deadline ] || fail "vswitchd $h did not answer"
		sleep 0.1
	done
	for dev in vsb100 vsv100 vsa100; do
		ip -n "$ns" link show "$dev" >/dev/null 2>&1 || fail "host $h: shadow device $dev missing"
	done
	ip -n "$ns" link set "vs-evt-$sfx" netns "vs-evm$h-$sfx"
	ip -n "vs-evm$h-$sfx" addr add "${vmip[$h]}/24" dev "vs-evt-$sfx"
	ip -n "vs-evm$h-$sfx" link set "vs-evt-$sfx" mtu 1450 up
	# FRR: zebra and bgpd of this host, their files in $d/frr.
	{
		echo "router bgp 65000"
		echo " bgp router-id ${ip[$h]}"
		echo " no bgp default ipv4-unicast"
		for o in "${hosts[@]}"; do [ "$o" = "$h" ] || echo " neighbor ${ip[$o]} remote-as 65000"; done
		echo " address-family l2vpn evpn"
		for o in "${hosts[@]}"; do [ "$o" = "$h" ] || echo "  neighbor ${ip[$o]} activate"; done
		echo "  advertise-all-vni"
		echo " exit-address-family"
	} >"$d/frr/bgpd.conf"
	echo "hostname $h" >"$d/frr/zebra.conf"
	for daemon in zebra bgpd; do
		ip netns exec "$ns" "/usr/lib/frr/$daemon" -u frr -g frr -i "$d/frr/$daemon.pid" \
			-z "$d/frr/zserv.api" --vty_socket "$d/frr" -f "$d/frr/$daemon.conf" \
			>"$d/$daemon.log" 2>&1 &
		bg_pids+=($!)
		sleep 0.3
	done
done
pass "3 hosts: vswitchd with a VXLAN port (control: evpn) and its shadow devices, FRR zebra+bgpd each"
macof() { ip -n "vs-evm$1-$sfx" -o link show "vs-evt-$sfx" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# --- A pings B --------------------------------------------------------------------
deadline=$((SECONDS + 40))
until ip netns exec "vs-evma-$sfx" busybox ping -c 1 -W 1 "${vmip[b]}" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || {
		vty a "show bgp l2vpn evpn summary"; vty a "show evpn mac vni all"; ctl a show vx
		fail "VM A cannot reach VM B within 40 s"
	}
done
ip netns exec "vs-evma-$sfx" timeout 20 busybox ping -c 10 -i 0.1 -W 2 "${vmip[b]}" >"$work/ping.out" 2>&1 || true
read -r sent recv <<<"$(ping_counts "$work/ping.out")"
[ "${recv:-0}" -eq 10 ] || { cat "$work/ping.out"; fail "ping A -> B: ${recv:-0}/10"; }
pass "VM A pings VM B across EVPN: 10/10"
mb=$(macof b)
vty a "show evpn mac vni all" >"$work/macs.a"
grep -Eq "^$mb +remote +.*203\.0\.113\.2" "$work/macs.a" ||
	{ cat "$work/macs.a"; fail "zebra on A does not list VM B's $mb as remote behind 203.0.113.2"; }
pass "zebra on A: $mb remote behind 203.0.113.2"
ctl a fdb show >"$work/fdb.a"
grep -Eq "$mb +vx.*203\.0\.113\.2" "$work/fdb.a" || { cat "$work/fdb.a"; fail "fdb show on A does not name 203.0.113.2 for $mb"; }
pass "vswitchd A: fdb show names 203.0.113.2 for $mb"

# --- C through the flood lists (type-3) ---------------------------------------------
ip netns exec "vs-evma-$sfx" timeout 20 busybox ping -c 5 -i 0.2 -W 2 "${vmip[c]}" >"$work/ping.out" 2>&1 || true
read -r sent recv <<<"$(ping_counts "$work/ping.out")"
[ "${recv:-0}" -ge 4 ] || { cat "$work/ping.out"; ctl c show vx; fail "ping A -> C: ${recv:-0}/5"; }
ctl c --json show vx >"$work/show.c"
python3 - "$work/show.c" <<'EOF' || fail "C's flood list: $(cat "$work/show.c")"
import json, sys
d = json.load(open(sys.argv[1]))["details"]
assert sorted(d["vnis"][0]["flood"]) == ["203.0.113.1", "203.0.113.2"], d["vnis"]
assert d["evpn"]["flood_set"] >= 2, d["evpn"]
EOF
pass "VM A reaches VM C; C's flood list for VNI 100 is A and B, from type-3 routes"

# --- withdrawal -----------------------------------------------------------------------
ctl b del-port vm >/dev/null
t0=$SECONDS
until ! vty a "show evpn mac vni all" | grep -q "^$mb "; do
	[ $((SECONDS - t0)) -lt 15 ] || { vty a "show evpn mac vni all"; fail "VM B's MAC still on A 15 s after del-port"; }
	sleep 0.5
done
pass "del-port on B: $mb withdrawn on A after $((SECONDS - t0)) s"

for h in "${hosts[@]}"; do
	kill -TERM "${vspid[$h]}"
	wait "${vspid[$h]}" || fail "vswitchd $h exited with $?"
	vspid[$h]=""
	! ip -n "vs-evh$h-$sfx" link show vsb100 >/dev/null 2>&1 || fail "host $h: vsb100 left behind"
done
pass "vswitchd exits 0 and removes its shadow devices"
say "PASS in $((SECONDS - VS_T0))s"
