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
#   VS_VMLINUX_6_1=/var/cache/vswitch-lab/kernels/linux-image-6.1.0-56-amd64/vmlinux
# (VS_VMLINUX_*: the uncompressed kernel for QEMU's PVH boot, when extractable)
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
		sed -n '2,17p' "$0"
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

# Under TCG a bzImage spends seconds decompressing itself. Debian kernels
# have CONFIG_PVH, so QEMU can boot the uncompressed ELF directly (-kernel
# vmlinux): about 3x faster to /init. Prints the path on success.
extract_vmlinux() {
	local vmlinuz=$1 out=$2 magic off dec
	for magic in xz zstd gzip; do
		case $magic in
		xz) off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | head -n1 | cut -d: -f1) dec="xz -dc" ;;
		zstd) off=$(LC_ALL=C grep -abo $'\x28\xb5\x2f\xfd' "$vmlinuz" | head -n1 | cut -d: -f1) dec="zstd -qdc" ;;
		gzip) off=$(LC_ALL=C grep -abo $'\x1f\x8b\x08' "$vmlinuz" | head -n1 | cut -d: -f1) dec="gzip -dc" ;;
		esac
		[ -n "$off" ] || continue
		command -v "${dec%% *}" >/dev/null 2>&1 || continue
		# The image carries data after the stream; the decompressor complains
		# about it, so judge by the result instead of the exit code.
		tail -c +$((off + 1)) "$vmlinuz" | $dec >"$out.tmp" 2>/dev/null || true
		# An ELF with the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18).
		if [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ] &&
			readelf -n "$out.tmp" 2>/dev/null | grep -q 'note type: (0x00000012)'; then
			mv "$out.tmp" "$out"
			printf '%s\n' "$out"
			return 0
		fi
		rm -f "$out.tmp"
	done
	log "no PVH-bootable ELF in $vmlinuz; guests boot the compressed image (slower)"
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
	local vmlinux
	vmlinux=$(extract_vmlinux "$vmlinuz" "$dest/vmlinux") || vmlinux=""
	{
		printf 'VS_KERNEL_%s=%s\n' "$var" "$vmlinuz"
		printf 'VS_MODULES_%s=%s\n' "$var" "$moddir"
		[ -n "$vmlinux" ] && printf 'VS_VMLINUX_%s=%s\n' "$var" "$vmlinux"
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
