#!/usr/bin/env bash
# An af_xdp port next to someone else's XDP program. The test runs in a mount
# namespace of its own with a bpffs at /sys/fs/bpf (mounted there when the
# machine has none: nothing outside sees it, and it goes with the namespace).
# xdp-loader puts a foreign pass-all program on two veths (native and generic
# XDP) before vswitchd adds af_xdp ports on them. Where the kernel lets libxdp
# load its dispatcher (freplace programs): both programs run behind it
# (xdp-loader status lists both, show says dispatcher true), pings cross the
# switch, and after del-port, and after SIGKILL plus a restart, the foreign
# program is still attached and ours is gone. Where the kernel refuses it,
# xdp-loader attaches the foreign program alone, add-port is refused with the
# fix, and a port on a free veth says why it runs without the dispatcher
# (show's no_dispatcher, a warning). Always: a program attached with
# `ip link set dev X xdpgeneric` (never shareable) is refused with its fix, and
# with bpffs hidden (a tmpfs over it) show and the errors say to mount it.
set -euo pipefail

# A private mount namespace: our bpffs (or the tmpfs hiding it) is seen by
# vswitchd, xdp-loader and ip only.
if [ -z "${VS_XDP_MNTNS:-}" ]; then
	command -v unshare >/dev/null || { echo "unshare missing" >&2; exit 1; }
	VS_XDP_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox xdp-loader awk
pass_obj=$(ls /usr/lib/*/bpf/xdpfilt_alw_all.o /usr/lib/bpf/xdpfilt_alw_all.o 2>/dev/null | head -n1 || true)
[ -n "$pass_obj" ] || lab_skip "no xdpfilt_alw_all.o (xdp-tools' pass-all filter program)"

sfx=$$
nsA=vs-da-$sfx nsB=vs-db-$sfx
va=vsda$sfx vb=vsdb$sfx vx=vsdx$sfx
pa=pa$sfx pb=pb$sfx px=px$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-xdp-disp.XXXXXX")
mounted=()

cleanup() {
	local rc=$? p
	set +e
	[ ${#LAB_GUESTS[@]} -gt 0 ] && lab_guest_stop_all
	vs_kill
	for p in "$va" "$vb" "$vx"; do
		xdp-loader unload --all "$p" >/dev/null 2>&1
		ip link del "$p" 2>/dev/null
	done
	ip netns del "$nsA" 2>/dev/null
	ip netns del "$nsB" 2>/dev/null
	# Ours only, newest first (the namespace would drop them anyway).
	for ((p = ${#mounted[@]} - 1; p >= 0; p--)); do
		umount "${mounted[p]}" 2>/dev/null
	done
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT

# fstype PATH: the type of the file system last mounted on PATH.
fstype() { awk -v p="$1" '$2 == p { t = $3 } END { print t }' /proc/self/mounts; }
if [ "$(fstype /sys/fs/bpf)" != bpf ]; then
	mount -t bpf bpf /sys/fs/bpf || fail "cannot mount bpffs at /sys/fs/bpf"
	mounted+=(/sys/fs/bpf)
	say "mounted a bpffs at /sys/fs/bpf in the test's mount namespace"
fi

for ns in "$nsA" "$nsB"; do
	ip netns add "$ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
for v in "$va:$pa:$nsA:10.97.0.1" "$vb:$pb:$nsB:10.97.0.2" "$vx:$px:$nsB:10.97.1.2"; do
	IFS=: read -r root peer ns addr <<<"$v"
	vs_netns_veth "$root" "$peer" "$ns" "$addr/24"
done

# progs IFNAME: the names xdp-loader lists on the interface, one per line.
progs() { xdp-loader status "$1" 2>/dev/null | awk -v i="$1" '$1 == i || /^ *=>/ { for (f = 1; f <= NF; f++) if ($f ~ /^(xdp|vs)_/ || $f ~ /^xdpfilt/) { print $f; break } }'; }
has_prog() { progs "$1" | grep -x "$2" >/dev/null; } # not -q: pipefail and SIGPIPE
# show_field PORT KEY: a member of show's details (no python3 in the guest).
show_field() {
	vs_ctl --json show "$1" | sed -n '/"details"/,$p' | sed -n "s/^ *\"$2\": //p" | head -n1 | sed 's/,$//; s/^"//; s/"$//'
}

# pings NS PEER N: N answered pings through the switch.
pings() {
	local out=$work/ping.out
	ip netns exec "$1" busybox ping -c "$3" -i 0.05 -W 5 "$2" >"$out" 2>&1 || true
	read -r sent got <<<"$(ping_counts "$out")"
	[ "${sent:-0}" = "$3" ] && [ "${got:-0}" = "$3" ] || { cat "$out"; fail "ping $1 -> $2: ${got:-0} of $3 answered"; }
}

# The first ping after a port comes up may meet ARP still learning: probe first.
reach() {
	local deadline=$((SECONDS + 10))
	until ip netns exec "$1" busybox ping -c 1 -W 1 "$2" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || fail "no reply $1 -> $2 within 10 s"
	done
}

cat >"$work/vswitchd.yaml" <<EOF
pollers:
  cpus: [1]
control:
  socket: $work/vswitchd.sock
memory:
  hugepage_size: none
  buffers: 16384
EOF
cp "$work/vswitchd.yaml" "$work/only-b.yaml"
printf 'ports:\n  - {name: b, type: af_xdp, ifname: %s}\n' "$vb" >>"$work/only-b.yaml"
VS_LOG=$work/vswitchd.log

# --- a foreign program first, as its owner would load it ---------------------------
xdp-loader load -m native "$va" "$pass_obj" >"$work/load.out" 2>&1 || { cat "$work/load.out"; fail "xdp-loader load -m native $va"; }
xdp-loader load -m skb "$vb" "$pass_obj" >"$work/load.out" 2>&1 || { cat "$work/load.out"; fail "xdp-loader load -m skb $vb"; }
vs_start "$work/vswitchd.yaml"

dispatched=0
if has_prog "$va" xdp_dispatcher; then
	dispatched=1
	pass "libxdp's dispatcher runs here: xdpfilt_alw_all behind it on $va (native) and $vb (skb)"
	vs_ctl add-port a af_xdp ifname="$va" || fail "add-port a next to a dispatched program"
	vs_ctl add-port b af_xdp ifname="$vb" || fail "add-port b next to a dispatched program"
	for p in "a:$va:native" "b:$vb:generic"; do
		IFS=: read -r port dev mode <<<"$p"
		has_prog "$dev" xdpfilt_alw_all && has_prog "$dev" vs_xsk_redirect ||
			{ xdp-loader status "$dev"; fail "$dev: xdp-loader status does not list both programs"; }
		[ "$(show_field "$port" dispatcher)" = true ] || fail "port $port: show says dispatcher $(show_field "$port" dispatcher)"
		[ "$(show_field "$port" mode)" = "$mode" ] || fail "port $port: mode $(show_field "$port" mode), the dispatcher's is $mode"
	done
	pass "xdp-loader status lists xdpfilt_alw_all and vs_xsk_redirect on both; show: dispatcher true, the dispatcher's mode"
	reach "$nsA" 10.97.0.2
	pings "$nsA" 10.97.0.2 20
	pass "20 pings A -> B through two af_xdp ports behind dispatchers"

	vs_ctl del-port a || fail "del-port a"
	has_prog "$va" xdpfilt_alw_all && ! has_prog "$va" vs_xsk_redirect ||
		{ xdp-loader status "$va"; fail "after del-port a: expected xdpfilt_alw_all alone on $va"; }
	pass "del-port a: xdpfilt_alw_all still on $va, ours gone"

	vs_ctl add-port a af_xdp ifname="$va" || fail "add-port a again"
	reach "$nsA" 10.97.0.2
	kill -KILL "$VS_PID"
	wait "$VS_PID" 2>/dev/null || true
	VS_PID=""
	has_prog "$va" vs_xsk_redirect || fail "after SIGKILL our program should still be on $va"
	# The restarted vswitchd names only b: its sweep removes a's leftover too.
	vs_start "$work/only-b.yaml"
	n=$(grep -c "removed the XDP program" "$VS_LOG" || true)
	[ "$n" -eq 2 ] || fail "restart: $n 'removed the XDP program' lines, expected 2"
	has_prog "$va" xdpfilt_alw_all && ! has_prog "$va" vs_xsk_redirect ||
		{ xdp-loader status "$va"; fail "after SIGKILL and restart: expected xdpfilt_alw_all alone on $va"; }
	has_prog "$vb" xdpfilt_alw_all && has_prog "$vb" vs_xsk_redirect ||
		{ xdp-loader status "$vb"; fail "after restart: expected both programs on $vb"; }
	vs_stop
	[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
	for dev in "$va" "$vb"; do
		has_prog "$dev" xdpfilt_alw_all && ! has_prog "$dev" vs_xsk_redirect ||
			{ xdp-loader status "$dev"; fail "after SIGTERM: expected xdpfilt_alw_all alone on $dev"; }
	done
	pass "SIGKILL, restart, SIGTERM: the leftovers removed, xdpfilt_alw_all still on $va and $vb"
	vs_start "$work/vswitchd.yaml"
else
	# Whole output to a file: a reader that stops early would kill xdp-loader by
	# SIGPIPE while it holds its lock file (/run/xdp-loader.lck), which then
	# stops every later xdp-loader.
	xdp-loader load -v -m skb "$vx" "$pass_obj" >"$work/load.out" 2>&1 || true
	why=$(grep -m1 'Compatibility check\|dispatcher' "$work/load.out" || true)
	xdp-loader unload --all "$vx" >/dev/null 2>&1 || true
	# The guest's kernel is one that has it: not having it there is a failure.
	[ -z "${VS_XDP_IN_GUEST:-}" ] || fail "no libxdp dispatcher in the guest: ${why:-no reason given}"
	say "NOT EXERCISED: this kernel refuses libxdp's dispatcher (${why:-no reason given}): xdp-loader attached xdpfilt_alw_all alone"
	if vs_ctl add-port a af_xdp ifname="$va" >"$work/err.out" 2>&1; then
		fail "add-port a next to a program attached alone succeeded"
	fi
	grep -q "without libxdp's dispatcher" "$work/err.out" && grep -q "ip link set dev $va xdp off" "$work/err.out" ||
		{ cat "$work/err.out"; fail "add-port a: the error does not name the fix"; }
	has_prog "$va" xdpfilt_alw_all && ! has_prog "$va" vs_xsk_redirect || { xdp-loader status "$va"; progs "$va"; fail "the refused add-port changed $va"; }
	pass "add-port next to xdp-loader's lone program refused: $(cat "$work/err.out")"
	for dev in "$va" "$vb"; do
		xdp-loader unload --all "$dev" >/dev/null 2>&1 || fail "xdp-loader unload $dev"
	done
	vs_ctl add-port a af_xdp ifname="$va" || fail "add-port a on a free veth"
	vs_ctl add-port b af_xdp ifname="$vb" || fail "add-port b on a free veth"
	[ "$(show_field a dispatcher)" = false ] || fail "port a: show says dispatcher $(show_field a dispatcher)"
	why=$(show_field a no_dispatcher)
	[[ $why == *"refused the freplace program"* ]] || fail "port a: no_dispatcher says '$why'"
	grep -q "$va: the af_xdp port's XDP program is the interface's only one.*freplace" "$VS_LOG" ||
		fail "no warning in the log says why $va runs without the dispatcher"
	pass "port on a free veth: dispatcher false, no_dispatcher: $why"
	reach "$nsA" 10.97.0.2
	pings "$nsA" 10.97.0.2 20
	pass "20 pings A -> B through two af_xdp ports"
	vs_ctl del-port a
	vs_ctl del-port b
fi

# --- never shareable: attached with ip link, not libxdp -------------------------------
ip link set dev "$vx" xdpgeneric obj "$pass_obj" sec xdp || fail "ip link cannot attach $pass_obj to $vx"
if vs_ctl add-port x af_xdp ifname="$vx" >"$work/err.out" 2>&1; then
	fail "add-port next to a program attached with ip link succeeded"
fi
grep -q "without libxdp's dispatcher" "$work/err.out" && grep -q "ip link set dev $vx xdp off" "$work/err.out" &&
	grep -q "load it with xdp-loader" "$work/err.out" || { cat "$work/err.out"; fail "the error does not name the fix"; }
pass "ip link's program refused: $(cat "$work/err.out")"

# --- bpffs hidden: the messages say to mount it ------------------------------------------
mount -t tmpfs -o size=1m vs-no-bpffs /sys/fs/bpf || fail "cannot hide /sys/fs/bpf"
mounted+=(/sys/fs/bpf)
if vs_ctl add-port x af_xdp ifname="$vx" >"$work/err.out" 2>&1; then
	fail "add-port next to ip link's program succeeded without bpffs"
fi
grep -q "mount -t bpf bpf /sys/fs/bpf" "$work/err.out" || { cat "$work/err.out"; fail "without bpffs the error does not say to mount it"; }
pass "without bpffs: $(cat "$work/err.out")"
ip link set dev "$vx" xdpgeneric off
if [ "$dispatched" = 1 ]; then
	# The dispatcher still on A, with bpffs out of sight: libxdp cannot join it.
	if vs_ctl add-port a af_xdp ifname="$va" >"$work/err.out" 2>&1; then
		fail "add-port next to a dispatcher whose bpffs is hidden succeeded"
	fi
	grep -q "libxdp's dispatcher" "$work/err.out" && grep -q "mount -t bpf bpf /sys/fs/bpf" "$work/err.out" ||
		{ cat "$work/err.out"; fail "next to a dispatcher without bpffs: the error does not say to mount it"; }
	pass "dispatcher without bpffs: $(cat "$work/err.out")"
	ip link set dev "$va" xdp off
fi
vs_ctl add-port a af_xdp ifname="$va" || fail "add-port a without bpffs"
why=$(show_field a no_dispatcher)
[ "$(show_field a dispatcher)" = false ] && [[ $why == *"mount -t bpf bpf /sys/fs/bpf"* ]] ||
	fail "without bpffs: show says dispatcher $(show_field a dispatcher), no_dispatcher '$why'"
grep -q "$va: the af_xdp port's XDP program is the interface's only one.*mount -t bpf bpf /sys/fs/bpf" "$VS_LOG" ||
	fail "without bpffs: no warning says to mount it"
pass "without bpffs: dispatcher false, no_dispatcher: $why"
vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
[ -z "$(progs "$va")" ] || fail "after SIGTERM: $(progs "$va") left on $va"
umount /sys/fs/bpf
unset 'mounted[${#mounted[@]}-1]'

# --- the dispatcher on a kernel that has it --------------------------------------------
# This host's kernel refused it: the test runs again in a TCG guest with a stock
# Debian kernel (Linux 6.12), which must take the dispatcher path above.
if [ "$dispatched" = 0 ] && [ -z "${VS_XDP_IN_GUEST:-}" ]; then
	lab_require_qemu
	lab_kernel 6.12
	lab_setup "$work/lab"
	t=$SECONDS
	bins=()
	for b in bash ip xdp-loader ethtool; do
		bins+=(-b "$(command -v "$b")")
	done
	lab_initramfs "$work/disp.cpio.gz" -i "$VS_LAB/af_xdp/init-dispatcher.sh" -m veth -m tun \
		"${bins[@]}" -b "$VSWITCHD" -b "$VSWITCHCTL" \
		-f "$VSWITCHD:/usr/bin/vswitchd" -f "$VSWITCHCTL:/usr/bin/vswitchctl" \
		-f "$(dirname "$pass_obj"):$(dirname "$pass_obj")" \
		-f "$VS_SOURCE_DIR/test/integration/af_xdp_dispatcher_test.sh:/vs/integration/af_xdp_dispatcher_test.sh" \
		-f "$VS_SOURCE_DIR/test/integration/common.sh:/vs/integration/common.sh" \
		-f "$VS_LAB/lib.sh:/vs/lab/lib.sh" ||
		fail "cannot build the guest's initramfs"
	say "guest initramfs in $((SECONDS - t))s"
	lab_guest_start disp --initrd "$work/disp.cpio.gz" --smp 2 --mem 512 --cpu max ||
		fail "cannot start the guest"
	lab_guest_waitexit disp 120 || { lab_guest_dump disp; fail "the guest did not finish within 120 s"; }
	tr -d '\r' <"$LAB_RUN/disp.console" | sed -n 's/^\[af_xdp_dispatcher_test /[guest: /p'
	grep -aq '^DISPATCHER-RC 0' <(tr -d '\r' <"$LAB_RUN/disp.console") ||
		{ lab_guest_dump disp; fail "the test failed in the guest (Linux 6.12)"; }
	grep -aq "ok: xdp-loader status lists xdpfilt_alw_all and vs_xsk_redirect" "$LAB_RUN/disp.console" ||
		fail "the guest did not take the dispatcher path"
	pass "in a Linux 6.12 guest: both programs behind libxdp's dispatcher, traffic, del-port, SIGKILL and restart"
fi
say "PASS in $((SECONDS - VS_T0))s"
