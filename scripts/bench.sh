#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds one benchmark with the release preset (-O3 -march=native), runs it with repetitions
# (interleaved in random order, so a noisy neighbour hurts every benchmark alike) and prints
# the summary of scripts/bench_report.py (medians, minima, ratios to the triad bound).
# Usage: scripts/bench.sh [nft|kernels|mlp|<name of bench/bench_NAME.cpp>] [Google Benchmark flags...]
#   REPS=20 scripts/bench.sh nft                         # more repetitions (default 10)
#   REPS=5 scripts/bench.sh kernels                      # the kernel suite (bench_kernels), B x D sweep
#   scripts/bench.sh nft --benchmark_filter='triad|fused'
# The JSON output is kept in build/release/bench/<executable>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-nft}"
shift || true
case "$what" in
  nft) exe=bench_nft_loss ;;
  *) exe="bench_${what#bench_}" ;;
esac
[ -f "bench/$exe.cpp" ] || { echo "bench.sh: no bench/$exe.cpp" >&2; exit 2; }
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target "$exe" -j "${JOBS:-2}"
out="build/release/bench/$exe.json"
"build/release/bench/$exe" --benchmark_repetitions="${REPS:-10}" --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true --benchmark_out="$out" --benchmark_out_format=json "$@"
echo
python3 scripts/bench_report.py "$out"
