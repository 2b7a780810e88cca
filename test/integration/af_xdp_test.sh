#!/usr/bin/env bash
# AF_XDP ports on veth pairs whose other ends sit in namespaces made here: A in
# native XDP mode, B in generic mode, next to a TAP port (namespace T) and a
# vhost-user port served by DPDK testpmd's virtio-user in icmpecho mode (it
# answers ARP and pings). With IPv6 off and static neighbours, a ping is two
# frames and nothing else moves, so every port's counters must change by
# exactly the pings' count, both ways, and the ports not on the path not at all.
# Then: iperf3 TCP between A and B (both AF_XDP); del-port and add-port of A
# while pings run between B and T (none lost there) with no XDP program left
# on A's veth in between; the errors that name their fix (no interface,
# interface down, too many queues, MTU too large, an XDP program that cannot be
# shared, missing capabilities); and no XDP program left on either veth after SIGTERM, nor after
# SIGKILL plus a restart (which removes what the killed vswitchd left).
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox iperf3 ethtool python3 timeout dpdk-testpmd stdbuf xdp-loader setpriv
[ -e /proc/sys/net/core/bpf_jit_enable ] || [ -d /sys/fs/bpf ] || lab_skip "kernel without BPF"

sfx=$$
nsA=vs-xa-$sfx nsB=vs-xb-$sfx nsT=vs-xt-$sfx
va=vsxa$sfx vb=vsxb$sfx tap=vsxt$sfx vx=vsxx$sfx # root ends (AF_XDP), TAP, spare veth
pa=pa$sfx pb=pb$sfx px=px$sfx                     # namespace ends
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-af-xdp.XXXXXX")
run=$work/run
mkdir -p "$run"
bg_pids=()
tp_pid="" tp_hold=""
MAC_VM=02:00:00:00:0c:01
declare -A NSDEV=(["$nsA"]=$pa ["$nsB"]=$pb ["$nsT"]=$tap)

cleanup() {
	local p
	for p in "${bg_pids[@]}" $tp_pid $tp_hold; do
		kill -KILL "$p" 2>/dev/null || true
	done
	vs_kill
	for p in "$nsA" "$nsB" "$nsT"; do
		ip netns del "$p" 2>/dev/null || true
	done
	for p in "$va" "$vb" "$vx" "$tap"; do
		ip link del "$p" 2>/dev/null || true
	done
	rm -rf "$work" "/var/run/dpdk/vs-xdp-$sfx"* 2>/dev/null || true
}
trap cleanup EXIT

nsping() {
	local ns=$1
	shift
	ip netns exec "$ns" busybox ping "$@"
}

# xdp_progs IFNAME: XDP program ids on the interface (none: empty).
xdp_progs() {
	ip -d link show "$1" 2>/dev/null | sed -n 's/.*prog\/xdp[a-z]* id \([0-9]*\).*/\1/p'
}

no_xdp_left() { # IFNAME WHEN
	local left
	left=$(xdp_progs "$1")
	[ -z "$left" ] || { xdp-loader status "$1" || true; fail "$2: XDP program $left left on $1"; }
}

# counters: "PORT RX TX" for every port.
counters() {
	python3 - "$VSWITCHCTL" "$VS_SOCK" <<-'EOF'
		import json, subprocess, sys
		ctl = [sys.argv[1], "-s", sys.argv[2], "--json"]
		ports = json.loads(subprocess.run(ctl + ["list-ports"], check=True, capture_output=True, text=True).stdout)
		for p in ports["ports"]:
		    print(p["name"], p["rx_packets"], p["tx_packets"])
		EOF
}

# devcounts NS DEV: "RX TX" packets of a namespace's interface.
devcounts() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets" "/sys/class/net/$2/statistics/tx_packets" | paste -sd' '
}

# wait_replies NS DEV RX0 TX0 N WHAT: the interface sent N frames since RX0/TX0
# and got N back. A reply the ping gave up on still counts once it arrives (a
# loaded machine delays some by seconds); a lost one never does.
wait_replies() {
	local ns=$1 dev=$2 r0=$3 t0=$4 n=$5 what=$6 r1 t1 deadline=$((SECONDS + 15))
	while read -r r1 t1 <<<"$(devcounts "$ns" "$dev")"; [ $((r1 - r0)) -lt "$n" ]; do
		[ $SECONDS -lt $deadline ] || break
		sleep 0.2
	done
	[ $((t1 - t0)) -eq "$n" ] && [ $((r1 - r0)) -eq "$n" ] || {
		tail -n 3 "$work/ping.out"
		for p in a b t; do vs_ctl show "$p" | sed -n '/details/,$p'; done
		fail "$what: $dev sent $((t1 - t0)) and received $((r1 - r0)) frames, expected $n and $n"
	}
}

# exact_ping NS PEER N PATH...: N pings from NS to PEER, N frames out of the
# namespace's interface and N back, and the ports' counters moved by exactly N
# frames in and out on the ports of PATH (PORT:RX:TX, multiples of N) and by
# nothing on every other port.
exact_ping() {
	local ns=$1 peer=$2 n=$3 dev=${NSDEV[$1]} r0 t0
	shift 3
	counters >"$work/c0"
	read -r r0 t0 <<<"$(devcounts "$ns" "$dev")"
	ip netns exec "$ns" timeout 60 busybox ping -c "$n" -i 0.02 -W 5 "$peer" >"$work/ping.out" 2>&1 || true
	wait_replies "$ns" "$dev" "$r0" "$t0" "$n" "ping $ns -> $peer"
	counters >"$work/c1"
	local want=" $*" name rx0 tx0 rx1 tx1 erx etx spec
	while read -r name rx0 tx0 && read -r _ rx1 tx1 <&3; do
		erx=0 etx=0
		for spec in $want; do
			[ "${spec%%:*}" = "$name" ] || continue
			IFS=: read -r _ erx etx <<<"$spec"
		done
		[ $((rx1 - rx0)) -eq $((erx * n)) ] && [ $((tx1 - tx0)) -eq $((etx * n)) ] ||
			{ paste "$work/c0" "$work/c1"; fail "ping $ns -> $peer: port $name moved rx $((rx1 - rx0)) tx $((tx1 - tx0)), expected rx $((erx * n)) tx $((etx * n))"; }
	done <"$work/c0" 3<"$work/c1"
	pass "ping $ns -> $peer: $n out, $n back, exact counts on every port ($*); $(sed -n 's/^round-trip //p' "$work/ping.out")"
}

show_field() { # PORT KEY: a member of show's details
	vs_ctl --json show "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['details']['$2'])"
}

# --- namespaces, veths, the switch -----------------------------------------------
for ns in "$nsA" "$nsB" "$nsT"; do
	ip netns add "$ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
for v in "$va:$pa:$nsA:10.98.0.1" "$vb:$pb:$nsB:10.98.0.2" "$vx:$px:$nsA:10.98.1.1"; do
	IFS=: read -r root peer ns addr <<<"$v"
	vs_netns_veth "$root" "$peer" "$ns" "$addr/24"
done
# Generic XDP sees a sender's 64 KB segments whole: B's namespace cuts them itself.
ip netns exec "$nsB" ethtool -K "$pb" tso off gso off >/dev/null

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $run/vswitchd.sock
ports:
  - {name: a, type: af_xdp, ifname: $va, mode: native}
  - {name: b, type: af_xdp, ifname: $vb, mode: generic, queues: 1, zerocopy: auto}
  - {name: t, type: tap, ifname: $tap, offloads: "off"}
  - {name: vm, type: vhost-user, path: $run/vm.sock}
EOF
check "--check-config accepts af_xdp ports" "$VSWITCHD" --check-config -c "$work/vswitchd.yaml"
VS_LOG=$work/vswitchd.log
vs_start "$work/vswitchd.yaml"

ip link set "$tap" netns "$nsT"
ip netns exec "$nsT" sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1"
ip -n "$nsT" addr add 10.98.0.3/24 dev "$tap"
ip -n "$nsT" link set "$tap" up

[ "$(show_field a mode)" = native ] || fail "port a: show says mode $(show_field a mode), expected native"
[ "$(show_field b mode)" = generic ] || fail "port b: show says mode $(show_field b mode), expected generic"
[ "$(show_field a zero_copy)" = False ] || fail "port a: zero_copy on a veth"
[ -n "$(xdp_progs "$va")" ] && [ -n "$(xdp_progs "$vb")" ] || fail "no XDP program on $va or $vb"
ip -d link show "$va" | grep -q 'xdp ' || fail "$va: XDP not in native mode: $(ip -d link show "$va")"
ip -d link show "$vb" | grep -q 'xdpgeneric' || fail "$vb: XDP not in generic mode"
pass "show: a native, b generic, copy mode; ip link agrees"

# testpmd answers ARP and pings on the vhost-user port.
mkfifo "$work/tp.in"
sleep 100000 >"$work/tp.in" &
tp_hold=$!
# Its forwarding lcore spins on cpu 0, away from the switch's poller (cpu 1);
# it runs only while the pings to it do.
stdbuf -oL -eL dpdk-testpmd -l 0,1 --main-lcore 1 --file-prefix "vs-xdp-$sfx" --no-pci --no-huge -m 512 \
	--single-file-segments --vdev "net_virtio_user0,path=$run/vm.sock,queues=1,mac=$MAC_VM" -- \
	--forward-mode=icmpecho --total-num-mbufs=16384 --nb-cores=1 <"$work/tp.in" >"$work/tp.log" 2>&1 &
tp_pid=$!
deadline=$((SECONDS + 60))
until vs_ctl --json show vm | grep -q '"link": "up"'; do
	kill -0 "$tp_pid" 2>/dev/null || { cat "$work/tp.log"; fail "testpmd exited"; }
	[ $SECONDS -lt $deadline ] || { cat "$work/tp.log"; fail "vhost-user port vm not up within 60 s"; }
	sleep 0.2
done
pass "testpmd (virtio-user, icmpecho) on port vm"

# Static neighbours: no ARP during the counted pings. One probe each way teaches
# the switch every station.
macof() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
mA=$(macof "$nsA" "$pa") mB=$(macof "$nsB" "$pb") mT=$(macof "$nsT" "$tap")
for e in "$nsA:$pa:10.98.0.2:$mB" "$nsA:$pa:10.98.0.3:$mT" "$nsA:$pa:10.98.0.9:$MAC_VM" \
	"$nsB:$pb:10.98.0.1:$mA" "$nsB:$pb:10.98.0.3:$mT" "$nsB:$pb:10.98.0.9:$MAC_VM" \
	"$nsT:$tap:10.98.0.1:$mA" "$nsT:$tap:10.98.0.2:$mB"; do
	IFS=: read -r ns dev ip m1 m2 m3 m4 m5 m6 <<<"$e"
	ip -n "$ns" neigh replace "$ip" lladdr "$m1:$m2:$m3:$m4:$m5:$m6" dev "$dev" nud permanent
done
for p in "$nsA 10.98.0.3" "$nsA 10.98.0.9" "$nsB 10.98.0.3" "$nsB 10.98.0.9" "$nsA 10.98.0.2"; do
	read -r ns peer <<<"$p"
	deadline=$((SECONDS + 10))
	until nsping "$ns" -c 1 -W 1 "$peer" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || fail "no reply $ns -> $peer within 10 s"
	done
done
pass "every station answers once"

# --- exact counts ------------------------------------------------------------------
exact_ping "$nsA" 10.98.0.9 100 a:1:1 vm:1:1
exact_ping "$nsB" 10.98.0.9 100 b:1:1 vm:1:1
kill -TERM "$tp_pid" 2>/dev/null || true
wait "$tp_pid" 2>/dev/null || true
tp_pid=""
exact_ping "$nsA" 10.98.0.3 100 a:1:1 t:1:1
exact_ping "$nsB" 10.98.0.3 100 b:1:1 t:1:1
exact_ping "$nsT" 10.98.0.1 100 t:1:1 a:1:1
exact_ping "$nsA" 10.98.0.2 100 a:1:1 b:1:1

# --- iperf3 between two AF_XDP ports --------------------------------------------------
ip netns exec "$nsB" iperf3 -s -1 -B 10.98.0.2 >"$work/iperf-server.out" 2>&1 &
bg_pids+=($!)
deadline=$((SECONDS + 10))
until ip netns exec "$nsB" ss -ltn 2>/dev/null | grep -q '10.98.0.2:5201'; do
	[ $SECONDS -lt $deadline ] || fail "iperf3 server did not start"
	sleep 0.1
done
ip netns exec "$nsA" timeout 60 iperf3 -c 10.98.0.2 -t 3 -f m >"$work/iperf.out" 2>&1 ||
	{ cat "$work/iperf.out"; vs_ctl show a; vs_ctl show b; fail "iperf3 A -> B failed"; }
mbps=$(awk '/receiver$/ { for (i = 1; i < NF; i++) if ($(i + 1) == "Mbits/sec") print $i }' "$work/iperf.out" | tail -n1)
awk -v m="${mbps:-0}" 'BEGIN { exit !(m > 0) }' || { cat "$work/iperf.out"; fail "iperf3 throughput is ${mbps:-?} Mbit/s"; }
pass "iperf3 A (native) -> B (generic): $mbps Mbit/s"
say "THROUGHPUT af_xdp-af_xdp iperf3 $mbps Mbit/s"

# --- del-port and add-port while B and T ping each other -------------------------------
read -r r0 t0 <<<"$(devcounts "$nsB" "$pb")"
ip netns exec "$nsB" busybox ping -c 150 -i 0.02 -W 5 10.98.0.3 >"$work/ping.out" 2>&1 &
long_ping=$!
bg_pids+=("$long_ping")
sleep 0.5
vs_ctl del-port a || fail "del-port a failed"
no_xdp_left "$va" "after del-port"
pass "del-port a: no XDP program left on $va"
vs_ctl add-port a af_xdp ifname="$va" mode=native || fail "add-port a again failed"
[ -n "$(xdp_progs "$va")" ] || fail "add-port a: no XDP program on $va"
wait "$long_ping" || true
wait_replies "$nsB" "$pb" "$r0" "$t0" 150 "ping B -> T during del-port/add-port of a"
pass "nothing lost between B and T during del-port/add-port of a (150 out, 150 back)"
exact_ping "$nsA" 10.98.0.3 50 a:1:1 t:1:1

# --- errors that name the fix -------------------------------------------------------------
expect_error() { # WHAT GREP-PATTERN ARGS...
	local what=$1 pat=$2
	shift 2
	if vs_ctl add-port e af_xdp "$@" >"$work/err.out" 2>&1; then
		vs_ctl del-port e || true
		fail "$what: add-port succeeded"
	fi
	grep -q -- "$pat" "$work/err.out" || { cat "$work/err.out"; fail "$what: error does not say '$pat'"; }
	pass "$what: $(head -c 200 "$work/err.out")"
}
expect_error "no such interface" "no interface" ifname=vsnosuch$sfx
ip link set "$vx" down
expect_error "interface down" "ip link set $vx up" ifname="$vx"
ip link set "$vx" up
expect_error "more queues than the interface" "ethtool -L $vx" ifname="$vx" queues=4
expect_error "mtu beyond a chunk" "mtu=1902" ifname="$vx" mtu=3000
ip link set "$vx" mtu 3000
expect_error "interface mtu beyond a chunk" "1902" ifname="$vx"
ip link set "$vx" mtu 1500
expect_error "interface in use by another port" "already" ifname="$va"
# A program attached without libxdp's dispatcher cannot be shared; one behind
# the dispatcher (where bpffs and the kernel allow it) can.
xdp-loader load -m skb "$vx" /usr/lib/*/bpf/xdpfilt_alw_all.o >/dev/null 2>&1 ||
	fail "xdp-loader cannot load a program on $vx"
if xdp-loader status "$vx" | grep -q xdp_dispatcher; then
	vs_ctl add-port e af_xdp ifname="$vx" mode=generic || fail "add-port next to a dispatched program failed"
	xdp-loader status "$vx" | grep -q vs_xsk_redirect || fail "our program is not behind the dispatcher"
	vs_ctl del-port e
	xdp-loader status "$vx" | grep -q xdpfilt_alw_all || fail "del-port removed the other program"
	pass "coexists with another program behind libxdp's dispatcher"
else
	expect_error "foreign XDP program" "without libxdp's dispatcher" ifname="$vx"
fi
xdp-loader unload --all "$vx" >/dev/null 2>&1 || true
vs_ctl version >/dev/null || fail "vswitchd does not answer after the refused requests"

# Without the capabilities: a second vswitchd whose bounding set lacks them
# (root's capabilities after exec are the bounding set).
printf 'control:\n  socket: %s\nmemory:\n  hugepage_size: none\n  buffers: 4096\n' \
	"$run/nocap.sock" >"$work/nocap.yaml"
for drop in "-net_raw,-net_admin,-bpf,-sys_admin:CAP_NET_RAW" "-net_admin,-bpf,-sys_admin:cannot load an XDP program"; do
	setpriv --bounding-set "${drop%%:*}" "$VSWITCHD" -c "$work/nocap.yaml" >"$work/nocap.log" 2>&1 &
	nocap=$!
	bg_pids+=("$nocap")
	deadline=$((SECONDS + 20))
	until "$VSWITCHCTL" -s "$run/nocap.sock" version >/dev/null 2>&1; do
		kill -0 "$nocap" 2>/dev/null || { cat "$work/nocap.log"; fail "vswitchd without ${drop%%:*} did not start"; }
		[ $SECONDS -lt $deadline ] || fail "vswitchd without ${drop%%:*} does not answer"
		sleep 0.1
	done
	if "$VSWITCHCTL" -s "$run/nocap.sock" add-port e af_xdp ifname="$vx" >"$work/err.out" 2>&1; then
		fail "add-port without ${drop%%:*} succeeded"
	fi
	grep -q "${drop#*:}" "$work/err.out" && grep -q "CAP_BPF" "$work/err.out" ||
		{ cat "$work/err.out"; fail "without ${drop%%:*}: the error does not name the capabilities"; }
	[ -z "$(xdp_progs "$vx")" ] || fail "a refused add-port left an XDP program on $vx"
	kill -TERM "$nocap"
	wait "$nocap" || fail "vswitchd without ${drop%%:*} exited with $?"
	pass "without ${drop%%:*}: $(cat "$work/err.out")"
done

# --- exits: SIGTERM; SIGKILL and a restart -------------------------------------------------
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
no_xdp_left "$va" "after SIGTERM"
no_xdp_left "$vb" "after SIGTERM"
pass "SIGTERM: exit 0, no XDP program on $va or $vb"

vs_start "$work/vswitchd.yaml"
ida=$(xdp_progs "$va") idb=$(xdp_progs "$vb")
[ -n "$ida" ] && [ -n "$idb" ] || fail "restart: no XDP programs attached"
kill -KILL "$VS_PID"
wait "$VS_PID" 2>/dev/null || true
VS_PID=""
[ "$(xdp_progs "$va")" = "$ida" ] || fail "after SIGKILL the program on $va is not the killed one's"
pass "SIGKILL leaves programs $ida and $idb behind"
vs_start "$work/vswitchd.yaml"
grep -q "removed the XDP program (id $ida)" "$VS_LOG" || fail "restart did not say it removed program $ida"
[ -n "$(xdp_progs "$va")" ] && [ "$(xdp_progs "$va")" != "$ida" ] || fail "restart: $va has $(xdp_progs "$va"), expected a new program"
pass "restart removed the killed vswitchd's programs and attached its own"
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
no_xdp_left "$va" "after SIGKILL, restart and SIGTERM"
no_xdp_left "$vb" "after SIGKILL, restart and SIGTERM"
pass "no XDP program left after SIGKILL, restart and SIGTERM"
say "PASS in $((SECONDS - VS_T0))s"
