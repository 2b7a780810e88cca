#!/usr/bin/env bash
# Config reload under traffic. Four TAP ports in their own namespaces; a ping
# runs between the two that never change while the file gets a port added, one
# removed and one changed, first through SIGHUP, then through `vswitchctl
# reload`, and one of the two gets a switch setting changed live: no ping lost,
# the new ports and the re-created one carry pings, the
# removed one's TAP is gone, a port added with add-port is kept. A broken file
# changes nothing (vswitchctl reload exits 1 with FILE:LINE:COL; SIGHUP logs
# it), a port that cannot open is listed as FAILED with its FILE:LINE:COL (exit
# 1) while the others stay, and a pollers change is reported as needing a restart while the rest of
# the file is applied.
set -euo pipefail
. "$(dirname "$0")/common.sh"

vs_require_binaries
vs_require_netns
lab_require_cmd busybox timeout python3

sfx=$$
run=/run/vswitch-reload-$sfx
work=$(mktemp -d "${TMPDIR:-/tmp}/vs-reload.XXXXXX")
cfg=$work/vswitchd.yaml
VS_LOG=$work/vswitchd.log
VS_CLEANUP_PATHS=("$run" "$work")
trap vs_cleanup EXIT
# Port N: TAP vs-rN-PID in namespace vs-rlN-PID with 10.97.0.N.
tap() { echo "vs-r$1-$sfx"; }
ns() { echo "vs-rl$1-$sfx"; }
for n in 1 2 3 4 5 6 7; do VS_LINKS+=("$(tap $n)"); done

# config [EXTRA-TOP-LEVEL-YAML...] -- PORT-NUMBER[:OPTION=VALUE]... : writes $cfg.
config() {
	local top="" p n opt
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		top+="$1"$'\n'
		shift
	done
	shift
	{
		printf 'pollers:\n  cpus: [%s]\n' "$cpu"
		printf 'memory:\n  hugepage_size: none\n  buffers: 4096\n'
		printf 'control:\n  socket: %s/vswitchd.sock\n' "$run"
		printf '%s' "$top"
		printf 'ports:\n'
		for p in "$@"; do
			n=${p%%:*}
			printf '  - name: port%s\n    type: tap\n    ifname: %s\n' "$n" "$(tap "$n")"
			if [ "$p" != "$n" ]; then
				opt=${p#*:}
				printf '    %s: %s\n' "${opt%%=*}" "${opt#*=}"
			fi
		done
	} >"$cfg.tmp"
	mv "$cfg.tmp" "$cfg" # a reload never sees half a file
}

# wire N: port N's TAP (new after a re-creation) into a fresh namespace of its own.
wire() {
	ip netns del "$(ns "$1")" 2>/dev/null || true
	vs_netns_tap "$(ns "$1")" "$(tap "$1")" "10.97.0.$1/24"
}

# pings FROM TO COUNT: COUNT pings from port FROM's namespace to port TO, after a
# probe (a new port's first frames race its ARP and the FDB); all must come back.
pings() {
	local from=$1 to=$2 count=$3 deadline=$((SECONDS + 10)) sent recv
	until ip netns exec "$(ns "$from")" busybox ping -c 1 -W 1 "10.97.0.$to" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || fail "no ping reply port$from -> port$to within 10 s"
	done
	ip netns exec "$(ns "$from")" timeout 30 busybox ping -c "$count" -i 0.05 -W 2 "10.97.0.$to" \
		>"$work/ping.out" 2>&1 || true
	read -r sent recv <<<"$(ping_counts "$work/ping.out")"
	[ "${sent:-0}" -eq "$count" ] && [ "${recv:-0}" -eq "$count" ] ||
		{ cat "$work/ping.out"; fail "ping port$from -> port$to: sent=${sent:-?} received=${recv:-?}, expected $count/$count"; }
	pass "ping port$from -> port$to: $recv/$sent"
}

gone() {
	! ip link show "$(tap "$1")" >/dev/null 2>&1 && ! ip -n "$(ns "$1")" link show "$(tap "$1")" >/dev/null 2>&1
}

ports_now() { vs_ctl --json list-ports | python3 -c 'import json,sys; print(" ".join(sorted(p["name"] for p in json.load(sys.stdin)["ports"])))'; }

# One pinned poller on the CPU we may use last (CPU 1 on the usual 2-core machine).
cpu=$(python3 -c 'import os; print(max(os.sched_getaffinity(0)))')

# --- start: ports 1 and 2 never change; 3 will be removed, 4 changed ------------
config -- 1 2 3 4
vs_start "$cfg"
for n in 1 2 3 4; do wire "$n"; done
pings 1 2 5
pings 3 4 3

# The ping that must lose nothing: 20 per second until every reload is done.
vs_bg ip netns exec "$(ns 1)" busybox ping -i 0.05 10.97.0.2 >"$work/long.out" 2>&1
long=$!
long_t0=$SECONDS
sleep 1

# --- SIGHUP: 3 removed, 5 added, 4 changed (mtu) ----------------------------------
config -- 1 2 4:mtu=1400 5
reloads=$(grep -c 'vswitchd: info: reload ' "$VS_LOG" || true)
kill -HUP "$VS_PID"
deadline=$((SECONDS + 10))
until [ "$(grep -c 'vswitchd: info: reload ' "$VS_LOG" || true)" -gt "$reloads" ]; do
	[ $SECONDS -lt $deadline ] || fail "no reload summary in the log 10 s after SIGHUP"
	sleep 0.1
done
grep 'vswitchd: info: reload ' "$VS_LOG" | tail -n1 | grep -q '1 added, 1 removed, 1 re-created, 0 changed live, 2 unchanged' ||
	fail "SIGHUP: unexpected summary: $(grep 'vswitchd: info: reload ' "$VS_LOG" | tail -n1)"
grep -q 'reload: port port4: re-created (mtu: (unset) -> 1400)' "$VS_LOG" ||
	fail "the log does not say why port4 was re-created"
pass "SIGHUP: $(grep 'vswitchd: info: reload ' "$VS_LOG" | tail -n1 | sed 's/.*: info: //')"
[ "$(ports_now)" = "port1 port2 port4 port5" ] || fail "ports after SIGHUP: $(ports_now)"
deadline=$((SECONDS + 5))
until gone 3; do
	[ $SECONDS -lt $deadline ] || fail "port3's TAP is still there 5 s after its removal"
	sleep 0.1
done
pass "port3 removed, its TAP gone"
# The re-created port4 has a new TAP in the host namespace: wire it again.
wire 4
wire 5
ip -n "$(ns 4)" link show "$(tap 4)" | grep -q 'mtu 1400' || fail "port4's new TAP does not have mtu 1400"
pings 5 1 10
pings 4 2 10

# --- vswitchctl reload: 5 removed, 3 back, 4 changed again; a kept add-port ---
vs_ctl add-port port6 tap ifname="$(tap 6)" >/dev/null || fail "add-port port6"
config -- 1 2 3 4:offloads=off
vs_ctl reload >"$work/reload.out" || { cat "$work/reload.out"; fail "vswitchctl reload failed"; }
cat "$work/reload.out"
grep -Eq '^added +port3 +tap$' "$work/reload.out" || fail "reload: port3 not listed as added"
grep -Eq '^removed +port5 +tap$' "$work/reload.out" || fail "reload: port5 not listed as removed"
grep -Eq '^re-created +port4 +offloads: - -> off, mtu: 1400 -> -$' "$work/reload.out" ||
	fail "reload: port4 not listed as re-created with its changes"
grep -Eq '^kept +port6 +tap, not in the file' "$work/reload.out" || fail "reload: port6 not listed as kept"
grep -q ': 2 ports unchanged$' "$work/reload.out" || fail "reload: not 2 ports unchanged"
pass "vswitchctl reload lists added, removed, re-created and kept ports"
[ "$(ports_now)" = "port1 port2 port3 port4 port6" ] || fail "ports after reload: $(ports_now)"
wire 3
wire 4
wire 6
pings 3 1 10
pings 4 6 10
gone 5 || fail "port5's TAP is still there"

# --- a broken file changes nothing ----------------------------------------------
config -- 1 2 3 4:offloads=off 7
printf '  - name: port8\n    type: tap\n    ifname: [x]\n' >>"$cfg"
bad_line=$(grep -n 'ifname: \[x\]' "$cfg" | cut -d: -f1)
set +e
vs_ctl reload >"$work/bad.out" 2>&1
rc=$?
set -e
cat "$work/bad.out"
[ $rc -eq 1 ] || fail "vswitchctl reload of a broken file exited $rc, expected 1"
grep -Eq "^vswitchctl: $cfg:$bad_line:[0-9]+: ports\[5\]\.ifname: .*; nothing changed$" "$work/bad.out" ||
	fail "vswitchctl reload did not print FILE:$bad_line:COL for the broken file"
kill -HUP "$VS_PID"
deadline=$((SECONDS + 10))
until [ "$(grep -c "reload: $cfg:$bad_line:" "$VS_LOG" || true)" -ge 2 ]; do
	[ $SECONDS -lt $deadline ] || fail "SIGHUP with a broken file logged no FILE:$bad_line:COL error"
	sleep 0.1
done
[ "$(ports_now)" = "port1 port2 port3 port4 port6" ] || fail "ports after a broken file: $(ports_now)"
gone 7 || fail "port7 of the broken file was created"
pass "a broken file: exit 1 with $cfg:$bad_line:COL, the same in the log after SIGHUP, nothing changed"

# --- a port that cannot open: its name taken by a device that is no TAP -------------
ip link add "$(tap 7)" type veth peer name "vs-rp7-$sfx"
VS_LINKS+=("vs-rp7-$sfx")
config -- 1 2 3 4:offloads=off 7
set +e
vs_ctl reload >"$work/failed.out" 2>&1
rc=$?
set -e
cat "$work/failed.out"
[ $rc -eq 1 ] || fail "a reload with a port that cannot open exited $rc, expected 1"
line7=$(grep -n "name: port7$" "$cfg" | cut -d: -f1) # the error is about the port: its entry
grep -Eq "^FAILED +port7 +$cfg:$line7:[0-9]+: ports\[4\]: port port7: " "$work/failed.out" ||
	fail "port7 not listed as FAILED with $cfg:$line7:COL"
[ "$(ports_now)" = "port1 port2 port3 port4 port6" ] || fail "ports after a failed port: $(ports_now)"
ip link del "$(tap 7)"
pass "a port that cannot open: FAILED with $cfg:$line7:COL, exit 1, the others as they were"

# --- what needs a restart is reported, the rest applied; port2, which carries the
# ping, gets a switch setting changed live ------------------------------------------
config 'log:' '  level: debug' -- 1 2:vlan_mode=transparent 3 4:offloads=off
sed -i "s/^  cpus: .*/&\n  mode: busy/" "$cfg"
vs_ctl reload >"$work/restart.out" || { cat "$work/restart.out"; fail "reload with a pollers change failed"; }
cat "$work/restart.out"
grep -Eq '^needs a restart +pollers.mode +adaptive -> busy$' "$work/restart.out" ||
	fail "pollers.mode not reported as needing a restart"
grep -Eq '^applied +log.level +info -> debug$' "$work/restart.out" || fail "log.level not applied"
grep -Eq '^changed live +port2 +vlan_mode: - -> transparent$' "$work/restart.out" ||
	fail "port2's vlan_mode not changed live"
[ "$(vs_ctl --json show port2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["options"].get("vlan_mode"))')" = transparent ] ||
	fail "port2's options do not have vlan_mode transparent"
grep -q 'reload: pollers.mode: needs a restart' "$VS_LOG" || fail "the log does not say pollers.mode needs a restart"
vs_ctl --json reload >"$work/restart.json"
python3 - "$work/restart.json" <<'EOF' || fail "reload --json: unexpected result"
import json, sys
r = json.load(open(sys.argv[1]))
assert [c["key"] for c in r["needs_restart"]] == ["pollers.mode"], r
assert r["needs_restart"][0]["running"] == "adaptive" and r["needs_restart"][0]["file"] == "busy", r
assert r["applied"] == [] and r["added"] == [] and r["removed"] == [] and r["recreated"] == [], r
assert r["changed"] == [], r
assert [k["name"] for k in r["kept"]] == ["port6"] and r["unchanged"] == 4 and r["failed"] == [], r
EOF
vs_ctl pollers | grep -q '^mode: adaptive' || fail "the pollers' mode changed without a restart"
pass "pollers.mode: needs a restart (table, --json and log), log.level applied, port2 changed live"

# --- fdb.static and mirrors follow the file ----------------------------------------
static_mirrors() { # "STATIC-MAC:PORT... | MIRROR:SRC..." of the switch
	echo "$(vs_ctl --json fdb show | python3 -c 'import json,sys; print(" ".join(sorted(e["mac"] + ":" + e["port"] for e in json.load(sys.stdin)["entries"] if e["kind"] == "static")))')" \
		"| $(vs_ctl --json mirror list | python3 -c 'import json,sys; print(" ".join(m["name"] + ":" + ",".join(m["src"]) for m in json.load(sys.stdin)["mirrors"]))')"
}
ports="1 2:vlan_mode=transparent 3 4:offloads=off"
# shellcheck disable=SC2086
config 'fdb:' '  static:' '    - {vlan: 0, mac: 02:00:00:00:5e:01, port: port3}' \
	'    - {vlan: 0, mac: 02:00:00:00:5e:02, port: port3}' \
	'mirrors:' '  - {name: m1, src: [port1], dir: rx, dst: port4}' -- $ports
vs_ctl reload >/dev/null || fail "reload with fdb.static and mirrors failed"
got=$(static_mirrors)
[ "$got" = "02:00:00:00:5e:01:port3 02:00:00:00:5e:02:port3 | m1:port1" ] || fail "after reload: $got"
# shellcheck disable=SC2086
config 'fdb:' '  static:' '    - {vlan: 0, mac: 02:00:00:00:5e:02, port: port1}' \
	'    - {vlan: 0, mac: 02:00:00:00:5e:03, port: port3}' \
	'mirrors:' '  - {name: m1, src: [port1, port2], dir: rx, dst: port4}' \
	'  - {name: m2, src: [port3], dir: tx, dst: port4}' -- $ports
vs_ctl reload >/dev/null || fail "second reload with fdb.static and mirrors failed"
vs_ctl --json reload >"$work/same.json" || fail "reload of the same file failed"
python3 -c 'import json,sys; r = json.load(open(sys.argv[1])); assert r["failed"] == [], r' "$work/same.json" ||
	fail "reload of an unchanged file: $(cat "$work/same.json")"
got=$(static_mirrors)
[ "$got" = "02:00:00:00:5e:02:port1 02:00:00:00:5e:03:port3 | m1:port1,port2 m2:port3" ] || fail "after the second reload: $got"
# shellcheck disable=SC2086
config -- $ports
vs_ctl reload >/dev/null || fail "reload without fdb.static and mirrors failed"
got=$(static_mirrors)
[ "$got" = " | " ] || fail "after a reload of a file without them: $got"
pass "fdb.static and mirrors follow the file: added, moved, changed, removed; an unchanged file changes nothing"

# --- the ping between the unchanged ports lost nothing ---------------------------
# Replies are numbered: every request up to the last answered one must have its
# reply (one still in flight when the ping is stopped is not a loss).
sleep 1
kill -INT "$long"
wait "$long" || true
seqs=$(sed -nE 's/^[0-9]+ bytes from 10\.97\.0\.2: seq=([0-9]+) .*/\1/p' "$work/long.out" | sort -n | uniq)
n=$(echo "$seqs" | grep -c . || true)
last=$(echo "$seqs" | tail -n1)
[ "$n" -ge $(((SECONDS - long_t0) * 10)) ] && [ "$n" -eq $((last + 1)) ] ||
	{ tail -n 5 "$work/long.out"; fail "ping port1 -> port2 during the reloads: $n replies for requests 0..${last:-?}, expected every one"; }
grep -q DUP "$work/long.out" && fail "duplicate ping replies during the reloads"
pass "no ping lost between the unchanged ports during the reloads ($n of $n over $((SECONDS - long_t0)) s)"

vs_stop
[ "$VS_RC" -eq 0 ] || fail "vswitchd exited with $VS_RC on SIGTERM"
for n in 1 2 3 4 5 6 7; do gone "$n" || fail "TAP $(tap "$n") left after exit"; done
pass "clean exit, no TAP left"
say "PASS in $((SECONDS - VS_T0))s"
