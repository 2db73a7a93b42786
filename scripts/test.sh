#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs the whole test suite (ctest).
# Usage: scripts/test.sh [preset]   (default: dev; also: asan, release)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-dev}"
scripts/deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
ctest --preset "$preset"
