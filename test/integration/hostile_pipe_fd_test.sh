#!/usr/bin/env bash
# Front-ends hand over a full pipe as call fd, then pipes and sockets (turned
# blocking afterwards) as kick fds: none of them may block a poller.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

hx_start 3
for mode in pipe-call pipe-kick socket-kick; do
	hx_attack vs_attack_eventfd "$mode" "$(hx_sock p0)"
	hx_assert_alive
	hx_assert_ctl_fast
	hx_assert_traffic p1 p2
	hx_attack_stop
	hx_assert_baseline
done
hx_log_has 'SET_VRING_CALL: vring 0 call fd: not an eventfd but pipe:' "pipe as call fd refused"
hx_log_has 'SET_VRING_KICK: vring 0 kick fd: not an eventfd but pipe:' "pipe as kick fd refused"
hx_log_has 'SET_VRING_KICK: vring 0 kick fd: not an eventfd but socket:' "socket as kick fd refused"
hx_assert_sigterm
