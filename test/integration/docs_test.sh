#!/usr/bin/env bash
# The generated manual pages and bash completion (build/doc/) against the
# programs they describe:
#   (a) every vswitchctl command and option in its --help (the command table)
#       has an entry in vswitchctl(8) and completes in bash; every vswitchd
#       option has one in vswitchd(8); every port type in vswitchd.yaml(5);
#   (b) the pages format without a groff warning;
#   (c) completion in a fresh bash: commands, subcommands, port types, a
#       type's option keys, and port names from a running vswitchd.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
lab_require_cmd groff
DOC=$VS_BUILD_DIR/doc
for f in vswitchd.8 vswitchd.yaml.5 vswitchctl.8 vswitchctl.bash; do
	[ -s "$DOC/$f" ] || fail "no $DOC/$f (built by the docs target)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vs-docs.XXXXXX")
cleanup() {
	vs_kill
	rm -rf "$work"
}
trap cleanup EXIT

# What roff makes of a term: minus signs escaped.
roff() { sed 's/-/\\-/g' <<<"$1"; }
# has_item PAGE TERM: a line of PAGE starts with TERM in bold (an entry).
has_item() {
	T="\\fB$(roff "$2")\\fR" awk 'index($0, ENVIRON["T"]) == 1 { f = 1 } END { exit !f }' "$1"
}

# complete WORDS...: what the completion offers for the last word, one line.
complete_words() {
	bash -c '. "$1"; shift
		complete -p vswitchctl >/dev/null || exit 3
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
		_vswitchctl; echo "${COMPREPLY[*]}"' _ "$DOC/vswitchctl.bash" "$@"
}

# --- (a) commands and options ---------------------------------------------------
mapfile -t cmds < <("$VSWITCHCTL" --help | sed -n '/^Commands:/,/^$/p' |
	sed -n 's/^  \([a-z][a-z-]*\( [a-z][a-z-]*\)\{0,1\}\)\( [^a-z].*\|  .*\|\)$/\1/p' | sed 's/ *$//')
[ ${#cmds[@]} -ge 8 ] || fail "found only ${#cmds[@]} commands in vswitchctl --help: ${cmds[*]}"
say "commands in vswitchctl --help: ${cmds[*]}"
for c in "${cmds[@]}"; do
	has_item "$DOC/vswitchctl.8" "$c" || fail "vswitchctl(8) has no entry for '$c'"
	read -ra w <<<"$c"
	if [ ${#w[@]} -eq 1 ]; then
		got=$(complete_words vswitchctl "${c:0:2}")
	else
		got=$(complete_words vswitchctl "${w[0]}" "")
	fi
	grep -qw -- "${w[-1]}" <<<"$got" || fail "completion does not offer '${w[-1]}' for '$c' (got: $got)"
done
pass "every command of vswitchctl --help is in vswitchctl(8) and completes"
# The README's summary of vswitchctl is written by hand: it must name them all too.
readme_cmds=$(awk '/^## vswitchctl/ { f = 1 } f && /^```/ { n++; if (n == 2) exit; next } f && n == 1' \
	"$VS_SOURCE_DIR/README.md")
[ -n "$readme_cmds" ] || fail "no code block under '## vswitchctl' in README.md"
for c in "${cmds[@]}"; do
	grep -qE "(^  |\| )$c( |\$)" <<<"$readme_cmds" || fail "README.md's vswitchctl block lacks '$c'"
done
pass "README.md's vswitchctl block names every command"

for opts_of in "$VSWITCHCTL:vswitchctl.8" "$VSWITCHD:vswitchd.8"; do
	prog=${opts_of%%:*} page=${opts_of#*:}
	mapfile -t longs < <("$prog" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+')
	[ ${#longs[@]} -ge 4 ] || fail "found only ${#longs[@]} options in $prog --help"
	for o in "${longs[@]}"; do
		grep -qF -- "$(roff "$o")" "$DOC/$page" || fail "$page does not document $o"
	done
	pass "$page documents every option of $(basename "$prog") --help (${longs[*]})"
done
got=$(complete_words vswitchctl --j)
[ "$got" = --json ] || fail "completion of --j: '$got'"

types=$("$VSWITCHD" --help | sed -n 's/^Port types: \(.*\)\.$/\1/p' | tr -d ,)
[ -n "$types" ] || fail "no port types in vswitchd --help"
for t in $types; do
	has_item "$DOC/vswitchd.yaml.5" "$t" || fail "vswitchd.yaml(5) has no port type $t"
done
pass "vswitchd.yaml(5) lists the port types ($types)"

# --- (b) formatting ---------------------------------------------------------------
for page in vswitchd.8 vswitchd.yaml.5 vswitchctl.8; do
	warn=$(groff -man -Tutf8 -ww -z "$DOC/$page" 2>&1)
	[ -z "$warn" ] || fail "groff warns about $page: $warn"
done
pass "the pages format without warnings"

# --- (c) completion of arguments ----------------------------------------------
sorted() { tr ' ' '\n' <<<"$1" | sort | xargs; }
got=$(complete_words vswitchctl add-port p0 "")
[ "$(sorted "$got")" = "$(sorted "$types")" ] || fail "port types: expected '$types', got '$got'"
got=$(complete_words vswitchctl add-port p0 tap "")
[ "$(sorted "$got")" = "$(sorted "allowed_macs= broadcast_limit_pps= ifname= ingress_burst= ingress_rate= mac_limit= mtu= multicast_limit_pps= native_vlan= offloads= tag= trunks= unknown_unicast_limit_pps= vlan_mode=")" ] ||
	fail "tap options and the switch's keys: got '$got'"
got=$(complete_words vswitchctl add-port p0 tap o)
[ "$got" = "offloads=" ] || fail "tap options starting with o: got '$got'"
got=$(complete_words vswitchctl fdb "")
[ "$got" = "show flush add del" ] || fail "fdb subcommands: got '$got'"
# Every command's arguments complete without a shell error, whatever they are.
for c in "${cmds[@]}"; do
	read -ra w <<<"$c"
	for args in "" "x" "x y"; do
		read -ra a <<<"$args"
		errs=$(complete_words "$VSWITCHCTL" -s "$work/none.sock" "${w[@]}" "${a[@]}" "" 2>&1 >/dev/null)
		[ -z "$errs" ] || fail "completing '$c $args ': $errs"
	done
done
pass "every command's arguments complete without an error"

cat >"$work/vs.yaml" <<EOF
pollers:
  cpus: [1]
memory:
  hugepage_size: none
  buffers: 1024
  large_buffers: 0
control:
  socket: $work/vswitchd.sock
ports:
  - {name: docs-a, type: vhost-user, path: $work/a.sock}
  - {name: docs-b, type: vhost-user, path: $work/b.sock}
EOF
VS_LOG=$work/vswitchd.log
vs_start "$work/vs.yaml"
got=$(complete_words "$VSWITCHCTL" -s "$VS_SOCK" show docs-)
[ "$got" = "docs-a docs-b" ] || fail "port names from the daemon: got '$got'"
got=$(complete_words "$VSWITCHCTL" --socket="$VS_SOCK" fdb flush "")
[ "$got" = "docs-a docs-b" ] || fail "port names for fdb flush: got '$got'"
pass "port names complete from the running daemon"
vs_stop
[ "$VS_RC" = 0 ] || fail "vswitchd exited with $VS_RC"
pass "docs"
