#!/usr/bin/env bash
# A QEMU guest (TCG, Debian's 6.1 kernel, virtio-net over vhost-user with QEMU's
# default offloads) and a network namespace behind a TAP port with offloads,
# through vswitchd: iperf3 TCP both ways; the namespace's side hands the switch
# TCP segments over 1514 bytes (the TAP port's byte counters), which reach the
# guest whole or cut by the switch, whatever the guest negotiated; and a 16 MiB
# stream from the namespace arrives in the guest with the same SHA-256. The
# guest's offloads as its kernel sees them (ethtool -k) and the vhost-user
# features are printed.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_root
lab_require_qemu
vs_require_netns
lab_require_cmd iperf3 ethtool python3 sha256sum
lab_kernel 6.1

MAC_G=52:54:00:99:07:01
sfx=$$
ns=vs-gn-$sfx
tap=vs-gt-$sfx
run=/run/vswitch-test-$sfx
lab_setup
mkdir -p "$run"

cleanup() {
	local rc=$?
	set +e # everything below runs, whatever fails
	[ -n "${srv:-}" ] && kill "$srv" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	ip link del "$tap" 2>/dev/null
	(exit $rc) # vs_guest_cleanup keeps the test's exit status from $?
	vs_guest_cleanup "$run"
}
trap cleanup EXIT

t=$SECONDS
lab_initramfs "$LAB_RUN/g.cpio.gz" -i "$VS_LAB/init-ping.sh" -m virtio_net -m virtio_pci \
	-b iperf3 -b ethtool
say "initramfs built in $((SECONDS - t))s"

cat >"$LAB_RUN/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
ports:
  - name: vm1
    type: vhost-user
    path: $run/vm1.sock
    queues: 1
  - name: ns
    type: tap
    ifname: $tap
EOF
VS_LOG=$LAB_RUN/vswitchd.log
vs_start "$LAB_RUN/vswitchd.yaml"
vs_netns_tap "$ns" "$tap" 10.0.7.2/24
v=$(ip netns exec "$ns" ethtool -k "$tap" | awk '$1 == "tcp-segmentation-offload:" { print $2 }')
[ "$v" = on ] || fail "$tap: tcp-segmentation-offload is '$v', expected on"
pass "$tap in $ns (10.0.7.2), TSO on"

lab_guest_start g --initrd "$LAB_RUN/g.cpio.gz" --ctl \
	--append "vs_ip=10.0.7.1/24 vs_mode=agent" --vhost-user "$run/vm1.sock,reconnect=1000,mac=$MAC_G"
lab_guest_agent g 90 || fail "guest g did not boot"
guest_ping g 10.0.7.2 5

lab_guest_exec g 20 "ethtool -k eth0" >"$LAB_RUN/g.ethtool" || true
say "guest offloads: $(awk '$1 ~ /^(tx-checksumming|tcp-segmentation-offload|rx-checksumming|generic-receive-offload):$/ { printf "%s %s  ", $1, $2 }' "$LAB_RUN/g.ethtool")"
feats=$(vs_ctl --json show vm1 | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["details"]["features"]))') ||
	fail "show vm1 failed"
say "vhost-user features: $feats"

# iperf DIRECTION [-R]: the guest is the iperf3 client, the namespace the server.
iperf() {
	local name=$1
	shift
	ip netns exec "$ns" iperf3 -s -1 -B 10.0.7.2 >"$LAB_RUN/iperf-server-$name.out" 2>&1 &
	srv=$!
	local deadline=$((SECONDS + 10))
	until ip netns exec "$ns" ss -ltn 2>/dev/null | grep -q '10.0.7.2:5201'; do
		[ $SECONDS -lt $deadline ] || fail "iperf3 server in $ns did not start"
		sleep 0.1
	done
	lab_guest_exec g 90 "iperf3 -c 10.0.7.2 -t 5 -f m $*" >"$LAB_RUN/iperf-$name.out" ||
		{ cat "$LAB_RUN/iperf-$name.out"; fail "iperf3 $name failed"; }
	wait "$srv" || true
	srv=""
	mbps=$(awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' "$LAB_RUN/iperf-$name.out" | tail -n1)
	[ -n "$mbps" ] || { cat "$LAB_RUN/iperf-$name.out"; fail "no receiver throughput in the iperf3 output ($name)"; }
	awk -v m="$mbps" 'BEGIN { exit !(m > 0) }' || fail "iperf3 $name: $mbps Mbit/s"
}

iperf guest-ns
pass "GUEST-TAP-IPERF3 guest -> $ns: $mbps Mbit/s"
iperf ns-guest -R
pass "GUEST-TAP-IPERF3 $ns -> guest: $mbps Mbit/s"
bpf=$(vs_ctl --json show ns | python3 -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c["rx_bytes"] // max(c["rx_packets"], 1))')
[ "$bpf" -gt 1514 ] || fail "the TAP port received $bpf bytes per frame on average: no TCP segment over 1514 bytes"
pass "the TAP port received $bpf bytes per frame on average (TSO segments from $ns)"

# 16 MiB from the namespace into the guest: every byte as it was sent.
head -c $((16 << 20)) /dev/urandom >"$LAB_RUN/blob"
want=$(sha256sum "$LAB_RUN/blob" | cut -d' ' -f1)
lab_guest_exec g 10 "(nc -l -p 5301 </dev/null | sha256sum > /tmp/sum) >/dev/null 2>&1 &" || fail "cannot start nc in the guest"
deadline=$((SECONDS + 30))
until ip netns exec "$ns" timeout 60 python3 - "$LAB_RUN/blob" <<'EOF'; do
import socket, sys
s = socket.create_connection(("10.0.7.1", 5301), timeout=5)
s.settimeout(50)
with open(sys.argv[1], "rb") as f:
    s.sendfile(f)
s.shutdown(socket.SHUT_WR)
s.recv(1)
EOF
	[ $SECONDS -lt $deadline ] || fail "cannot send the stream to the guest"
	sleep 1
done
got=""
for _ in $(seq 30); do
	# Not in $(...): lab_guest_exec keeps its sequence number in this shell.
	lab_guest_exec g 10 "cat /tmp/sum 2>/dev/null" >"$LAB_RUN/sum.out" || true
	got=$(awk '{ print $1 }' "$LAB_RUN/sum.out")
	[ -n "$got" ] && break
	sleep 1
done
[ "$got" = "$want" ] || fail "the guest's SHA-256 of the stream is '$got', sent $want"
pass "16 MiB $ns -> guest arrived whole (SHA-256 $want)"

lab_guest_stop g
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC"
say "PASS in $((SECONDS - VS_T0))s"
