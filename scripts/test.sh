#!/usr/bin/env bash
# The whole test suite (what CI runs through .ci/run):
#   1. install what is missing (scripts/deps.sh, and bench/lib/deps.sh for
#      the benchmark smoke test's peers)
#   2. build with -Werror into build/
#   3. reserve hugepages (testpmd-based tests need them; vswitchd does not)
#   4. ctest: unit and integration tests (namespaces, QEMU guests, testpmd)
#   5. an ASan+UBSan build in build-asan/: the unit tests, the hostile front-ends and the vhost-user
#      (QEMU guests), testpmd and control-socket integration tests again against
#      it (two of the testpmd scenarios: SAN_TESTPMD_SCENARIOS), about 5 minutes
#   6. build the libFuzzer targets with clang into build-fuzz/ and run each
#      test/fuzz/*_fuzz for FUZZ_SECONDS (default 30) on a copy of its corpus
# Exits non-zero on any failure; the last line is "N passed, N failed" and
# counts every test of every pass (a sanitizer-pass failure reads "asan: ...").
#
# Env: BUILD_DIR, SAN_BUILD_DIR, FUZZ_BUILD_DIR, FUZZ_SECONDS, FUZZ_JOBS
#      (parallel fuzzers, default: number of CPUs), JOBS, SKIP_DEPS=1,
#      SKIP_SANITIZERS=1, SKIP_FUZZ=1, CTEST_ARGS (extra ctest arguments for
#      step 4, e.g. "-L unit"), SAN_TESTPMD_SCENARIOS.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SAN_BUILD_DIR=${SAN_BUILD_DIR:-$ROOT/build-asan}
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=${JOBS:-$(nproc)}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}
export BUILD_DIR JOBS

passed=0
failed=0
n_skip=0
failures=()
t_start=$SECONDS

timings=()
t_step=$SECONDS
step_name=""
step() {
	[ -n "$step_name" ] && timings+=("$(printf '%5ds  %s' $((SECONDS - t_step)) "$step_name")")
	step_name=$1
	t_step=$SECONDS
	printf '\n==== %s (%ds elapsed) ====\n' "$*" $((SECONDS - t_start))
}

fail() {
	failed=$((failed + 1))
	failures+=("$1")
}

finish() {
	step "summary"
	printf '%s\n' "${timings[@]}"
	if [ ${#failures[@]} -gt 0 ]; then
		printf 'failed: %s\n' "${failures[@]}"
	fi
	[ "${n_skip:-0}" -gt 0 ] && echo "skipped (missing peers, see above): $n_skip"
	echo "total time $((SECONDS - t_start))s"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

if [ "${SKIP_DEPS:-0}" != 1 ]; then
	step "dependencies"
	if ! bash "$ROOT/scripts/deps.sh"; then
		fail "deps.sh"
		finish
	fi
	# The benchmark's peers (OVS-DPDK) are only for the test suite's
	# bench_smoke test, so scripts/run.sh does not install them.
	if [ -r "$ROOT/bench/lib/deps.sh" ] && ! bash "$ROOT/bench/lib/deps.sh"; then
		fail "bench/lib/deps.sh"
		finish
	fi
fi

step "build ($BUILD_DIR, -Werror)"
if ! bash "$ROOT/scripts/build.sh" -DVS_WERROR=ON; then
	fail "build"
	finish
fi

step "hugepages"
bash "$ROOT/scripts/hugepages.sh" ||
	echo "warning: hugepages not fully reserved; tests that need them will say so"

# run_ctest DIR LOG TAG [ctest arguments]: runs ctest in DIR, counts its
# passed and skipped tests, and one failure per test that neither passed nor
# was skipped (named "TAG: test ...").
run_ctest() {
	local dir=$1 log=$2 tag=$3 rc np ns f0=$failed line
	shift 3
	(cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# One line per test: "  3/12 Test  #3: name ....   Passed    0.01 sec"
	np=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed ' "$log")
	ns=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped ' "$log")
	while IFS= read -r line; do
		fail "$tag: $line"
	done < <(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" |
		grep -vE ' (Passed|\*\*\*Skipped) ' | sed -E 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: //; s/ +/ /g')
	passed=$((passed + np))
	n_skip=$((n_skip + ns))
	if [ "$rc" -ne 0 ] && [ "$failed" -eq "$f0" ]; then
		fail "$tag: ctest exited with $rc"
	fi
	[ "$ns" -gt 0 ] && echo "note: $ns test(s) skipped (missing peers; with CI=true they fail instead)"
	return 0
}

step "ctest (unit + integration)"
# shellcheck disable=SC2086 # CTEST_ARGS is a list of words
run_ctest "$BUILD_DIR" "$BUILD_DIR/ctest-output.log" ctest ${CTEST_ARGS:-}

# Sanitizers abort at the first error and report leaks at exit: a vswitchd
# that trips one dies or exits non-zero, which every integration test checks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
	step "sanitizers: ASan+UBSan build ($SAN_BUILD_DIR)"
	if BUILD_DIR=$SAN_BUILD_DIR bash "$ROOT/scripts/build.sh" -DVS_WERROR=ON -DVS_ASAN=ON -DVS_UBSAN=ON; then
		step "sanitizers: unit tests"
		run_ctest "$SAN_BUILD_DIR" "$SAN_BUILD_DIR/ctest-unit.log" asan --no-tests=error -L unit
		step "sanitizers: vhost-user, testpmd and control-socket tests"
		# The ctest of this build dir points VSWITCHD at the sanitized binary.
		# Two testpmd scenarios (packed rings, two queue pairs, vswitchd as
		# client with reconnects) keep this pass near 5 minutes; the guests
		# cover split rings. socket_race_test is left out: its ptrace helper
		# and LeakSanitizer's own ptrace cannot both trace vswitchd.
		# The hostile front-ends too: what they send is what ASan should see
		# vswitchd handle (their responsiveness limit allows for ASan's speed).
		TESTPMD_SCENARIOS=${SAN_TESTPMD_SCENARIOS:-packed-2q client-packed-2q} HX_CTL_MAX_MS=1000 \
			run_ctest "$SAN_BUILD_DIR" "$SAN_BUILD_DIR/ctest-integration.log" asan --no-tests=error \
			-R '^(guest_ping_test|testpmd_vhost_test|control_hygiene_test|hostile_.*_test)$'
	else
		fail "sanitizer build"
	fi
fi

if [ "${SKIP_FUZZ:-0}" = 1 ]; then
	finish
fi

step "fuzz targets (clang, $FUZZ_BUILD_DIR)"
fuzz_names=()
for src in "$ROOT"/test/fuzz/*_fuzz.c; do
	[ -e "$src" ] || continue
	n=${src##*/}
	fuzz_names+=("${n%.c}")
done
if [ ${#fuzz_names[@]} -eq 0 ]; then
	echo "no test/fuzz/*_fuzz.c targets"
	finish
fi
targets=()
for n in "${fuzz_names[@]}"; do
	targets+=(--target "$n")
done
if ! cmake -S "$ROOT" -B "$FUZZ_BUILD_DIR" -DCMAKE_C_COMPILER=clang -DVS_FUZZ=ON ||
	! cmake --build "$FUZZ_BUILD_DIR" -j "$JOBS" "${targets[@]}"; then
	fail "fuzz build"
	finish
fi

step "fuzzing ${#fuzz_names[@]} target(s), ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
fuzz_work=$(mktemp -d "${TMPDIR:-/tmp}/vs-fuzz.XXXXXX")
trap 'rm -rf "$fuzz_work"' EXIT

run_fuzzer() {
	local n=$1 dir=$fuzz_work/$1
	mkdir -p "$dir/corpus" "$dir/artifacts"
	# A copy: the fuzzer adds new inputs to its corpus, the tree stays clean.
	if [ -d "$ROOT/test/fuzz/corpus/$n" ]; then
		cp -a "$ROOT/test/fuzz/corpus/$n/." "$dir/corpus/"
	fi
	local bin=$FUZZ_BUILD_DIR/test/fuzz/$n
	[ -x "$bin" ] || bin=$(find "$FUZZ_BUILD_DIR" -type f -name "$n" -perm -u+x | head -n1)
	if [ -z "$bin" ]; then
		echo "no binary $n under $FUZZ_BUILD_DIR" >"$dir/log"
		return 1
	fi
	"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
}

declare -A fuzz_pid=()
for n in "${fuzz_names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do
		wait -n 2>/dev/null || true
	done
	run_fuzzer "$n" &
	fuzz_pid[$n]=$!
done
for n in "${fuzz_names[@]}"; do
	if wait "${fuzz_pid[$n]}"; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$fuzz_work/$n/log")
		echo "fuzz $n: ok (${execs:-?} executions in ${FUZZ_SECONDS}s)"
		passed=$((passed + 1))
	else
		echo "fuzz $n: FAILED, last lines of its log:"
		tail -n 60 "$fuzz_work/$n/log"
		for a in "$fuzz_work/$n/artifacts"/*; do
			[ -e "$a" ] || continue
			mkdir -p "$ROOT/test/fuzz"
			cp "$a" "$ROOT/test/fuzz/" && echo "reproducer saved: test/fuzz/${a##*/}"
		done
		fail "fuzz $n"
	fi
done

finish
