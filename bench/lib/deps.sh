#!/usr/bin/env bash
# Installs what the side-by-side benchmark needs beyond scripts/deps.sh:
# Open vSwitch built with DPDK (Debian's openvswitch-switch-dpdk), DPDK's
# testpmd and gnuplot. Idempotent: when everything is present it touches
# nothing, not even the package lists. It also points the ovs-vswitchd
# alternative at the DPDK build when it points elsewhere, because the plain
# build silently ignores other_config:dpdk-init.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

LOG_PREFIX=bench-deps
# shellcheck source=scripts/apt-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/apt-lib.sh"

PKGS=(openvswitch-switch-dpdk openvswitch-common dpdk dpdk-dev gnuplot-nox python3 git linux-perf)

missing=()
for p in "${PKGS[@]}"; do
	pkg_installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	# The packages' maintainer scripts would start a system-wide OVS where
	# services may start; the benchmark runs its own private instance and
	# does not need it, but tolerates it (separate run directory and DPDK
	# file prefix).
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian ships two ovs-vswitchd binaries and picks one with alternatives.
dpdk_bin=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
if [ ! -x "$dpdk_bin" ]; then
	log "no $dpdk_bin after installing openvswitch-switch-dpdk"
	exit 1
fi
current=$(readlink -f /usr/sbin/ovs-vswitchd 2>/dev/null || true)
if [ "$current" != "$(readlink -f "$dpdk_bin")" ]; then
	log "selecting the DPDK build of ovs-vswitchd (was: ${current:-none})"
	"${SUDO[@]}" update-alternatives --set ovs-vswitchd "$dpdk_bin"
fi
log "ready: dpdk $(dpkg-query -W -f='${Version}' dpdk), $(/usr/sbin/ovs-vswitchd --version | tr '\n' ' ')"
