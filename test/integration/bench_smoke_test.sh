#!/usr/bin/env bash
# The side-by-side benchmark in its CI smoke mode: vswitchd (busy and
# adaptive pollers), DPDK testpmd with net_vhost, and OVS-DPDK with
# port-to-port flows and with NORMAL, each fed by the same dpdk-testpmd
# virtio-user generator for a few seconds. Asserts that every backend moved
# traffic (counted at the generator and by the switch itself), that vswitchd
# learnt each generator MAC on its own port, and that nothing is left behind
# (processes, DPDK hugepage files). Never asserts a speed.
# Then the guest TCP row's smoke mode (--guest-tcp --smoke, ~15 s): two QEMU
# guests on vswitchd's vhost-user ports, iperf3 for 2 s; asserts TCP went
# through vswitchd and that no QEMU or vswitchd is left.
# Outside CI a missing testpmd/OVS/QEMU skips; with CI=true it fails.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

lab_require_root
vs_require_binaries
lab_require_cmd dpdk-testpmd python3 stdbuf ovs-vswitchd ovsdb-server ovsdb-tool ovs-vsctl \
	ovs-appctl ovs-ofctl
ovs-vswitchd --version | grep -q DPDK ||
	lab_skip "ovs-vswitchd is not the DPDK build (bash bench/lib/deps.sh selects it)"

out=$(mktemp -d "${TMPDIR:-/tmp}/vs-bench-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT

rc=0
VSWITCHD=$VSWITCHD VSWITCHCTL=$VSWITCHCTL FDB_BENCH=$VS_BUILD_DIR/bench/fdb_bench \
	timeout 500 bash "$VS_SOURCE_DIR/bench/run.sh" --smoke --no-deps --results "$out" \
	--build "$VS_BUILD_DIR" 2>&1 | tee "$out/run.txt" || rc=${PIPESTATUS[0]}

case $rc in
0) pass "bench/run.sh --smoke: every backend forwarded traffic" ;;
3) lab_skip "a peer of the benchmark is missing (see above)" ;;
124) fail "bench/run.sh --smoke did not finish within 500 s" ;;
*) fail "bench/run.sh --smoke exited with $rc" ;;
esac

jsons=("$out"/smoke-*.json)
json=${jsons[0]}
[ -r "$json" ] || fail "no smoke-*.json in $out"
python3 - "$json" <<'PY' || fail "smoke JSON does not show traffic through every backend"
import json, sys
d = json.load(open(sys.argv[1]))
names = d["config"]["backends"]
bad = [n for n in names
       if not any(r["backend"] == n and r["packets"] > 0 and r["switch"].get("forwarded", 0) > 0
                  for r in d["runs"])]
if bad or d["errors"]:
    print("no traffic through:", bad, "errors:", d["errors"])
    sys.exit(1)
for r in d["runs"]:
    print("  %-18s %.3f Mpps (smoke, not a measurement)" % (r["backend"], r["mpps"]))
PY
pass "the JSON report lists traffic for every backend"

# Only this run's processes: each of them names the run's work directory
# (sockets, pid files), so another benchmark on the machine is not counted.
no_leftovers() { # RUN-OUTPUT
	local workdir
	workdir=$(sed -n 's/.*work directory \([^;]*\);.*/\1/p' "$1" | head -n1)
	[ -n "$workdir" ] || fail "bench/run.sh did not print its work directory"
	if pgrep -f -- "$workdir/" >/dev/null; then
		fail "benchmark processes left running: $(pgrep -af -- "$workdir/" | head -5)"
	fi
}
no_leftovers "$out/run.txt"
pass "no benchmark process left running"
# Likewise only this run's hugepage files (named after its DPDK file prefix).
prefix=$(sed -n 's/.*hugepage prefix \([^;]*\);.*/\1/p' "$out/run.txt" | head -n1)
[ -n "$prefix" ] || fail "bench/run.sh did not print its hugepage prefix"
if ls /dev/hugepages/"$prefix"-* >/dev/null 2>&1; then
	fail "hugepage files left: $(ls /dev/hugepages/"$prefix"-*)"
fi
pass "no hugepage files left"

# --- the guest TCP row, vswitchd only ------------------------------------------
lab_require_qemu
lab_require_cmd iperf3
mkdir -p "$out/tcp"
rc=0
VSWITCHD=$VSWITCHD VSWITCHCTL=$VSWITCHCTL \
	timeout 300 bash "$VS_SOURCE_DIR/bench/run.sh" --guest-tcp --smoke --no-deps \
	--results "$out/tcp" --build "$VS_BUILD_DIR" 2>&1 | tee "$out/tcp.txt" || rc=${PIPESTATUS[0]}
case $rc in
0) pass "bench/run.sh --guest-tcp --smoke: TCP between two guests through vswitchd" ;;
3) lab_skip "a peer of the guest TCP row is missing (see above)" ;;
124) fail "bench/run.sh --guest-tcp --smoke did not finish within 300 s" ;;
*) fail "bench/run.sh --guest-tcp --smoke exited with $rc" ;;
esac
jsons=("$out"/tcp/smoke-tcp-*.json)
python3 - "${jsons[0]}" <<'PY' || fail "the guest TCP smoke JSON does not show TCP through vswitchd"
import json, sys
d = json.load(open(sys.argv[1]))
ok = [r for r in d["runs"] if r["backend"] == "vswitchd" and not r.get("failed")
      and r.get("bytes", 0) > 0 and r["switch"].get("forwarded", 0) > 0]
if not ok or d["errors"]:
    print("runs:", [(r["backend"], r.get("failed")) for r in d["runs"]], "errors:", d["errors"])
    sys.exit(1)
for r in ok:
    print("  vswitchd %s %.3f Gbit/s, %s retransmits (smoke, not a measurement)" % (
        r["direction"], r["gbps"], r.get("retransmits")))
PY
pass "the guest TCP JSON shows iperf3 bytes and forwarded frames through vswitchd"
no_leftovers "$out/tcp.txt"
pass "no QEMU or vswitchd of the guest TCP row left running"
