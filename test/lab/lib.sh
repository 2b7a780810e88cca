# shellcheck shell=bash
# Host-side library for tests that boot QEMU guests (bash; source it).
#
#   . test/lab/lib.sh
#   lab_setup                       # per-test run dir $LAB_RUN, cleanup via lab_cleanup
#   lab_kernel 6.1                  # $LAB_KERNEL, $LAB_MODULES (test/lab/kernels.sh)
#   lab_initramfs OUT -i INIT -m virtio_net ...   # test/lab/initramfs.sh
#   lab_guest_start NAME --initrd OUT --append "vs_ip=10.0.0.1/24" \
#       --vhost-user /run/x.sock[,server][,mac=..][,reconnect=MS] --ctl
#   lab_guest_wait NAME 'LAB-READY' 60
#   lab_guest_agent NAME 30; lab_guest_exec NAME 30 'ping -c 3 10.0.0.2'
#   lab_guest_stop NAME             # always before the vhost-user back-end
#
# Guests run under TCG (nested KVM hangs on this machine kind), with their
# memory in a shared memfd so a vhost-user back-end can map it. Each guest's
# console (ttyS0) is $LAB_RUN/NAME.console; --ctl adds ttyS1 as a pair of FIFOs
# ($LAB_RUN/NAME.ctl.in/.out) for lab_guest_exec.

LAB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_DIR=${VS_LAB_DIR:-/var/cache/vswitch-lab}
LAB_QEMU=${VS_QEMU:-qemu-system-x86_64}
# Ring size of a vhost-user NIC (virtio-net-pci rx_queue_size and tx_queue_size;
# QEMU takes more than 256 on TX only with a vhost-user back-end). 1024: a 64 KB
# TSO segment fills ~44 of Linux's merged receive buffers, and QEMU's default of
# 256 ran out under guest TCP (the switch's no_buffers, TCP retransmissions).
LAB_VHU_RING=${VS_LAB_VHU_RING:-1024}
declare -A LAB_PID=() LAB_REBOOTED=() LAB_CTL_IN=() LAB_CTL_OUT=() LAB_CTL_SEQ=()
LAB_GUESTS=()
LAB_NGUEST=0

lab_log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }

# A missing peer (QEMU, kernel, namespaces, ...) fails the test in CI and
# skips it (exit 77, registered as SKIP_RETURN_CODE) elsewhere.
lab_in_ci() {
	case ${CI:-} in
	"" | 0 | false) return 1 ;;
	*) return 0 ;;
	esac
}

lab_skip() {
	if lab_in_ci; then
		echo "FAIL (CI=$CI, cannot skip): $*" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

lab_require_root() {
	[ "$(id -u)" -eq 0 ] || lab_skip "needs root"
}

# lab_require_cmd CMD...: each command must be on PATH.
lab_require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || lab_skip "$c not found (bash scripts/deps.sh)"
	done
}

lab_require_qemu() {
	lab_require_cmd "$LAB_QEMU"
	local v
	v=$("$LAB_QEMU" --version | sed -n 's/^QEMU emulator version \([0-9]*\)\..*/\1/p')
	# 7.2 segfaults with vhost-user + MSI-X under TCG; the lab targets 10.
	if [ -z "$v" ] || [ "$v" -lt 8 ]; then
		lab_skip "QEMU >= 8 needed (have '${v:-?}'): bash scripts/deps.sh installs 10 from bookworm-backports"
	fi
}

# lab_setup [DIR]: per-test scratch directory.
lab_setup() {
	if [ -n "${1:-}" ]; then
		LAB_RUN=$1
		mkdir -p "$LAB_RUN"
	else
		LAB_RUN=$(mktemp -d "${TMPDIR:-/tmp}/vs-lab.XXXXXX")
	fi
	export LAB_RUN
}

# lab_kernel 6.1|6.12: sets LAB_KERNEL (the uncompressed PVH-bootable
# vmlinux when there is one: about 3x faster to boot under TCG than the
# self-decompressing bzImage; VS_LAB_BZIMAGE=1 forces the bzImage),
# LAB_BZIMAGE and LAB_MODULES.
lab_kernel() {
	local ver=$1 env var
	if ! env=$(bash "$LAB_HERE/kernels.sh" "$ver"); then
		lab_skip "cannot fetch the $ver guest kernel (test/lab/kernels.sh $ver)"
	fi
	eval "$env"
	var=${ver//./_}
	local kv=VS_KERNEL_$var mv=VS_MODULES_$var xv=VS_VMLINUX_$var
	LAB_BZIMAGE=${!kv}
	LAB_MODULES=${!mv}
	LAB_KERNEL=$LAB_BZIMAGE
	if [ -n "${!xv:-}" ] && [ -r "${!xv}" ] && [ "${VS_LAB_BZIMAGE:-0}" != 1 ]; then
		LAB_KERNEL=${!xv}
	fi
	[ -r "$LAB_KERNEL" ] || lab_skip "no kernel image $LAB_KERNEL"
}

# lab_initramfs OUT [initramfs.sh options]; -M defaults to $LAB_MODULES.
# Images are cached in $LAB_DIR/initramfs/ under a hash of everything that
# goes into them (options, the files they name, the builder scripts), so a
# test pays the 2-5 s build only when something changed.
lab_initramfs() {
	local out=$1
	shift
	local args=()
	[ -n "${LAB_MODULES:-}" ] && args+=(-M "$LAB_MODULES")
	args+=("$@")
	local key a p
	key=$(
		printf '%s\n' "${args[@]}"
		cat "$LAB_HERE/initramfs.sh" "$LAB_HERE/guest-lib.sh" /bin/busybox 2>/dev/null | sha256sum
		for a in "${args[@]}"; do
			p=${a%%:*}
			p=${p%% *}
			if [ -f "$p" ]; then
				sha256sum <"$p"
			elif [ -d "$p" ]; then
				find "$p" -printf '%p %s %T@\n' 2>/dev/null | sort
			elif command -v "$p" >/dev/null 2>&1 && [ -f "$(command -v "$p")" ]; then
				sha256sum <"$(command -v "$p")"
			fi
		done
	)
	key=$(printf '%s' "$key" | sha256sum | cut -c1-32)
	local cache=$LAB_DIR/initramfs/$key.cpio.gz
	if [ ! -s "$cache" ]; then
		mkdir -p "$LAB_DIR/initramfs"
		# Old images are cheap to rebuild: keep the cache from growing forever.
		find "$LAB_DIR/initramfs" -name '*.cpio.gz' -mtime +7 -delete 2>/dev/null || true
		bash "$LAB_HERE/initramfs.sh" -o "$cache" "${args[@]}" >/dev/null || return 1
	fi
	cp "$cache" "$out"
}

# lab_guest_start NAME [options]
#   --kernel FILE    default $LAB_KERNEL
#   --initrd FILE    required
#   --append STR     extra kernel parameters (vs_ip=..., ...)
#   --mem MB         default 256
#   --smp N          default 1
#   --cpu MODEL      e.g. max (needed for host-built binaries using SSE4.2+)
#   --machine TYPE   default pc (q35 for an IOMMU)
#   --vhost-user SOCK[,server][,mac=MAC][,queues=N][,reconnect=MS][,dev=K=V]...
#                    virtio-net-pci on a vhost-user chardev; without ",server"
#                    QEMU connects to SOCK (the switch listens); each dev=K=V
#                    adds K=V to the virtio-net-pci device (csum=off,
#                    host_mtu=9000, ...)
#   --stream-server PATH | --stream-client PATH
#                    virtio-net-pci on a -netdev stream UNIX socket
#   --hubport HUB    virtio-net-pci on QEMU-internal hub HUB
#   --ctl            control channel on ttyS1 (lab_guest_agent/lab_guest_exec)
#   --qemu ARG       passed to QEMU as is (repeatable)
#   --interactive    console on this terminal, QEMU in the foreground (exec);
#                    for people (test/lab/guest.sh), not for tests
lab_guest_start() {
	local name=$1
	shift
	local kernel=${LAB_KERNEL:-} initrd="" append="" mem=256 smp=1 cpu="" machine=pc ctl=0
	local interactive=0
	local nics=() extra=()
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) kernel=$2; shift ;;
		--initrd) initrd=$2; shift ;;
		--append) append=$2; shift ;;
		--mem) mem=$2; shift ;;
		--smp) smp=$2; shift ;;
		--cpu) cpu=$2; shift ;;
		--machine) machine=$2; shift ;;
		--vhost-user) nics+=("vhost-user:$2"); shift ;;
		--stream-server) nics+=("stream-server:$2"); shift ;;
		--stream-client) nics+=("stream-client:$2"); shift ;;
		--hubport) nics+=("hubport:$2"); shift ;;
		--ctl) ctl=1 ;;
		--interactive) interactive=1 ;;
		--qemu) extra+=("$2"); shift ;;
		*)
			lab_log "lab_guest_start: unknown option $1"
			return 2
			;;
		esac
		shift
	done
	if [ -z "$kernel" ] || [ -z "$initrd" ]; then
		lab_log "lab_guest_start $name: --kernel/--initrd missing"
		return 2
	fi
	[ -n "${LAB_RUN:-}" ] || lab_setup

	LAB_NGUEST=$((LAB_NGUEST + 1))
	local gidx=$LAB_NGUEST
	local args=(
		-accel tcg -nodefaults -nographic -no-reboot
		-machine "$machine,memory-backend=mem0"
		-object "memory-backend-memfd,id=mem0,size=${mem}M,share=on"
		-m "$mem" -smp "$smp"
		-kernel "$kernel" -initrd "$initrd"
		-append "console=ttyS0 quiet panic=-1 $append"
	)
	if [ $interactive -eq 1 ]; then
		# Ctrl-A X quits, Ctrl-A C switches to the QEMU monitor.
		args+=(-serial mon:stdio)
	else
		args+=(-monitor none -serial "file:$LAB_RUN/$name.console")
	fi
	[ -n "$cpu" ] && args+=(-cpu "$cpu")
	if [ $ctl -eq 1 ]; then
		rm -f "$LAB_RUN/$name.ctl.in" "$LAB_RUN/$name.ctl.out"
		mkfifo "$LAB_RUN/$name.ctl.in" "$LAB_RUN/$name.ctl.out"
		args+=(-chardev "pipe,id=ctl0,path=$LAB_RUN/$name.ctl" -serial chardev:ctl0)
	fi

	local i=0 spec kind rest path opt mac server queues reconnect devopts
	for spec in "${nics[@]}"; do
		kind=${spec%%:*}
		rest=${spec#*:}
		path=${rest%%,*}
		mac=$(printf '52:54:00:00:%02x:%02x' "$gidx" "$i")
		server=0 queues=1 reconnect="" devopts=""
		if [ "$rest" != "$path" ]; then
			local opts=()
			IFS=, read -ra opts <<<"${rest#*,}"
			for opt in "${opts[@]}"; do
				case $opt in
				server) server=1 ;;
				mac=*) mac=${opt#mac=} ;;
				queues=*) queues=${opt#queues=} ;;
				reconnect=*) reconnect=${opt#reconnect=} ;;
				dev=*) devopts+=",${opt#dev=}" ;;
				*) lab_log "unknown NIC option $opt"; return 2 ;;
				esac
			done
		fi
		case $kind in
		vhost-user)
			local ch="socket,id=vhu$i,path=$path"
			if [ $server -eq 1 ]; then
				ch+=",server=on,wait=off"
			elif [ -n "$reconnect" ]; then
				ch+=",reconnect-ms=$reconnect"
			fi
			local dev="virtio-net-pci,netdev=net$i,mac=$mac"
			dev+=",rx_queue_size=$LAB_VHU_RING,tx_queue_size=$LAB_VHU_RING$devopts"
			[ "$queues" -gt 1 ] && dev+=",mq=on,vectors=$((2 * queues + 2))"
			args+=(-chardev "$ch" -netdev "vhost-user,id=net$i,chardev=vhu$i,queues=$queues"
				-device "$dev")
			;;
		stream-server)
			args+=(-netdev "stream,id=net$i,server=on,addr.type=unix,addr.path=$path"
				-device "virtio-net-pci,netdev=net$i,mac=$mac")
			;;
		stream-client)
			args+=(-netdev "stream,id=net$i,server=off,reconnect-ms=200,addr.type=unix,addr.path=$path"
				-device "virtio-net-pci,netdev=net$i,mac=$mac")
			;;
		hubport)
			args+=(-netdev "hubport,id=net$i,hubid=$path"
				-device "virtio-net-pci,netdev=net$i,mac=$mac")
			;;
		esac
		i=$((i + 1))
	done
	args+=("${extra[@]}")

	if [ $interactive -eq 1 ]; then
		exec "$LAB_QEMU" "${args[@]}"
	fi
	: >"$LAB_RUN/$name.console"
	printf '%q ' "$LAB_QEMU" "${args[@]}" >"$LAB_RUN/$name.cmdline"
	echo >>"$LAB_RUN/$name.cmdline"
	"$LAB_QEMU" "${args[@]}" </dev/null >"$LAB_RUN/$name.qemu.log" 2>&1 &
	LAB_PID[$name]=$!
	echo "${LAB_PID[$name]}" >"$LAB_RUN/$name.pid"
	LAB_GUESTS+=("$name")
	if [ $ctl -eq 1 ]; then
		# Read-write opens never block on a FIFO, whoever comes first.
		local fin fout
		exec {fin}<>"$LAB_RUN/$name.ctl.in"
		exec {fout}<>"$LAB_RUN/$name.ctl.out"
		LAB_CTL_IN[$name]=$fin
		LAB_CTL_OUT[$name]=$fout
		LAB_CTL_SEQ[$name]=0
	fi
	lab_log "guest $name started (pid ${LAB_PID[$name]}, console $LAB_RUN/$name.console)"
}

lab_guest_running() {
	local pid=${LAB_PID[$1]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# lab_guest_wait NAME ERE SECONDS: waits for a console line matching ERE and
# prints it. Fails early when QEMU is gone.
lab_guest_wait() {
	local name=$1 re=$2 secs=$3
	local con=$LAB_RUN/$name.console
	local deadline=$((SECONDS + secs))
	while :; do
		if grep -Eq -- "$re" "$con" 2>/dev/null; then
			grep -E -- "$re" "$con" | tr -d '\r'
			return 0
		fi
		if ! lab_guest_running "$name"; then
			# It may have printed the line just before exiting.
			if grep -Eq -- "$re" "$con" 2>/dev/null; then
				grep -E -- "$re" "$con" | tr -d '\r'
				return 0
			fi
			lab_log "guest $name exited before printing /$re/"
			lab_guest_dump "$name"
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			lab_log "guest $name: no /$re/ within ${secs}s"
			lab_guest_dump "$name"
			return 1
		fi
		sleep 0.1
	done
}

# lab_guest_waitexit NAME SECONDS: waits for QEMU to exit on its own.
lab_guest_waitexit() {
	local name=$1 secs=$2 deadline=$((SECONDS + $2))
	while lab_guest_running "$name"; do
		if [ $SECONDS -ge $deadline ]; then
			lab_log "guest $name still running after ${secs}s"
			return 1
		fi
		sleep 0.1
	done
	wait "${LAB_PID[$name]}" 2>/dev/null || true
	return 0
}

# __lab_ctl_readline NAME FD DEADLINE: reads one line from the guest's
# control channel into LAB_LINE, keeping partial input across read timeouts.
# Returns 1 at the deadline or when the guest is gone.
__lab_ctl_readline() {
	local name=$1 fd=$2 deadline=$3 part=""
	LAB_LINE=""
	while :; do
		if IFS= read -r -t 1 -u "$fd" LAB_LINE; then
			LAB_LINE=$part$LAB_LINE
			return 0
		fi
		part=$part$LAB_LINE
		LAB_LINE=""
		if ! lab_guest_running "$name"; then
			lab_log "guest $name exited"
			return 1
		fi
		[ $SECONDS -lt "$deadline" ] || return 1
	done
}

# QEMU under TCG with several vCPUs misbehaves now and then on a loaded machine,
# before the guest's own code runs: it aborts on an assertion of its own while
# the firmware boots with an emulated IOMMU (iotlb_to_section), or a vCPU stops
# taking timer interrupts while the kernel boots, which then reports an RCU
# stall and never gets to init (seen once in a dozen CI runs). QEMU's bugs, not
# the test's: such a guest is started again, once, with the same command line;
# anything else is the test's failure.
__lab_guest_reboot_after_qemu_fault() {
	local name=$1 why
	[ -z "${LAB_REBOOTED[$name]:-}" ] || return 1
	if lab_guest_running "$name"; then
		grep -aq 'rcu: INFO: rcu_[a-z]* detected stalls' "$LAB_RUN/$name.console" 2>/dev/null ||
			return 1
		why="its kernel stalled in boot ($(grep -a -m1 'detected stalls' "$LAB_RUN/$name.console" |
			tr -d '\r'))"
		kill -KILL "${LAB_PID[$name]}" 2>/dev/null || true
		wait "${LAB_PID[$name]}" 2>/dev/null || true
	else
		grep -q 'Assertion .* failed' "$LAB_RUN/$name.qemu.log" 2>/dev/null || return 1
		why="QEMU aborted on its own assertion ($(grep -m1 'Assertion' "$LAB_RUN/$name.qemu.log"))"
	fi
	LAB_REBOOTED[$name]=1
	lab_log "guest $name: $why; starting it once more"
	mv "$LAB_RUN/$name.qemu.log" "$LAB_RUN/$name.qemu.log.aborted"
	mv "$LAB_RUN/$name.console" "$LAB_RUN/$name.console.aborted"
	: >"$LAB_RUN/$name.console"
	eval "$(cat "$LAB_RUN/$name.cmdline") </dev/null >\"\$LAB_RUN/\$name.qemu.log\" 2>&1 &"
	LAB_PID[$name]=$!
	echo "${LAB_PID[$name]}" >"$LAB_RUN/$name.pid"
}

# lab_guest_agent NAME SECONDS: waits until the guest's agent listens on ttyS1.
lab_guest_agent() {
	local name=$1 deadline=$((SECONDS + $2))
	local fd=${LAB_CTL_OUT[$name]:-}
	[ -n "$fd" ] || { lab_log "guest $name has no --ctl channel"; return 2; }
	while :; do
		while __lab_ctl_readline "$name" "$fd" "$deadline"; do
			[ "$LAB_LINE" = LAB-AGENT-READY ] && return 0
		done
		__lab_guest_reboot_after_qemu_fault "$name" || break
		deadline=$((SECONDS + $2))
	done
	lab_log "guest $name: agent not ready within $2s"
	lab_guest_dump "$name"
	return 1
}

# lab_guest_exec NAME SECONDS CMD: runs CMD (one line of sh) in the guest,
# prints its output, returns its exit code (124 on timeout).
lab_guest_exec() {
	local name=$1 secs=$2 cmd=$3
	local fin=${LAB_CTL_IN[$name]:-} fout=${LAB_CTL_OUT[$name]:-}
	[ -n "$fin" ] || { lab_log "guest $name has no --ctl channel"; return 2; }
	case $cmd in *$'\n'*) lab_log "lab_guest_exec: one line only"; return 2 ;; esac
	local seq=$((${LAB_CTL_SEQ[$name]} + 1))
	LAB_CTL_SEQ[$name]=$seq
	printf '%s %s\n' "$seq" "$cmd" >&"$fin"
	local deadline=$((SECONDS + secs))
	while __lab_ctl_readline "$name" "$fout" "$deadline"; do
		if [[ $LAB_LINE =~ ^LAB-END\ ([0-9]+)\ rc=([0-9]+)$ ]]; then
			# A reply for an earlier, timed-out command: skip it.
			[ "${BASH_REMATCH[1]}" = "$seq" ] && return "${BASH_REMATCH[2]}"
			continue
		fi
		printf '%s\n' "$LAB_LINE"
	done
	lab_log "guest $name: '$cmd' did not finish within ${secs}s"
	return 124
}

# lab_guest_stop NAME [SECONDS]: SIGTERM (QEMU quits cleanly), then SIGKILL.
lab_guest_stop() {
	local name=$1 secs=${2:-5}
	local pid=${LAB_PID[$name]:-}
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		local deadline=$((SECONDS + secs))
		while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	local fd
	for fd in "${LAB_CTL_IN[$name]:-}" "${LAB_CTL_OUT[$name]:-}"; do
		[ -n "$fd" ] && eval "exec $fd>&-"
	done
	unset "LAB_CTL_IN[$name]" "LAB_CTL_OUT[$name]" "LAB_PID[$name]"
}

lab_guest_stop_all() {
	local g
	for g in "${LAB_GUESTS[@]}"; do
		lab_guest_stop "$g"
	done
}

# lab_guest_dump NAME: the last console and QEMU lines, for failure reports.
lab_guest_dump() {
	local name=$1
	{
		echo "---- $name console (last 40 lines) ----"
		tail -n 40 "$LAB_RUN/$name.console" 2>/dev/null | tr -d '\r'
		echo "---- $name qemu log ----"
		tail -n 20 "$LAB_RUN/$name.qemu.log" 2>/dev/null
		echo "---- end $name ----"
	} >&2
}

# lab_cleanup: stop every guest, remove $LAB_RUN unless LAB_KEEP=1.
lab_cleanup() {
	lab_guest_stop_all
	if [ -n "${LAB_RUN:-}" ] && [ "${LAB_KEEP:-0}" != 1 ]; then
		rm -rf "$LAB_RUN"
	fi
}
