#!/usr/bin/env bash
# Port security and static entries on TAP ports in namespaces:
#   - a station flooding 100000 random source MACs on a port with mac_limit: the
#     port learns its limit and no more (the rest counted as mac_limit), a ping
#     between two other stations meanwhile loses nothing and none of their
#     unicast frames reaches the flooding port (tcpdump there);
#   - a spoofed source on a port with allowed_macs reaches nobody (tcpdump on the
#     others), counted as source_not_allowed, while its own MAC passes;
#   - a station of a secured port is pinned: another port claiming its MAC is
#     dropped (source_mac_pinned) and its traffic still goes to it;
#   - vswitchctl fdb add/del: a static entry forwards, survives fdb flush.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox timeout tcpdump python3

sfx=$$
run=/run/vswitch-tsec-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-tenant-sec.XXXXXX")
frames=$(dirname "$0")/tenant_frames.py
ports=(h1 h2 m s)
declare -A ip=([h1]=10.97.0.1 [h2]=10.97.0.2 [m]=10.97.0.3 [s]=10.97.0.4)
s_mac=02:00:00:00:77:01

tap() { echo "vs-$1-$sfx"; }
ns() { echo "vs-ts-$1-$sfx"; }

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
  - {name: h1, type: tap, ifname: $(tap h1)}
  - {name: h2, type: tap, ifname: $(tap h2)}
  - {name: m, type: tap, ifname: $(tap m), mac_limit: 16}
  - {name: s, type: tap, ifname: $(tap s), allowed_macs: [$s_mac]}
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

ip link set "$(tap s)" address "$s_mac"
for p in "${ports[@]}"; do
	vs_netns_tap --no-ipv6 "$(ns "$p")" "$(tap "$p")" "${ip[$p]}/24"
done
nsx() {
	local p=$1
	shift
	ip netns exec "$(ns "$p")" "$@"
}
mac_of() { ip -n "$(ns "$1")" -br link show "$(tap "$1")" | awk '{print $3}'; }
counter() { vs_ctl --json show "$1" | python3 -c "import json,sys; c=json.load(sys.stdin)['counters']; print(c$2)"; }
drops() { counter "$1" "['drops']['$2']"; }
fdb_port_count() { vs_ctl --json fdb show | python3 -c "import json,sys; print(sum(1 for e in json.load(sys.stdin)['entries'] if e['port']=='$1'))"; }
capture() {
	local p=$1 f=$2 secs=$3
	shift 3
	vs_bg nsx "$p" timeout "$secs" tcpdump -Q in -i "$(tap "$p")" -nn -U -w "$f" "$@" 2>"$f.err"
	local deadline=$((SECONDS + 5))
	until grep -q "listening on" "$f.err" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "tcpdump on $p did not start"
		sleep 0.05
	done
}
pcap_count() { tcpdump -r "$1" -nn 2>/dev/null | grep -c '^[0-9]' || true; }

deadline=$((SECONDS + 10))
until nsx h1 busybox ping -c 1 -W 1 "${ip[h2]}" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply h1 -> h2 within 10 s"
done
mac_h1=$(mac_of h1)
mac_h2=$(mac_of h2)

# --- 100000 random sources on the mac_limit port --------------------------------
rx0=$(counter m "['rx_packets']")
lim0=$(drops m mac_limit)
capture m "$work/m.pcap" 12 ether host "$mac_h1" or ether host "$mac_h2"
m_cap=${VS_BG_PIDS[-1]}
# The ping runs for 8 s (-w), the flood's whole length and more.
vs_bg nsx h1 busybox ping -i 0.02 -W 1 -w 8 "${ip[h2]}" >"$work/ping.out" 2>&1
ping_pid=$!
t0=$SECONDS
nsx m python3 "$frames" flood "$(tap m)" 100000 "$mac_h2"
say "100000 frames sent in $((SECONDS - t0)) s"
wait "$ping_pid" || true
rx=$(($(counter m "['rx_packets']") - rx0))
lim=$(($(drops m mac_limit) - lim0))
learned=$(fdb_port_count m)
say "m received $rx frames, dropped $lim as mac_limit, has $learned forwarding entries"
[ "$learned" -le 16 ] || fail "m has $learned forwarding entries, mac_limit is 16"
[ "$rx" -ge 50000 ] || fail "only $rx of the 100000 frames reached the switch; the test proves little"
[ "$lim" -ge $((rx - 16)) ] || fail "$rx frames from m, only $lim counted as mac_limit"
read -r s r <<<"$(ping_counts "$work/ping.out")"
[ "${s:-0}" -gt 20 ] && [ "$s" = "$r" ] || { cat "$work/ping.out"; fail "ping h1 -> h2 during the flood: $r/$s"; }
nsx h1 busybox ping -c 1 -W 1 "${ip[h2]}" >/dev/null || fail "h1 -> h2 after the flood"
wait "$m_cap" || true
n=$(pcap_count "$work/m.pcap")
[ "$n" -eq 0 ] || { tcpdump -r "$work/m.pcap" -nn | head; fail "$n frames of h1 <-> h2 reached the flooding port m"; }
grep -q "port m: mac_limit reached" "$VS_LOG" || fail "no log line for m reaching its mac_limit"
[ "$(grep -c "mac_limit reached" "$VS_LOG")" -eq 1 ] || fail "more than one mac_limit log line"
pass "mac_limit 16: $rx random sources from m, $lim dropped as mac_limit, $learned entries; ping h1 -> h2 $r/$s meanwhile, none of it at m; one log line"

# --- allowed_macs: a spoofed source reaches nobody -----------------------------
spoof0=$(drops s source_not_allowed)
capture h1 "$work/h1.pcap" 4 ether proto 0x88b5
capture h2 "$work/h2.pcap" 4 ether proto 0x88b5
nsx s python3 "$frames" send "$(tap s)" ff:ff:ff:ff:ff:ff "$mac_h1" - 25
nsx s python3 "$frames" send "$(tap s)" "$mac_h2" "$mac_h1" - 25
wait "${VS_BG_PIDS[-1]}" "${VS_BG_PIDS[-2]}" || true
spoof=$(($(drops s source_not_allowed) - spoof0))
[ "$spoof" -eq 50 ] || fail "s counted $spoof source_not_allowed drops, expected 50"
for f in h1 h2; do
	n=$(pcap_count "$work/$f.pcap")
	[ "$n" -eq 0 ] || fail "$n spoofed frames from s reached $f"
done
nsx s busybox ping -c 2 -W 1 "${ip[h1]}" >/dev/null || fail "s cannot ping h1 with its own MAC"
nsx h1 busybox ping -c 1 -W 1 "${ip[h2]}" >/dev/null || fail "h1 -> h2 after s spoofed h1's MAC"
pass "50 frames from s with h1's MAC reached nobody (source_not_allowed 50); s's own MAC passes"

# --- a secured port's station is pinned -----------------------------------------
pin0=$(drops h2 source_mac_pinned)
nsx h2 python3 "$frames" send "$(tap h2)" ff:ff:ff:ff:ff:ff "$s_mac" - 10
sleep 0.3
pin=$(($(drops h2 source_mac_pinned) - pin0))
[ "$pin" -eq 10 ] || fail "h2 claiming s's MAC: $pin source_mac_pinned drops, expected 10"
vs_ctl fdb show | grep -q "$s_mac.* s .*pinned" || { vs_ctl fdb show; fail "s's station is not pinned to s"; }
nsx h1 busybox ping -c 2 -W 1 "${ip[s]}" >/dev/null || fail "h1 cannot reach s after h2 claimed its MAC"
pass "h2 claiming s's MAC: 10 dropped as source_mac_pinned, s's station stays pinned at s"

# --- static entries --------------------------------------------------------------
static=02:00:00:00:88:01
vs_ctl fdb add 0 "$static" h2 || fail "fdb add 0 $static h2"
vs_ctl fdb flush >/dev/null
vs_ctl fdb show | grep -q "$static .*h2 .*static" || { vs_ctl fdb show; fail "static entry missing after fdb flush"; }
capture h2 "$work/st.pcap" 4 ether proto 0x88b5
capture m "$work/stm.pcap" 4 ether proto 0x88b5
nsx h1 python3 "$frames" send "$(tap h1)" "$static" "$mac_h1" - 5
wait "${VS_BG_PIDS[-1]}" "${VS_BG_PIDS[-2]}" || true
[ "$(pcap_count "$work/st.pcap")" -eq 5 ] && [ "$(pcap_count "$work/stm.pcap")" -eq 0 ] ||
	{ tcpdump -r "$work/st.pcap" -e -nn; fail "frames to the static entry: $(pcap_count "$work/st.pcap") at h2 (want 5), $(pcap_count "$work/stm.pcap") at m (want 0)"; }
out=$(vs_ctl fdb add 0 "$static" nosuch 2>&1) && fail "fdb add to a missing port was accepted"
grep -q "no port named 'nosuch'" <<<"$out" || fail "fdb add nosuch: $out"
vs_ctl fdb del 0 "$static" || fail "fdb del"
out=$(vs_ctl fdb del 0 "$static" 2>&1) && fail "a second fdb del was accepted"
pass "static entry: survives fdb flush, its 5 frames reach h2 only, fdb del removes it; errors: $out"

vs_stop
[ "$VS_RC" = 0 ] || fail "vswitchd exited with $VS_RC"
pass "clean shutdown"
