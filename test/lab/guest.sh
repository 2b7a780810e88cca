#!/usr/bin/env bash
# Boots one lab guest in the foreground with a shell on this terminal, e.g. to
# try vswitchd by hand: `bash scripts/run.sh` starts it with vhost-user ports
# vm1 and vm2 (servers in /run/vswitch/), then in two more terminals
#   bash test/lab/guest.sh -i 10.0.0.1/24 -n vhost-user:/run/vswitch/vm1.sock
#   bash test/lab/guest.sh -i 10.0.0.2/24 -n vhost-user:/run/vswitch/vm2.sock
# and `ping 10.0.0.2` in the first. Ctrl-A X quits QEMU.
#
# Usage: guest.sh [-k 6.1|6.12] [-i IP/PREFIX] [-p PEER] [-M MODE] [-n NIC]...
#                 [-- QEMU-ARGS...]
#   -k  guest kernel (default 6.1)
#   -i  address of eth0 (default 10.0.0.1/24); the NICs' MACs default to
#       52:54:<3 last bytes of it>:<NIC index>, so two guests never clash
#   -p  peer for vs_mode=ping
#   -M  shell (default), ping (probe, count, print PING-RESULT, power off)
#   -n  NIC: vhost-user:SOCK[,server][,mac=MAC][,queues=N][,reconnect=MS]
#       | stream-server:PATH | stream-client:PATH | hubport:N
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kver=6.1 ip=10.0.0.1/24 peer="" mode=shell
nics=()
while getopts "k:i:p:M:n:h" opt; do
	case $opt in
	k) kver=$OPTARG ;;
	i) ip=$OPTARG ;;
	p) peer=$OPTARG ;;
	M) mode=$OPTARG ;;
	n) nics+=("$OPTARG") ;;
	*)
		sed -n '2,17p' "$0"
		exit 2
		;;
	esac
done
shift $((OPTIND - 1))

lab_kernel "$kver"
lab_setup
trap 'rm -rf "$LAB_RUN"' EXIT
lab_initramfs "$LAB_RUN/guest.cpio.gz" -i "$LAB_HERE/init-ping.sh" -m virtio_net -m virtio_pci
IFS=./ read -r _ o2 o3 o4 _ <<<"$ip"
args=()
idx=0
for n in "${nics[@]}"; do
	# Separate guest.sh processes would all get the lab's first default MAC.
	mac=$(printf '52:54:%02x:%02x:%02x:%02x' "$o2" "$o3" "$o4" "$idx")
	case $n in *,mac=*) ;; *) n="$n,mac=$mac" ;; esac
	case $n in
	vhost-user:* | stream-server:* | stream-client:* | hubport:*) args+=("--${n%%:*}" "${n#*:}") ;;
	*)
		echo "guest.sh: unknown NIC '$n'" >&2
		exit 2
		;;
	esac
	idx=$((idx + 1))
done
for q in "$@"; do
	args+=(--qemu "$q")
done
append="vs_ip=$ip vs_mode=$mode"
[ -n "$peer" ] && append+=" vs_peer=$peer"
# Not exec'ed by lab_guest_start when the trap must clean up: run QEMU as a
# child instead.
(lab_guest_start g --initrd "$LAB_RUN/guest.cpio.gz" --append "$append" --interactive "${args[@]}")
