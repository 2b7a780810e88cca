#!/usr/bin/env bash
# Installs what is missing, builds, and runs vswitchd in the foreground with
# its embedded default configuration (extra arguments go to vswitchd, e.g.
# -c configs/default.yaml). Hugepages are used when reserved, not required.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$ROOT/scripts/deps.sh"
bash "$ROOT/scripts/build.sh"
exec "${BUILD_DIR:-$ROOT/build}/vswitchd" "$@"
