#!/usr/bin/env bash
# Storm control on TAP ports in namespaces: a station floods broadcasts as fast as
# it can on a port with broadcast_limit_pps 1000; over 3 s of the flood the switch
# lets 1000 per second through (within 10%, from its own counters and from tcpdump
# at a receiver), counts the rest as broadcast_limit, and a ping between two other
# stations meanwhile loses nothing. Then ingress_rate set at run time polices the
# same port to its rate in bytes.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox timeout tcpdump python3

sfx=$$
run=/run/vswitch-tstorm-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-tenant-storm.XXXXXX")
frames=$(dirname "$0")/tenant_frames.py
declare -A ip=([fl]=10.95.0.3 [h1]=10.95.0.1 [h2]=10.95.0.2)

tap() { echo "vs-$1-$sfx"; }
ns() { echo "vs-tst-$1-$sfx"; }

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
  - {name: fl, type: tap, ifname: $(tap fl), broadcast_limit_pps: 1000}
  - {name: h1, type: tap, ifname: $(tap h1)}
  - {name: h2, type: tap, ifname: $(tap h2)}
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

for p in fl h1 h2; do
	vs_netns_tap --no-ipv6 "$(ns "$p")" "$(tap "$p")" "${ip[$p]}/24"
done
nsx() {
	local p=$1
	shift
	ip netns exec "$(ns "$p")" "$@"
}
# fl's counters: "RX PASSED_OR_DROPPED" -> prints rx and the drop reason's count.
# window KEY SECONDS: "RX DROPS TIME": port fl's rx_packets and its KEY drops over
# about SECONDS, and the time between the two reads of the counters. One python3
# times each read where it happens (the middle of the vswitchctl call): on a
# machine the flood keeps busy, starting a process after a read can take a
# tenth of the window.
window() {
	python3 - "$VSWITCHCTL" "$VS_SOCK" "$1" "$2" <<'PY'
import json, subprocess, sys, time
ctl, sock, key, secs = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
def read():
    t0 = time.monotonic()
    out = subprocess.run([ctl, "-s", sock, "--json", "show", "fl"], stdout=subprocess.PIPE,
                         check=True).stdout
    t1 = time.monotonic()
    c = json.loads(out)["counters"]
    return (t0 + t1) / 2, c["rx_packets"], c["drops"][key]
a = read()
time.sleep(secs)
b = read()
print(b[1] - a[1], b[2] - a[2], b[0] - a[0])
PY
}

deadline=$((SECONDS + 10))
until nsx h1 busybox ping -c 1 -W 1 "${ip[h2]}" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply h1 -> h2 within 10 s"
done

# --- broadcast storm ---------------------------------------------------------------
# The flood outlasts the measuring window by seconds: a window that ran past its
# end would count time without frames, and starting processes on a machine the
# flood keeps busy can take that long.
vs_bg nsx fl python3 "$frames" rate "$(tap fl)" 8 ff:ff:ff:ff:ff:ff 02:00:00:00:55:01 >"$work/sent"
flood=$!
vs_bg nsx h1 busybox ping -i 0.02 -W 1 -w 4 "${ip[h2]}" >"$work/ping.out" 2>&1
ping_pid=$!
sleep 1 # past the bucket's first tenth of a second
vs_bg nsx h2 timeout 4 tcpdump -Q in -i "$(tap h2)" -nn -U -w "$work/h2.pcap" ether src 02:00:00:00:55:01 2>/dev/null
cap=$!
sleep 0.5
read -r rx dropped secs <<<"$(window broadcast_limit 3)"
wait "$flood" "$ping_pid" "$cap" || true
rate=$(python3 -c "print(round(($rx - $dropped) / $secs))")
offered=$(python3 -c "print(round($rx / $secs))")
say "offered $offered frames/s (python sent $(cat "$work/sent") in 8 s), passed $rate/s, dropped $dropped"
[ "$offered" -ge 5000 ] || fail "the flood offered only $offered frames/s; it proves little"
python3 -c "import sys; sys.exit(0 if abs($rate - 1000) <= 100 else 1)" ||
	fail "broadcasts passed at $rate/s, configured 1000 (10% allowed)"
seen=$(tcpdump -r "$work/h2.pcap" -nn 2>/dev/null | grep -c '^[0-9]' || true)
# tcpdump ran about 4 s of the flood (minus its start, up to a second on a busy machine).
[ "$seen" -ge 2500 ] && [ "$seen" -le 4400 ] || fail "h2 saw $seen of the storm's broadcasts in ~4 s"
read -r s r <<<"$(ping_counts "$work/ping.out")"
[ "${s:-0}" -gt 20 ] && [ "$s" = "$r" ] || { cat "$work/ping.out"; fail "ping h1 -> h2 during the storm: $r/$s"; }
pass "broadcast storm of $offered/s cut to $rate/s (limit 1000), $seen at h2 in ~4 s; ping h1 -> h2 $r/$s meanwhile"

# --- ingress_rate at run time ---------------------------------------------------------
vs_ctl set-port fl broadcast_limit_pps= ingress_rate=400kbit ingress_burst=8k >/dev/null ||
	fail "set-port fl ingress_rate=400kbit"
vs_bg nsx fl python3 "$frames" rate "$(tap fl)" 6 "$(ip -n "$(ns h2)" -br link show "$(tap h2)" | awk '{print $3}')" 02:00:00:00:55:01 >/dev/null
flood=$!
sleep 1
read -r rx dropped secs <<<"$(window ingress_rate 2)"
wait "$flood" || true
# 400 kbit/s = 50000 bytes/s = 781 frames of 64 bytes per second.
rate=$(python3 -c "print(round((($rx - $dropped) * 64) / $secs))")
python3 -c "import sys; sys.exit(0 if abs($rate - 50000) <= 5000 else 1)" ||
	fail "policed to $rate bytes/s, configured 50000 (10% allowed)"
pass "ingress_rate 400kbit set at run time: $rate bytes/s pass, $dropped frames dropped as ingress_rate"

vs_stop
[ "$VS_RC" = 0 ] || fail "vswitchd exited with $VS_RC"
pass "clean shutdown"
