#!/usr/bin/env bash
# Offloads and jumbo frames between two QEMU guests (TCG, Debian's 6.1 kernel,
# virtio-net-pci with QEMU's default offloads) whose NICs are vhost-user ports
# of vswitchd:
#   (a) offloads on: both guests negotiate checksum and TSO offloads (show, and
#       ethtool -k inside the guests); iperf3 TCP a -> b and b -> a, rate and
#       retransmissions printed; a file fetched over HTTP both ways arrives
#       whole (length and md5sum); the TSO frames were lent as chains (show's
#       lent_chains: one copy guest to guest);
#   (b) MTU 9000: the ports take mtu 9000 and QEMU's host_mtu=9000 reaches them
#       through NET_SET_MTU; with both guests at MTU 9000, ping -s 8972 -M do
#       passes both ways (9000-byte IP packets, not fragmented);
#   (c) one guest's port with offloads=off: the switch's software fallback
#       segments and checksums what goes to it (show's sw_segmented, and the
#       frames handed to it are MTU-sized on average); iperf3 completes both ways and
#       a file fetched over HTTP both ways arrives whole (length and md5sum).
# iperf3 cannot show byte-exact transfers (its receiver stops counting at the
# end of the test, with data still in flight), hence the HTTP fetches.
# GUEST_OFFLOAD_SECS (default 8) is the length of each rate run.
set -euo pipefail
. "$(dirname "$0")/common.sh"

lab_require_cmd ethtool
lab_require_cmd python3
SECS=${GUEST_OFFLOAD_SECS:-8}
FILE_MB=32
# iputils' ping for -M do (busybox's has no path MTU option), ethtool for -k.
vs_guest_pair_setup ol.cpio.gz -b ethtool -b /bin/ping

start_guests() { # PREFIX NIC-OPTION-SUFFIX
	lab_guest_start "${1}a" --initrd "$LAB_RUN/ol.cpio.gz" --ctl --mem 384 \
		--append "vs_ip=10.0.0.1/24 vs_mode=agent vs_iperf3=1" \
		--vhost-user "$run/vm1.sock,reconnect=1000$2"
	lab_guest_start "${1}b" --initrd "$LAB_RUN/ol.cpio.gz" --ctl --mem 384 \
		--append "vs_ip=10.0.0.2/24 vs_mode=agent vs_iperf3=1" \
		--vhost-user "$run/vm2.sock,reconnect=1000$2"
	lab_guest_agent "${1}a" 90 || fail "guest ${1}a did not boot"
	lab_guest_agent "${1}b" 90 || fail "guest ${1}b did not boot"
	# Each guest serves a file of random bytes over HTTP (busybox httpd).
	for g in "${1}a" "${1}b"; do
		lab_guest_exec "$g" 60 "mkdir -p /www && head -c $((FILE_MB << 20)) /dev/urandom >/www/f && httpd -p 8080 -h /www && md5sum /www/f" >"$LAB_RUN/$g.md5" ||
			{ cat "$LAB_RUN/$g.md5"; fail "$g: cannot set up the HTTP server"; }
	done
}

# fetch G PEER PEER-GUEST: G downloads PEER's file; length and md5sum must match.
fetch() {
	local g=$1 peer=$2 src=$3 want got len
	want=$(awk '/\/www\/f/ { print $1 }' "$LAB_RUN/$src.md5")
	[ -n "$want" ] || fail "$src: no md5sum of its file"
	lab_guest_exec "$g" 180 "wget -q -O - http://$peer:8080/f | tee /tmp/got | md5sum; wc -c </tmp/got; rm -f /tmp/got" >"$LAB_RUN/$g.fetch" ||
		{ cat "$LAB_RUN/$g.fetch"; fail "$g: fetching $peer's file failed"; }
	got=$(awk 'NR == 1 { print $1 }' "$LAB_RUN/$g.fetch")
	len=$(awk 'NR == 2 { print $1 }' "$LAB_RUN/$g.fetch")
	[ "$got" = "$want" ] && [ "$len" -eq $((FILE_MB << 20)) ] ||
		{ cat "$LAB_RUN/$g.fetch"; fail "$g <- $peer: $len bytes, md5 $got; expected $((FILE_MB << 20)) bytes, md5 $want"; }
	pass "$g <- $peer: $FILE_MB MiB over HTTP, length and md5sum match"
}

# Drops on the way, from show: per port "rx/tx no_buffers no_mbufs errors".
port_drops() {
	local p
	for p in vm1 vm2; do
		vs_ctl --json show $p | python3 -c 'import json, sys
d = json.load(sys.stdin)["details"]
out = []
for q in d["queues"]:
    errs = {k: v for k, v in q["errors"].items() if v}
    out.append("%s%d no_buffers=%d no_mbufs=%d errors=%s" % (q["direction"], q["queue"], q["no_buffers"], q["no_mbufs"], errs or 0))
print(sys.argv[1] + ": " + "; ".join(out))' $p
	done | paste -sd' '
}

# show PORT's offloads (negotiated), as one comma-separated line.
port_offloads() {
	vs_ctl --json show "$1" | python3 -c 'import json, sys
print(",".join(json.load(sys.stdin)["details"]["offloads"]))'
}

# The guest's view: ethtool -k lines for checksums and segmentation.
guest_offloads() { # GUEST
	lab_guest_exec "$1" 20 "ethtool -k eth0" >"$LAB_RUN/$1.ethtool" ||
		{ cat "$LAB_RUN/$1.ethtool"; fail "$1: ethtool -k eth0 failed"; }
	grep -E '^(tx-checksumming|rx-checksumming|tcp-segmentation-offload|generic-receive-offload|	tx-tcp-segmentation|	tx-tcp6-segmentation):' \
		"$LAB_RUN/$1.ethtool" | tr -s '\t ' ' ' | paste -sd';'
}

# --- (a) offloads on, MTU 1500 -------------------------------------------------
t=$SECONDS
vs_guest_pair_config "$LAB_RUN/a.yaml" server "$run/vm1.sock" "$run/vm2.sock"
VS_LOG=$LAB_RUN/vswitchd-a.log
vs_start "$LAB_RUN/a.yaml"
start_guests a ""
say "guests booted in $((SECONDS - t))s"
guest_ping aa 10.0.0.2 5
for p in vm1 vm2; do
	ol=$(port_offloads $p) || fail "show $p failed"
	say "$p offloads negotiated: $ol"
	for want in csum guest_csum host_tso4 guest_tso4 host_tso6 guest_tso6; do
		[[ ",$ol," == *",$want,"* ]] || fail "$p did not negotiate $want (QEMU offers it by default)"
	done
done
for g in aa ab; do
	say "$g: $(guest_offloads $g)"
	grep -q '^tcp-segmentation-offload: on' "$LAB_RUN/$g.ethtool" || fail "$g: TSO is not on in the guest"
done
pass "both guests negotiated checksum and TCP segmentation offloads"
read -r mbps retr sent recv <<<"$(guest_iperf aa 10.0.0.2 -t "$SECS")"
pass "GUEST-OFFLOAD-IPERF3 a->b $mbps Mbit/s, $retr retransmissions ($sent bytes sent, $recv received)"
read -r mbps retr sent recv <<<"$(guest_iperf aa 10.0.0.2 -R -t "$SECS")"
pass "GUEST-OFFLOAD-IPERF3 b->a $mbps Mbit/s, $retr retransmissions ($sent bytes sent, $recv received)"
say "drops: $(port_drops)"
fetch aa 10.0.0.2 ab
fetch ab 10.0.0.1 aa
# The guests' TSO frames went guest to guest in one copy: lent as chains.
for p in vm1 vm2; do
	lc=$(vs_ctl --json show $p | python3 -c 'import json, sys
print(sum(q.get("lent_chains", 0) for q in json.load(sys.stdin)["details"]["queues"] if q["direction"] == "rx"))') ||
		fail "show $p failed"
	[ "$lc" -gt 0 ] || fail "$p: no frame was lent as a chain (TSO frames copied twice)"
	say "$p: $lc frames lent as chains"
done
pass "TSO frames lent as chains both ways (one copy guest to guest)"
lab_guest_stop aa
lab_guest_stop ab
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC after (a)"
pass "(a) offloads on in $((SECONDS - t))s"

# --- (b) MTU 9000 ----------------------------------------------------------------
t=$SECONDS
vs_guest_pair_config "$LAB_RUN/b.yaml" server "$run/vm1.sock" "$run/vm2.sock" "    mtu: 9000" \
	"    mtu: 9000"
VS_LOG=$LAB_RUN/vswitchd-b.log
vs_start "$LAB_RUN/b.yaml"
start_guests b ",dev=host_mtu=9000"
for p in vm1 vm2; do
	m=$(vs_ctl --json show $p | python3 -c 'import json, sys
d = json.load(sys.stdin)["details"]; print(d["mtu"], d["guest_mtu"])') || fail "show $p failed"
	[ "$m" = "9000 9000" ] || fail "$p: mtu and guest_mtu are '$m', expected 9000 9000"
done
pass "QEMU's host_mtu=9000 reached both ports (NET_SET_MTU)"
# The driver took host_mtu from the config space (VIRTIO_NET_F_MTU); setting it again
# is what a guest without host_mtu would do.
for g in ba bb; do
	lab_guest_exec $g 10 "cat /sys/class/net/eth0/mtu; ip link set eth0 mtu 9000 && cat /sys/class/net/eth0/mtu" >"$LAB_RUN/$g.mtu" ||
		{ cat "$LAB_RUN/$g.mtu"; fail "$g: cannot set MTU 9000"; }
	[ "$(paste -sd' ' "$LAB_RUN/$g.mtu")" = "9000 9000" ] ||
		fail "$g: MTU at boot and after setting it: $(paste -sd' ' "$LAB_RUN/$g.mtu"), expected 9000 9000"
done
pass "both guests' NICs came up with MTU 9000"
guest_ping ba 10.0.0.2 3
for pair in "ba 10.0.0.2" "bb 10.0.0.1"; do
	read -r g peer <<<"$pair"
	lab_guest_exec $g 60 "/bin/ping -c 5 -i 0.3 -W 3 -s 8972 -M do $peer" >"$LAB_RUN/$g.jumbo" || true
	read -r sent recv <<<"$(ping_counts "$LAB_RUN/$g.jumbo")"
	[ "${sent:-0}" -eq 5 ] && [ "${recv:-0}" -eq 5 ] ||
		{ cat "$LAB_RUN/$g.jumbo"; fail "$g -> $peer: 8972-byte pings $recv/$sent"; }
	grep -q '8980 bytes from' "$LAB_RUN/$g.jumbo" || { cat "$LAB_RUN/$g.jumbo"; fail "$g: no 8980-byte replies"; }
	pass "$g -> $peer: ping -s 8972 -M do 5/5"
done
read -r mbps retr sent recv <<<"$(guest_iperf ba 10.0.0.2 -t "$SECS")"
pass "GUEST-OFFLOAD-IPERF3 MTU 9000 a->b $mbps Mbit/s, $retr retransmissions"
fetch bb 10.0.0.1 ba
lab_guest_stop ba
lab_guest_stop bb
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC after (b)"
pass "(b) MTU 9000 in $((SECONDS - t))s"

# --- (c) one guest without offloads: the software fallback on the way to it -----
t=$SECONDS
vs_guest_pair_config "$LAB_RUN/c.yaml" server "$run/vm1.sock" "$run/vm2.sock" "" \
	"    offloads: off"
VS_LOG=$LAB_RUN/vswitchd-c.log
vs_start "$LAB_RUN/c.yaml"
start_guests c ""
guest_ping ca 10.0.0.2 3
ol=$(port_offloads vm2) || fail "show vm2 failed"
[ -z "$ol" ] || fail "vm2 negotiated offloads '$ol' with offloads=off"
say "ca: $(guest_offloads ca)"
say "cb: $(guest_offloads cb)"
grep -q '^tcp-segmentation-offload: off' "$LAB_RUN/cb.ethtool" || fail "cb: TSO is on without offloads"
fetch cb 10.0.0.1 ca
fetch ca 10.0.0.2 cb
read -r mbps retr sent recv <<<"$(guest_iperf ca 10.0.0.2 -t "$SECS")"
pass "GUEST-OFFLOAD-IPERF3 a (TSO) -> b (none) $mbps Mbit/s, $retr retransmissions"
read -r mbps retr sent recv <<<"$(guest_iperf cb 10.0.0.1 -t "$SECS")"
pass "GUEST-OFFLOAD-IPERF3 b (none) -> a (TSO) $mbps Mbit/s, $retr retransmissions"
say "drops: $(port_drops)"
fb=$(vs_ctl --json show vm2 | python3 -c 'import json, sys
d = json.load(sys.stdin)
c = d["counters"]
q = [q for q in d["details"]["queues"] if q["direction"] == "tx"][0]
print(c["sw_segmented"], c["sw_csum"], q["packets"], q["bytes"])') || fail "show vm2 failed"
read -r seg csum pk by <<<"$fb"
say "vm2 (no offloads): sw_segmented=$seg sw_csum=$csum, $pk frames of $by bytes handed to the guest"
[ "$seg" -gt 0 ] || fail "no GSO frame was segmented in software on the way to vm2"
[ "$pk" -gt 0 ] && [ $((by / pk)) -le 1518 ] ||
	fail "frames to vm2 average $((by / pk)) bytes: segments of up to 64 KB reached a guest without TSO"
pass "the switch segmented $seg GSO frames and completed $csum checksums for vm2"
lab_guest_stop ca
lab_guest_stop cb
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC after (c)"
pass "(c) software fallback in $((SECONDS - t))s"
say "PASS in $((SECONDS - VS_T0))s"
