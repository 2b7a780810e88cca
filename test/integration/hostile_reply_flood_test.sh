#!/usr/bin/env bash
# A front-end floods requests that have replies (GET_FEATURES, SET_OWNER with
# NEED_REPLY) and never reads one, reconnecting whenever it is dropped: replies
# must never make the main thread wait, so vswitchctl and other front-ends go on.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

hx_start 3
hx_attack vs_attack_reply_flood "$(hx_sock p0)"
sleep 1 # let it go through a few connections
hx_assert_ctl_fast # the main thread used to wait up to a second per unread reply
drops=$(hx_port_stat p0 reply_overflows)
[ "$drops" -ge 2 ] || fail "reply_overflows of p0 is $drops: the flooder was not disconnected over and over"
pass "the flooder was disconnected $drops times for not reading its replies"
lines=$(grep -c 'does not read its replies' "$VS_LOG" || true)
[ "$lines" -eq 1 ] || fail "$lines log lines about unread replies, expected exactly one"
hx_log_has 'does not read its replies' "logged once"
assert_survived p1 p2
