#!/usr/bin/env bash
# Fetches guest kernels for the test lab without installing them on the host:
#   6.1  - bookworm's linux-image-amd64 dependency (vhost-user guests)
#   6.12 - bookworm-backports' linux-image-6.12.*-amd64 (VFIO/VDUSE guests)
# Each package is downloaded with `apt-get download` and unpacked with
# `dpkg-deb -x` under $VS_LAB_DIR/kernels/<package>/. Once unpacked, a small
# env file remembers the paths, so later runs need neither apt nor network.
#
# Usage: kernels.sh [6.1|6.12|all] [--refresh]
# Prints shell assignments (eval-able), e.g.
#   VS_KERNEL_6_1=/var/cache/vswitch-lab/kernels/linux-image-6.1.0-56-amd64/boot/vmlinuz-6.1.0-56-amd64
#   VS_MODULES_6_1=/var/cache/vswitch-lab/kernels/linux-image-6.1.0-56-amd64/lib/modules/6.1.0-56-amd64
set -euo pipefail

LAB_DIR=${VS_LAB_DIR:-/var/cache/vswitch-lab}
KDIR=$LAB_DIR/kernels
which=all
refresh=0
for a in "$@"; do
	case $a in
	6.1 | 6.12 | all) which=$a ;;
	--refresh) refresh=1 ;;
	-h | --help)
		sed -n '2,14p' "$0"
		exit 0
		;;
	*)
		echo "kernels.sh: unknown argument '$a'" >&2
		exit 2
		;;
	esac
done

log() { printf 'kernels: %s\n' "$*" >&2; }

mkdir -p "$KDIR"
updated=0

# apt's candidate may be missing when the lists are stale or the backports
# suite was just added: refresh once, then retry.
apt_update_once() {
	if [ $updated -eq 0 ]; then
		log "apt-get update"
		apt-get update -q >&2
		updated=1
	fi
}

# Package that the linux-image-amd64 metapackage of the given release
# (empty = default release, else a -t target) depends on.
image_pkg_for() {
	local target=$1 out
	local args=()
	[ -n "$target" ] && args=(-t "$target")
	out=$(apt-cache depends "${args[@]}" linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$out" ]; then
		apt_update_once
		out=$(apt-cache depends "${args[@]}" linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	printf '%s\n' "$out"
}

# Prefer the signed image (what the metapackage names); fall back to the
# -unsigned build when only that one is published.
pick_existing() {
	local p
	for p in "$@"; do
		if apt-cache show "$p" >/dev/null 2>&1; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

fetch_one() {
	local tag=$1 target=$2 var=${1//./_}
	local envf=$KDIR/$tag.env
	if [ $refresh -eq 0 ] && [ -r "$envf" ]; then
		# shellcheck disable=SC1090
		. "$envf"
		local kv=VS_KERNEL_$var mv=VS_MODULES_$var
		if [ -r "${!kv:-}" ] && [ -d "${!mv:-}" ]; then
			cat "$envf"
			return 0
		fi
	fi

	local pkg
	pkg=$(image_pkg_for "$target")
	if [ -z "$pkg" ]; then
		log "cannot resolve the linux-image-amd64 dependency for ${target:-bookworm}"
		return 1
	fi
	if [ "$tag" = 6.12 ] && [[ $pkg != linux-image-6.12.* ]]; then
		log "bookworm-backports offers $pkg, expected a 6.12 kernel"
		return 1
	fi
	if ! pkg=$(pick_existing "$pkg" "$pkg-unsigned"); then
		apt_update_once
		pkg=$(pick_existing "$pkg" "$pkg-unsigned") || {
			log "no package $pkg or $pkg-unsigned in the apt lists"
			return 1
		}
	fi

	local dest=$KDIR/$pkg
	if [ ! -e "$dest/.unpacked" ]; then
		local tmp
		tmp=$(mktemp -d "$KDIR/.dl.XXXXXX")
		# apt drops privileges to _apt for downloads; let it write here.
		chmod 0777 "$tmp"
		log "downloading $pkg"
		if ! (cd "$tmp" && apt-get download -q "$pkg" >&2); then
			rm -rf "$tmp"
			log "apt-get download $pkg failed"
			return 1
		fi
		rm -rf "$dest"
		mkdir -p "$dest"
		log "unpacking $pkg"
		dpkg-deb -x "$tmp"/*.deb "$dest"
		rm -rf "$tmp"
		touch "$dest/.unpacked"
	fi

	local vmlinuz="" moddir="" f
	for f in "$dest"/boot/vmlinuz-*; do
		[ -f "$f" ] && vmlinuz=$f && break
	done
	for f in "$dest"/lib/modules/* "$dest"/usr/lib/modules/*; do
		[ -d "$f" ] && moddir=$f && break
	done
	if [ -z "$vmlinuz" ] || [ -z "$moddir" ]; then
		log "$pkg has no boot/vmlinuz-* or lib/modules/*"
		return 1
	fi
	{
		printf 'VS_KERNEL_%s=%s\n' "$var" "$vmlinuz"
		printf 'VS_MODULES_%s=%s\n' "$var" "$moddir"
	} >"$envf.tmp"
	mv "$envf.tmp" "$envf"
	cat "$envf"
}

case $which in
6.1) fetch_one 6.1 "" ;;
6.12) fetch_one 6.12 bookworm-backports ;;
all)
	fetch_one 6.1 ""
	fetch_one 6.12 bookworm-backports
	;;
esac
