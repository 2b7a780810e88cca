#!/usr/bin/env bash
# The side-by-side benchmark of issue 5, one command:
#
#   bash bench/run.sh [--smoke] [--rounds N] [--seconds S] [--sizes 64,1518]
#                     [--backends vswitchd,testpmd,ovs-p2p,ovs-normal,vswitchd-adaptive]
#                     [--build DIR] [--no-deps] [--keep] ...
#   bash bench/run.sh --guest-tcp [--reverse] [--rounds N] [--seconds S]
#                     [--backends vswitchd-adaptive,vswitchd,testpmd-tso,ovs-dpdk-tso,...] ...
#   bash bench/run.sh --netdev [--rounds N] [--seconds S]
#   bash bench/run.sh --vxlan [--rounds N] [--seconds S]
#
# --netdev is the kernel-netdev row: af_xdp ports on veths against tap ports
# (64 B Mpps through a testpmd af_packet generator, iperf3 between namespaces).
# --vxlan is the VXLAN row (bench/vxlan.sh): namespace to namespace through two
# vswitchd joined by VXLAN over a veth underlay, next to TAP to TAP.
# --guest-tcp is the guest TCP row: two QEMU guests (test/lab/) on each
# switch's vhost-user ports, iperf3 between them.
# Installs the peers (bench/lib/deps.sh: OVS-DPDK, testpmd, gnuplot) unless
# --no-deps, reserves 2 MiB hugepages, builds vswitchd/vswitchctl/fdb_bench
# when the build directory lacks them, then runs bench/lib/run.py (every
# other option goes there; --help lists them). Needs root. Results land in
# bench/results/ (JSON, PNG); see bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${VS_BUILD_DIR:-$ROOT/build}
HUGEPAGES=${BENCH_HUGEPAGES:-1536}
deps=1
vxlan=0
pass=()
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD_DIR=$2; shift 2 ;;
	--build=*) BUILD_DIR=${1#--build=}; shift ;;
	--no-deps) deps=0; shift ;;
	--vxlan) vxlan=1; shift ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		python3 "$ROOT/bench/lib/run.py" --vswitchd - --vswitchctl - --help
		exit 0
		;;
	*) pass+=("$1"); shift ;;
	esac
done

say() { printf '[bench] %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	say "needs root (hugepages, DPDK, OVS)"
	exit 1
fi

if [ $vxlan -eq 1 ]; then
	[ -x "$BUILD_DIR/vswitchd" ] || cmake --build "$BUILD_DIR" -j "$(nproc)" --target vswitchd vswitchctl
	VS_BUILD_DIR=$BUILD_DIR exec bash "$ROOT/bench/vxlan.sh" "${pass[@]+"${pass[@]}"}"
fi

if [ $deps -eq 1 ]; then
	bash "$ROOT/bench/lib/deps.sh"
fi

no_huge=0
for a in "${pass[@]+"${pass[@]}"}"; do
	[ "$a" = --no-hugepages ] && no_huge=1
done
if [ $no_huge -eq 0 ]; then
	if [ -x "$ROOT/scripts/hugepages.sh" ] || [ -r "$ROOT/scripts/hugepages.sh" ]; then
		bash "$ROOT/scripts/hugepages.sh" "$HUGEPAGES" ||
			say "could not reserve $HUGEPAGES hugepages; continuing with what there is"
	else
		sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
		[ "$(cat $sysfs)" -ge "$HUGEPAGES" ] || echo "$HUGEPAGES" >$sysfs || true
		grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts || {
			mkdir -p /dev/hugepages
			mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
		}
	fi
fi

VSWITCHD=${VSWITCHD:-$BUILD_DIR/vswitchd}
VSWITCHCTL=${VSWITCHCTL:-$BUILD_DIR/vswitchctl}
FDB_BENCH=${FDB_BENCH:-$BUILD_DIR/bench/fdb_bench}
if [ ! -x "$VSWITCHD" ] || [ ! -x "$VSWITCHCTL" ]; then
	say "building vswitchd, vswitchctl and fdb_bench in $BUILD_DIR"
	cmake -S "$ROOT" -B "$BUILD_DIR" >/dev/null
	cmake --build "$BUILD_DIR" -j "$(nproc)" --target vswitchd vswitchctl fdb_bench
fi

free_before=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
rc=0
python3 "$ROOT/bench/lib/run.py" --vswitchd "$VSWITCHD" --vswitchctl "$VSWITCHCTL" \
	--fdb-bench "$FDB_BENCH" "${pass[@]+"${pass[@]}"}" || rc=$?
free_after=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
# Other programs on the machine may allocate meanwhile: a hint, not a verdict.
if [ "$free_after" -lt "$free_before" ]; then
	say "note: free hugepages $free_before before, $free_after after"
fi
exit $rc
