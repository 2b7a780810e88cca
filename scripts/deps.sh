#!/usr/bin/env bash
# Installs everything vswitch needs to build, run and test on Debian 12.
# Idempotent: when every package is already there it touches nothing and
# does not even refresh the package lists. QEMU comes from bookworm-backports
# (10.x) because bookworm's 7.2 crashes with vhost-user under TCG.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

BASE_PKGS=(
	build-essential cmake pkg-config
	libhugetlbfs-dev libyaml-dev libcunit1-dev liburcu-dev libjansson-dev
	clang libclang-rt-14-dev
	iproute2 iputils-ping iperf3 busybox-static dpdk dpdk-dev gnuplot-nox procps kmod xz-utils cpio
	# zstd: test/lab/kernels.sh unpacks the 6.12 kernel (zstd) for PVH boot
	zstd
	# python3: host-side frame generators of the VFIO and testpmd tests
	python3
	# ethtool, tcpdump: what the kernel says about TAP offloads, frames on the wire
	ethtool tcpdump
	# frr: zebra and bgpd, the BGP EVPN control plane of the VXLAN port (evpn_test)
	frr
	# groff-base: docs_test formats the generated manual pages
	groff-base
	# AF_XDP ports: libxdp over libbpf; xdp-tools (xdp-loader) for the AF_XDP
	# test, which loads a foreign XDP program and reads what is attached
	libbpf-dev libxdp-dev xdp-tools
	# tshark: reads back vswitchctl capture's pcapng (interfaces, comments);
	# tmux: drives vswitchctl top on a terminal; curl: scrapes the metrics endpoint
	tshark tmux curl
	# libsystemd-dev: sd_notify for the Type=notify unit; debootstrap: the
	# package test installs the .deb into a fresh Debian root
	libsystemd-dev debootstrap
	# systemd: systemctl and journalctl in the README's service and logs sections
	systemd
)
BACKPORTS_PKGS=(qemu-system-x86)
BACKPORTS_FILE=/etc/apt/sources.list.d/bookworm-backports.sources
QEMU_MIN_VERSION=1:10

LOG_PREFIX=deps
# shellcheck source=scripts/apt-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"

pkg_version() {
	dpkg-query -W -f='${Version}' "$1" 2>/dev/null
}

# Any enabled source (one-line or deb822) already naming the suite counts, so
# we never add a duplicate entry that makes apt warn on every run.
backports_configured() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		if grep -Eq '^[^#]*\bbookworm-backports\b' "$f"; then
			return 0
		fi
	done
	return 1
}

need_update=0
if ! backports_configured; then
	log "adding bookworm-backports in $BACKPORTS_FILE"
	"${SUDO[@]}" tee "$BACKPORTS_FILE" >/dev/null <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	need_update=1
fi

missing=()
for p in "${BASE_PKGS[@]}"; do
	pkg_installed "$p" || missing+=("$p")
done

missing_bpo=()
for p in "${BACKPORTS_PKGS[@]}"; do
	if ! pkg_installed "$p" ||
		! dpkg --compare-versions "$(pkg_version "$p")" ge "$QEMU_MIN_VERSION"; then
		missing_bpo+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ] && [ ${#missing_bpo[@]} -eq 0 ] && [ $need_update -eq 0 ]; then
	log "all packages present"
	exit 0
fi

# Refresh the lists exactly once per run, and only when something is missing
# or the suite was just added (test/lab/kernels.sh downloads from it).
log "apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q

if [ ${#missing[@]} -gt 0 ]; then
	# wireshark-common (with tshark) asks whether non-root users may capture:
	# answered here (no), so the install never waits for a terminal.
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		"${SUDO[@]}" debconf-set-selections
	log "installing: ${missing[*]}"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ${#missing_bpo[@]} -gt 0 ]; then
	log "installing from bookworm-backports: ${missing_bpo[*]}"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends -t bookworm-backports "${missing_bpo[@]}"
fi

v=$(pkg_version qemu-system-x86)
if ! dpkg --compare-versions "$v" ge "$QEMU_MIN_VERSION"; then
	log "qemu-system-x86 is $v, need >= 10 from bookworm-backports"
	exit 1
fi
log "done"
