#!/usr/bin/env bash
# The VXLAN row (bash bench/run.sh --vxlan [--rounds N] [--seconds S]): what
# encapsulation and decapsulation cost next to plain TAP switching.
#
#   tap:         one vswitchd, two TAP ports, a namespace behind each
#   tap-nooffl:  the same with offloads=off (MTU-sized frames, as VXLAN carries)
#   vxlan:       two vswitchd ("hosts" A and B, each in its own namespace with a
#                TAP port to a namespace and a VXLAN port), joined by a veth
#                underlay: every frame is encapsulated by A and decapsulated by B
#
# Each in interleaved rounds: iperf3 TCP for S seconds (Gbit/s at the receiver),
# and iperf3 UDP with 64-byte payloads at full speed (thousands of datagrams per
# second at the receiver). The namespaces use MTU 1450 everywhere (the overlay's).
# Pollers: adaptive, cpu 1 (the vxlan row's two vswitchd share it). Results: a
# table on stdout and bench/results/vxlan-<UTC time>.json. Needs root.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${VS_BUILD_DIR:-$ROOT/build}
VSWITCHD=${VSWITCHD:-$BUILD_DIR/vswitchd}
VSWITCHCTL=${VSWITCHCTL:-$BUILD_DIR/vswitchctl}
rounds=3
secs=5
results=$ROOT/bench/results
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) secs=$2; shift 2 ;;
	--results) results=$2; shift 2 ;;
	--vxlan | --no-deps) shift ;;
	*) echo "bench/vxlan.sh: unknown option $1 (--rounds N, --seconds S, --results DIR)" >&2; exit 2 ;;
	esac
done
say() { printf '[bench vxlan] %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || { say "needs root (namespaces)"; exit 1; }
for c in iperf3 ip python3; do
	command -v $c >/dev/null || { say "$c missing (bash scripts/deps.sh)"; exit 1; }
done

sfx=$$
work=$(mktemp -d /tmp/vs-bench-vxlan.XXXXXX)
pids=()
nss=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in "${nss[@]}"; do ip netns del "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

newns() { ip netns add "$1"; ip -n "$1" link set lo up; nss+=("$1"); }

# start_switch NS(or -) NAME CONFIG: vswitchd, waits for its socket.
start_switch() {
	local ns=$1 name=$2 cfg=$3 sock=$work/$2.sock i
	if [ "$ns" = - ]; then
		"$VSWITCHD" -c "$cfg" >"$work/$name.log" 2>&1 &
	else
		ip netns exec "$ns" "$VSWITCHD" -c "$cfg" >"$work/$name.log" 2>&1 &
	fi
	pids+=($!)
	for i in $(seq 100); do
		"$VSWITCHCTL" -s "$sock" version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	say "vswitchd $name did not start: $(tail -n 3 "$work/$name.log")"
	exit 1
}

stop_all() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	for p in "${nss[@]}"; do ip netns del "$p" 2>/dev/null || true; done
	nss=()
}

config() { # NAME PORTS-YAML
	cat >"$work/$1.yaml" <<EOF
pollers: {cpus: [1], mode: adaptive}
memory: {hugepage_size: none, buffers: 16384}
control: {socket: $work/$1.sock}
ports:
$2
EOF
}

# vm NS TAP-NS TAP ADDR: moves the TAP into NS with ADDR, MTU 1450.
vm() {
	ip -n "$2" link set "$3" netns "$1" 2>/dev/null || ip link set "$3" netns "$1"
	ip -n "$1" addr add "$4/24" dev "$3"
	ip -n "$1" link set "$3" mtu 1450 up
}

setup_tap() { # OFFLOADS
	newns vs-bvx1-$sfx; newns vs-bvx2-$sfx
	config sw "  - {name: a, type: tap, ifname: vs-bt1-$sfx, offloads: $1}
  - {name: b, type: tap, ifname: vs-bt2-$sfx, offloads: $1}"
	start_switch - sw "$work/sw.yaml"
	vm vs-bvx1-$sfx - vs-bt1-$sfx 10.97.0.1
	vm vs-bvx2-$sfx - vs-bt2-$sfx 10.97.0.2
}

setup_vxlan() {
	newns vs-bvx1-$sfx; newns vs-bvx2-$sfx; newns vs-bha-$sfx; newns vs-bhb-$sfx
	ip -n vs-bha-$sfx link add ula type veth peer name ulb netns vs-bhb-$sfx
	ip -n vs-bha-$sfx addr add 203.0.113.1/24 dev ula
	ip -n vs-bhb-$sfx addr add 203.0.113.2/24 dev ulb
	ip -n vs-bha-$sfx link set ula up
	ip -n vs-bhb-$sfx link set ulb up
	config ha "  - {name: vm, type: tap, ifname: vs-bt1-$sfx}
  - {name: vx, type: vxlan, local_ip: 203.0.113.1, vni_map: {100: 0}, remotes: [203.0.113.2]}"
	config hb "  - {name: vm, type: tap, ifname: vs-bt2-$sfx}
  - {name: vx, type: vxlan, local_ip: 203.0.113.2, vni_map: {100: 0}, remotes: [203.0.113.1]}"
	start_switch vs-bha-$sfx ha "$work/ha.yaml"
	start_switch vs-bhb-$sfx hb "$work/hb.yaml"
	vm vs-bvx1-$sfx vs-bha-$sfx vs-bt1-$sfx 10.97.0.1
	vm vs-bvx2-$sfx vs-bhb-$sfx vs-bt2-$sfx 10.97.0.2
}

# measure ROW: TCP Gbit/s and UDP 64 B kpps from ns1 to ns2.
measure() {
	local row=$1 a=vs-bvx1-$sfx b=vs-bvx2-$sfx i out
	for i in $(seq 50); do
		ip netns exec $a ping -c 1 -W 1 10.97.0.2 >/dev/null 2>&1 && break
	done
	ip netns exec $b iperf3 -s -B 10.97.0.2 >/dev/null 2>&1 &
	pids+=($!)
	sleep 0.5
	out=$work/tcp.json
	ip netns exec $a timeout $((secs + 20)) iperf3 -c 10.97.0.2 -t "$secs" -J >"$out" 2>&1 || true
	tcp=$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e9))' "$out" 2>/dev/null || echo 0)
	out=$work/udp.json
	ip netns exec $a timeout $((secs + 20)) iperf3 -c 10.97.0.2 -u -l 64 -b 0 -t "$secs" -J >"$out" 2>&1 || true
	udp=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; print("%.0f" % ((s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3))' "$out" 2>/dev/null || echo 0)
	say "$row: TCP $tcp Gbit/s, UDP 64 B $udp kpps"
	echo "$row $tcp $udp" >>"$work/samples"
}

for r in $(seq "$rounds"); do
	say "round $r of $rounds"
	setup_tap on; measure tap; stop_all
	setup_tap off; measure tap-nooffl; stop_all
	setup_vxlan; measure vxlan; stop_all
done

mkdir -p "$results"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
python3 - "$work/samples" "$results/vxlan-$stamp.json" "$rounds" "$secs" \
	"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, tcp, udp = line.split()
    rows.setdefault(name, []).append((float(tcp), float(udp)))
med = {k: (statistics.median(t for t, _ in v), statistics.median(u for _, u in v)) for k, v in rows.items()}
print("| namespace to namespace | TCP Gbit/s | UDP 64 B kpps |")
print("| --- | --- | --- |")
label = {"tap": "TAP to TAP (offloads on)", "tap-nooffl": "TAP to TAP (offloads=off)",
         "vxlan": "TAP, VXLAN encap, veth underlay, VXLAN decap, TAP"}
for k in ("tap", "tap-nooffl", "vxlan"):
    print("| %s | %.2f | %.0f |" % (label[k], *med[k]))
for base in ("tap", "tap-nooffl"):
    print("| vxlan / %s | %.2fx | %.2fx |" % (base, med["vxlan"][0] / max(med[base][0], 1e-9),
                                             med["vxlan"][1] / max(med[base][1], 1e-9)))
json.dump({"rounds": int(sys.argv[3]), "seconds": int(sys.argv[4]), "commit": sys.argv[5],
           "samples": rows, "median": med}, open(sys.argv[2], "w"), indent=1)
print("samples and medians: %s" % sys.argv[2])
EOF
