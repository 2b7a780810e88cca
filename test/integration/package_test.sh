#!/usr/bin/env bash
# The Debian package, as an operator gets it: CPack builds the .deb from this
# build, apt installs it into a fresh Debian 12 root (debootstrap minbase; the
# root is cached as a tarball in $VS_LAB_DIR, made on the first run), and:
#   (a) apt resolves the package's Depends (the shared libraries) by itself;
#   (b) vswitchd --check-config passes on the installed /etc/vswitch/vswitchd.yaml
#       (exit 0) and refuses a broken file (exit 2); vswitchctl runs;
#   (c) the unit passes systemd-analyze verify where it is installed, and names
#       the installed binary and config;
#   (d) the man pages and the bash completion are in place (complete -p, compgen);
#   (e) the config is a conffile: an operator's edit survives a reinstall and a
#       remove; purge takes it.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_root
lab_require_cmd debootstrap cpack dpkg-deb tar chroot
MIRROR=${VS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT_TAR=$VS_LAB_DIR/debian12-minbase-systemd.tar

work=$(mktemp -d "${TMPDIR:-/tmp}/vs-package.XXXXXX")
root=$work/root
cleanup() {
	local m
	# Mounts inside the root, deepest first, before anything is removed.
	for m in "$root/dev/pts" "$root/dev" "$root/proc"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive "$@"; }

# --- the .deb ----------------------------------------------------------------
say "cpack"
(cd "$VS_BUILD_DIR" && cpack -G DEB -B "$work/cpack" >"$work/cpack.log" 2>&1) ||
	{ tail -n 30 "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$work"/cpack/vswitch_*_amd64.deb)
depends=$(dpkg-deb -f "$deb" Depends)
say "built $(basename "$deb"): Depends: $depends"
for lib in libc6 libjansson4 libyaml-0-2 liburcu8 libhugetlbfs0 libsystemd0 procps; do
	grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/vswitch/vswitchd.yaml ||
	fail "/etc/vswitch/vswitchd.yaml is not a conffile"
pass "the .deb depends on the libraries it links and ships the config as a conffile"

# --- a fresh Debian 12 root ----------------------------------------------------
if [ ! -s "$ROOT_TAR" ]; then
	say "no cached root: debootstrap --variant=minbase bookworm from $MIRROR (once)"
	mkdir -p "$VS_LAB_DIR"
	# systemd only for systemd-analyze verify; apt resolves everything else.
	debootstrap --variant=minbase --include=systemd bookworm "$work/boot" "$MIRROR" \
		>"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log"; fail "debootstrap failed"; }
	rm -f "$work/boot/var/cache/apt/archives/"*.deb
	tar -C "$work/boot" -cf "$ROOT_TAR.tmp" . && mv "$ROOT_TAR.tmp" "$ROOT_TAR"
	rm -rf --one-file-system "$work/boot"
	say "cached the root in $ROOT_TAR ($(du -h "$ROOT_TAR" | cut -f1))"
fi
mkdir "$root"
tar -C "$root" -xf "$ROOT_TAR"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/"
! in_root dpkg-query -W libjansson4 >/dev/null 2>&1 || fail "the fresh root already has libjansson4"

# --- (a) apt resolves the Depends --------------------------------------------------
say "apt-get install ./$(basename "$deb") in the root"
# The root's package lists are from the day it was cached; refresh them when
# they no longer match the mirror.
if ! in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" >"$work/apt.log" 2>&1; then
	in_root apt-get update -q >>"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log"; fail "apt-get update in the root"; }
	in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" >>"$work/apt.log" 2>&1 ||
		{ tail -n 30 "$work/apt.log"; fail "apt-get install of the .deb failed"; }
fi
for p in vswitch libjansson4 libyaml-0-2 liburcu8 libhugetlbfs0 procps; do
	in_root dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		fail "$p is not installed in the root"
done
pass "apt installed the .deb and its dependencies"

# --- (b) the programs run ----------------------------------------------------------
out=$(in_root vswitchd --check-config -c /etc/vswitch/vswitchd.yaml 2>&1) || fail "--check-config: $out"
grep -q '^/etc/vswitch/vswitchd.yaml: ok' <<<"$out" || fail "--check-config said: $out"
printf 'fdb:\n  size: 1\n' >"$root/tmp/bad.yaml"
rc=0
out=$(in_root vswitchd --check-config -c /tmp/bad.yaml 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "--check-config of a broken file exited $rc: $out"
grep -q '^/tmp/bad.yaml:2:9: fdb.size: ' <<<"$out" || fail "--check-config of a broken file said: $out"
[ "$(in_root vswitchctl --version)" = "vswitchctl $("$VSWITCHCTL" --version | cut -d' ' -f2)" ] ||
	fail "vswitchctl --version in the root"
pass "vswitchd --check-config: 0 on the installed config, 2 with FILE:LINE:COL on a broken one"

# --- (c) the unit -------------------------------------------------------------------
unit=/usr/lib/systemd/system/vswitchd.service
grep -qx 'ExecStart=/usr/sbin/vswitchd -c /etc/vswitch/vswitchd.yaml' "$root$unit" ||
	fail "ExecStart: $(grep ExecStart "$root$unit")"
grep -qx 'Type=notify' "$root$unit" || fail "the unit is not Type=notify: $(grep Type= "$root$unit")"
# Documentation= names man pages; man-db is not in the root, they are checked below.
out=$(in_root systemd-analyze verify --man=no "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
pass "systemd-analyze verify $unit: clean"

# --- (d) man pages and completion --------------------------------------------------
for page in man8/vswitchd.8 man8/vswitchctl.8 man5/vswitchd.yaml.5; do
	[ -s "$root/usr/share/man/$page" ] || fail "no /usr/share/man/$page"
	grep -qi "man:$(basename "${page%.*}")(${page##*.})" "$root$unit" || fail "the unit does not name $page"
done
got=$(in_root bash -c '. /usr/share/bash-completion/completions/vswitchctl && complete -p vswitchctl &&
	COMP_WORDS=(vswitchctl fdb ""); COMP_CWORD=2; _vswitchctl; echo "${COMPREPLY[*]}"')
grep -q '^complete -F _vswitchctl vswitchctl$' <<<"$got" || fail "complete -p: $got"
# The installed completion offers what the installed vswitchctl's table has.
want=$(in_root vswitchctl --help | sed -n 's/^  fdb \([a-z]*\).*/\1/p' | sort -u | xargs)
[ -n "$want" ] || fail "no fdb subcommands in the installed vswitchctl --help"
[ "$(tail -n1 <<<"$got" | tr ' ' '\n' | sort -u | xargs)" = "$want" ] ||
	fail "compgen for 'vswitchctl fdb': $got (--help lists: $want)"
pass "man pages and bash completion installed"

# --- (e) the conffile ----------------------------------------------------------------
echo "# edited by the operator" >>"$root/etc/vswitch/vswitchd.yaml"
in_root dpkg -i --force-confold "/tmp/$(basename "$deb")" >"$work/reinstall.log" 2>&1 ||
	{ cat "$work/reinstall.log"; fail "reinstall"; }
tail -n1 "$root/etc/vswitch/vswitchd.yaml" | grep -qx '# edited by the operator' || fail "reinstall replaced the edited config"
in_root apt-get remove -y -q vswitch >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "remove"; }
[ ! -e "$root/usr/sbin/vswitchd" ] || fail "remove left /usr/sbin/vswitchd"
[ -e "$root/etc/vswitch/vswitchd.yaml" ] || fail "remove took the config"
in_root apt-get purge -y -q vswitch >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "purge"; }
[ ! -e "$root/etc/vswitch/vswitchd.yaml" ] || fail "purge left the config"
pass "an edited config survives reinstall and remove; purge takes it"
pass "package"
