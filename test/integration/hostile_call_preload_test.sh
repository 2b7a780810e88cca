#!/usr/bin/env bash
# A front-end hands over a blocking call eventfd whose counter it pre-loaded to
# the maximum, then lets the switch deliver frames to it with interrupts on: the
# poller's interrupt must never wait (the counter saturates or the failure is
# counted), and the other ports, the control socket and shutdown go on.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

hx_start 3
hx_attack vs_attack_eventfd call-preload "$(hx_sock p0)"
hx_assert_alive
hx_assert_ctl_fast
# Frames flooded from p1 also reach the attacker's guest, which wants interrupts.
hx_assert_traffic p1 p2
kicks=$(hx_vring_stat p0 0 kicks)
failed=$(hx_vring_stat p0 0 kicks_failed)
[ $((kicks + failed)) -gt 0 ] || fail "the switch never tried to interrupt the attacker (kicks $kicks, failed $failed): the attack did not happen"
pass "interrupts to the attacker's full eventfd: $kicks given (saturating), $failed failed"
assert_survived p1 p2
