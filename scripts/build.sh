#!/usr/bin/env bash
# Configures and builds vswitch: build/vswitchd, build/vswitchctl, the unit
# tests. Extra arguments go to the cmake configure step (-DVS_WERROR=ON, ...).
# Env: BUILD_DIR (default <repo>/build), JOBS (default: number of CPUs),
#      TARGETS (space-separated; default: all).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}

cmake -S "$ROOT" -B "$BUILD_DIR" "$@"
targets=()
for t in ${TARGETS:-}; do
	targets+=(--target "$t")
done
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}"
