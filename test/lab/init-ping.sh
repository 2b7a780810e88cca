#!/bin/sh
# /init of a ping guest. Kernel parameters (all optional but vs_ip):
#   vs_ip=10.0.0.1/24   address for vs_if (default eth0)
#   vs_peer=10.0.0.2    host to ping
#   vs_mode=ping|agent  ping: probe the peer until it answers, then count
#                       vs_count pings every vs_interval s and print
#                       "PING-RESULT peer=P sent=N received=M", stay up
#                       vs_linger s (the peer may still be counting), power off.
#                       agent: serve commands from the host on ttyS1
#                       (lab_guest_exec in test/lab/lib.sh) until "exit".
#                       shell: an interactive shell on the console
#                       (test/lab/guest.sh); power off when it exits.
#   vs_probe=60         seconds to wait for the first reply
#   vs_iperf3=1         run an iperf3 server (the initramfs must carry iperf3)
. /lib/lab.sh

lab_boot
ifname=${vs_if:-eth0}
if ! lab_net_up "$ifname" "${vs_ip:-}"; then
	ls /sys/class/net >/dev/console
	lab_poweroff
fi
if [ -n "${vs_iperf3:-}" ]; then
	iperf3 -s -D || lab_say "LAB-ERROR iperf3 server did not start"
fi
lab_say "LAB-READY if=$ifname ip=${vs_ip:-none}"

case ${vs_mode:-ping} in
ping)
	if [ -n "${vs_peer:-}" ] && lab_ping_probe "$vs_peer" "${vs_probe:-60}"; then
		lab_ping_count "$vs_peer" "${vs_count:-20}" "${vs_interval:-0.2}"
	else
		lab_say "PING-RESULT peer=${vs_peer:-none} sent=0 received=0"
	fi
	[ -n "${vs_linger:-}" ] && sleep "$vs_linger"
	;;
agent)
	lab_agent /dev/ttyS1
	;;
shell)
	lab_say "ping ${vs_peer:-PEER}, ip addr, ...; exit powers off"
	setsid cttyhack sh -l
	;;
*)
	lab_say "LAB-ERROR unknown vs_mode=${vs_mode}"
	;;
esac
lab_poweroff
