#!/usr/bin/env bash
# A front-end clears O_NONBLOCK on its kick eventfds after handing them over (the
# flag lives in the open file description it shares with us): the adaptive
# poller's drain of the kick fd must still never block.
set -euo pipefail
# shellcheck source=hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"

hx_start 3
hx_attack vs_attack_eventfd kick-blocking "$(hx_sock p0)"
assert_survived p1 p2
