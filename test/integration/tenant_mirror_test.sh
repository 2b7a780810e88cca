#!/usr/bin/env bash
# Port mirroring to a TAP: a mirror from the YAML file copies everything port p1
# receives and sends to port mon; tcpdump on mon sees exactly the frames tcpdump on
# p1's own device sees (same frames, same order of kinds, same count) while p1
# pings p2, and no flood of its own; mirror list counts the copies; mirror del and
# mirror add at run time.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox timeout tcpdump python3

sfx=$$
run=/run/vswitch-tmir-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-tenant-mirror.XXXXXX")
declare -A ip=([p1]=10.96.0.1 [p2]=10.96.0.2)

tap() { echo "vs-$1-$sfx"; }
ns() { echo "vs-tm-$1-$sfx"; }

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
  - {name: p1, type: tap, ifname: $(tap p1)}
  - {name: p2, type: tap, ifname: $(tap p2)}
  - {name: mon, type: tap, ifname: $(tap mon)}
mirrors:
  - {name: watch, src: [p1], dir: both, dst: mon}
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

vs_netns_tap --no-ipv6 "$(ns p1)" "$(tap p1)" "${ip[p1]}/24"
vs_netns_tap --no-ipv6 "$(ns p2)" "$(tap p2)" "${ip[p2]}/24"
vs_netns_tap --no-ipv6 "$(ns mon)" "$(tap mon)"
nsx() {
	local p=$1
	shift
	ip netns exec "$(ns "$p")" "$@"
}
mirrored() {
	vs_ctl --json mirror list | python3 -c "import json,sys; m=json.load(sys.stdin)['mirrors']; print(m[0]['$1'] if m else -1)"
}
# capture PORT FILE [in]: tcpdump on PORT's device until killed by its timeout.
capture() {
	local p=$1 f=$2 dir=${3:-inout}
	vs_bg nsx "$p" timeout 6 tcpdump -Q "$dir" -i "$(tap "$p")" -nn -e -U -w "$f" 2>"$f.err"
	local deadline=$((SECONDS + 5))
	until grep -q "listening on" "$f.err" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "tcpdump on $p did not start"
		sleep 0.05
	done
}
frames() { tcpdump -r "$1" -nn -e -t 2>/dev/null | grep -v '^[[:space:]]' || true; }

vs_ctl mirror list >"$work/list.txt"
grep -q "watch" "$work/list.txt" || { cat "$work/list.txt"; fail "mirror list does not show the mirror from the file"; }

deadline=$((SECONDS + 10))
until nsx p1 busybox ping -c 1 -W 1 "${ip[p2]}" >/dev/null 2>&1; do
	[ $SECONDS -lt $deadline ] || fail "no ping reply p1 -> p2 within 10 s"
done
# A broadcast from p2 too: p1 receives it (mirrored once), mon gets no flood of it.
nsx p1 ip neigh flush dev "$(tap p1)"
m0=$(mirrored mirrored)
capture p1 "$work/p1.pcap"
capture mon "$work/mon.pcap" in
nsx p1 busybox ping -c 20 -i 0.05 -W 1 "${ip[p2]}" >"$work/ping.out" 2>&1 || true
nsx p2 python3 "$(dirname "$0")/tenant_frames.py" send "$(tap p2)" ff:ff:ff:ff:ff:ff 02:00:00:00:99:02 - 3
wait "${VS_BG_PIDS[-1]}" "${VS_BG_PIDS[-2]}" || true
read -r s r <<<"$(ping_counts "$work/ping.out")"
[ "$s" = 20 ] && [ "$r" = 20 ] || fail "ping p1 -> p2 with the mirror: $r/$s"
frames "$work/p1.pcap" >"$work/p1.txt"
frames "$work/mon.pcap" >"$work/mon.txt"
n1=$(wc -l <"$work/p1.txt")
n2=$(wc -l <"$work/mon.txt")
if ! diff -u "$work/p1.txt" "$work/mon.txt" >"$work/diff.txt"; then
	head -40 "$work/diff.txt"
	fail "tcpdump on mon ($n2 frames) differs from tcpdump on p1 ($n1 frames)"
fi
[ "$n1" -ge 43 ] || fail "only $n1 frames at p1 (40 ICMP, 3 broadcasts, ARP expected)"
copies=$(($(mirrored mirrored) - m0))
[ "$copies" -eq "$n1" ] || fail "mirror list counts $copies copies, tcpdump saw $n1"
pass "tcpdump on mon = tcpdump on p1: $n1 frames (ping 20/20 and 3 broadcasts from p2), mirror list counts $copies"

# --- run time: del, then add rx only ---------------------------------------------
vs_ctl mirror del watch || fail "mirror del watch"
out=$(vs_ctl mirror del watch 2>&1) && fail "a second mirror del was accepted"
grep -q "no mirror named 'watch'" <<<"$out" || fail "mirror del of a missing mirror: $out"
capture mon "$work/none.pcap" in
nsx p1 busybox ping -c 5 -i 0.05 -W 1 "${ip[p2]}" >/dev/null 2>&1 || true
wait "${VS_BG_PIDS[-1]}" || true
[ -z "$(frames "$work/none.pcap")" ] || fail "mon still gets frames after mirror del"
vs_ctl mirror add rxonly src=p1 dir=rx dst=mon || fail "mirror add rxonly"
out=$(vs_ctl mirror add bad src=mon dst=p2 2>&1) && fail "a mirror from the mirror port was accepted"
grep -q "receives mirror rxonly's copies" <<<"$out" || fail "mirror add src=mon: $out"
capture mon "$work/rx.pcap" in
nsx p1 busybox ping -c 5 -i 0.05 -W 1 "${ip[p2]}" >/dev/null 2>&1 || true
wait "${VS_BG_PIDS[-1]}" || true
req=$(frames "$work/rx.pcap" | grep -c "ICMP echo request" || true)
rep=$(frames "$work/rx.pcap" | grep -c "ICMP echo reply" || true)
# rx: what the switch receives on p1, i.e. what p1's station sends.
[ "$req" -eq 5 ] && [ "$rep" -eq 0 ] || fail "rx mirror: $req requests (want 5), $rep replies (want 0)"
pass "mirror del stops the copies; mirror add dir=rx copies the 5 requests p1 sends and none of the replies; a mirror from mon is refused"

vs_stop
[ "$VS_RC" = 0 ] || fail "vswitchd exited with $VS_RC"
pass "clean shutdown"
