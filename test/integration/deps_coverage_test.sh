#!/usr/bin/env bash
# Every command the tests, scripts, benchmark and README examples need comes
# from a package that scripts/deps.sh or bench/lib/deps.sh installs (see
# test/common/deps_coverage.py). A package installed by hand on a developer's
# machine hides a missing install step from every other test; this one fails.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

lab_require_cmd python3 dpkg-query
checker=$VS_SOURCE_DIR/test/common/deps_coverage.py

out=$(python3 "$checker" --root "$VS_SOURCE_DIR" 2>&1) || {
	printf '%s\n' "$out"
	fail "commands without an install step (listed above)"
}
printf '%s\n' "$out" | tail -n 1
pass "every required command comes from a package an install script lists"

# The check itself must be able to fail: without dpdk-dev and iputils-ping in
# the lists (the mistakes that once reached main) it must name both commands.
if out=$(python3 "$checker" --root "$VS_SOURCE_DIR" --drop dpdk-dev --drop iputils-ping 2>&1); then
	fail "the check passed with dpdk-dev and iputils-ping left out of the install lists"
fi
printf '%s\n' "$out" | grep -q '^dpdk-testpmd .*dpdk-dev' ||
	fail "dpdk-testpmd not reported without dpdk-dev: $out"
printf '%s\n' "$out" | grep -q '^ping .*iputils-ping' ||
	fail "ping not reported without iputils-ping: $out"
pass "a package left out of the install lists is reported with the command that needs it"
