#!/usr/bin/env bash
# Builds a busybox initramfs (gzip'ed newc cpio) for test guests.
#
# Usage: initramfs.sh -o OUT.cpio.gz -i INIT [-M MODDIR] [-m MODULE]...
#                     [-b BINARY]... [-f SRC[:DST]]...
#   -o OUT     output file (written atomically)
#   -i INIT    script installed as /init (busybox sh); test/lab/guest-lib.sh is
#              always installed as /lib/lab.sh for it to source
#   -M MODDIR  lib/modules/<version> of an unpacked kernel (test/lab/kernels.sh)
#   -m 'MODULE [OPT=VAL...]'  module name (virtio_net, vfio-pci, ...) with
#              optional insmod parameters; its dependencies are
#              resolved with `modinfo -F depends`, built-in ones are skipped,
#              .ko.xz/.ko.zst are decompressed here because busybox insmod only
#              loads plain .ko. Load order is written to /etc/lab-modules.
#   -b BINARY  host program copied with the libraries ldd lists (+ libgcc_s)
#   -f SRC[:DST] extra file or directory (DST defaults to SRC)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="" init="" moddir=""
modules=() bins=() files=()

usage() {
	sed -n '2,17p' "$0" >&2
	exit 2
}

while getopts "o:i:M:m:b:f:h" opt; do
	case $opt in
	o) out=$OPTARG ;;
	i) init=$OPTARG ;;
	M) moddir=$OPTARG ;;
	m) modules+=("$OPTARG") ;;
	b) bins+=("$OPTARG") ;;
	f) files+=("$OPTARG") ;;
	*) usage ;;
	esac
done
[ -n "$out" ] && [ -n "$init" ] || usage
[ -r "$init" ] || { echo "initramfs: no init script $init" >&2; exit 1; }
if [ ${#modules[@]} -gt 0 ] && [ ! -d "$moddir" ]; then
	echo "initramfs: modules requested but no module dir (-M)" >&2
	exit 1
fi

die() {
	echo "initramfs: $*" >&2
	exit 1
}

BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "no $BUSYBOX (apt-get install busybox-static)"
# A dynamically linked busybox would need its libraries too; insist on the
# static build so the image does not depend on the host's libc layout.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is dynamically linked; install busybox-static"
fi
command -v cpio >/dev/null || die "cpio missing (apt-get install cpio)"

root=$(mktemp -d "${TMPDIR:-/tmp}/vs-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,lib/modules,root}
cp "$BUSYBOX" "$root/bin/busybox"
# One ln per applet, no subshells: this loop runs ~270 times.
while read -r applet; do
	[ -n "$applet" ] || continue
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done < <("$BUSYBOX" --list-full)

install -m 0755 "$init" "$root/init"
install -m 0644 "$HERE/guest-lib.sh" "$root/lib/lab.sh"

# --- kernel modules -------------------------------------------------------
declare -A mod_seen=()
mod_order=()

declare -A mod_index=()
index_modules() {
	local f base
	while IFS= read -r f; do
		base=${f##*/}
		base=${base%%.ko*}
		# Names in the tree may use either - or _; index them normalized.
		mod_index[${base//-/_}]=$f
	done < <(find "$moddir/kernel" -name '*.ko*' -type f)
}

find_module() {
	[ ${#mod_index[@]} -gt 0 ] || index_modules
	local f=${mod_index[${1//-/_}]:-}
	[ -n "$f" ] && printf '%s\n' "$f"
}

declare -A builtin_index=()
builtin_indexed=0
is_builtin() {
	if [ $builtin_indexed -eq 0 ]; then
		builtin_indexed=1
		local b
		if [ -r "$moddir/modules.builtin" ]; then
			while IFS= read -r b; do
				b=${b##*/}
				b=${b%.ko}
				builtin_index[${b//-/_}]=1
			done <"$moddir/modules.builtin"
		fi
	fi
	[ -n "${builtin_index[${1//-/_}]:-}" ]
}

add_module() {
	local name=${1//-/_}
	[ -n "${mod_seen[$name]:-}" ] && return 0
	mod_seen[$name]=1
	if is_builtin "$name"; then
		return 0
	fi
	local f
	f=$(find_module "$name") || die "module $1 not found under $moddir"
	local deps d dep_list=()
	deps=$(modinfo -F depends "$f" 2>/dev/null) || die "modinfo failed on $f"
	IFS=, read -ra dep_list <<<"$deps"
	for d in "${dep_list[@]}"; do
		[ -n "$d" ] && add_module "$d"
	done
	case $f in
	*.ko.xz) xz -dc "$f" >"$root/lib/modules/$name.ko" ;;
	*.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$name.ko" ;;
	*.ko.gz) gzip -dc "$f" >"$root/lib/modules/$name.ko" ;;
	*.ko) cp "$f" "$root/lib/modules/$name.ko" ;;
	*) die "unknown module format $f" ;;
	esac
	mod_order+=("$name")
}

declare -A mod_opts=()
for m in "${modules[@]}"; do
	read -r name opts <<<"$m"
	mod_opts[${name//-/_}]=$opts
	add_module "$name"
done
: >"$root/etc/lab-modules"
for m in "${mod_order[@]}"; do
	echo "$m ${mod_opts[$m]:-}" >>"$root/etc/lab-modules"
done

# --- host binaries and their libraries -------------------------------------
copy_path() {
	local src=$1 dst=$2
	mkdir -p "$root/$(dirname "$dst")"
	# A busybox applet link already there (sbin/ip -> /bin/busybox) must be
	# replaced, not written through: cp would follow it to the host's busybox.
	rm -f "$root/$dst"
	cp -L "$src" "$root/$dst"
}

copy_libs_of() {
	local bin=$1 lib
	# ldd prints "name => /path (addr)" or "/path (addr)" for the loader.
	while read -r lib; do
		[ -n "$lib" ] || continue
		[ -e "$root/$lib" ] || copy_path "$lib" "$lib"
	done < <(ldd "$bin" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }')
}

need_gcc_s=0
for b in "${bins[@]}"; do
	p=$b
	[ -x "$p" ] || p=$(command -v "$b") || die "binary $b not found"
	copy_path "$p" "$p"
	chmod 0755 "$root/$p"
	if ldd "$p" >/dev/null 2>&1; then
		copy_libs_of "$p"
		need_gcc_s=1
	fi
done
if [ $need_gcc_s -eq 1 ]; then
	# glibc dlopens libgcc_s for pthread_cancel and unwinding; ldd cannot see it.
	for g in /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1; do
		if [ -e "$g" ]; then
			[ -e "$root/$g" ] || copy_path "$g" "$g"
			break
		fi
	done
fi

for spec in "${files[@]}"; do
	src=${spec%%:*}
	dst=${spec#*:}
	[ "$spec" = "$src" ] && dst=$src
	[ -e "$src" ] || die "file $src not found"
	if [ -d "$src" ]; then
		mkdir -p "$root/$dst"
		cp -aL "$src/." "$root/$dst/"
		# Shared objects in a copied directory (plugins) need their libraries.
		while IFS= read -r so; do
			copy_libs_of "$so"
		done < <(find "$root/$dst" -name '*.so*' -type f)
	else
		copy_path "$src" "$dst"
		if ldd "$src" >/dev/null 2>&1; then
			copy_libs_of "$src"
		fi
	fi
done

# --- archive ---------------------------------------------------------------
mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"
echo "$out"
