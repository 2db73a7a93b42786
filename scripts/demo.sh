#!/usr/bin/env bash
# The main job: installs what is missing, builds and runs the toy-GenEval demo
# (examples/geneval_demo.cpp): pre-trains a base model (or reuses the cached one), fine-tunes it
# with DiffusionNFT and with FlowGRPO at their reference settings on the same budget of sampled
# images, writes metrics, summary.json and plots, and prints a summary.
# Usage: scripts/demo.sh [demo arguments]      (scripts/demo.sh --help lists them)
# Environment: DNFT_DEMO_BUILD, the build folder (default build/demo: a Release build of the demo
# only, no tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# The plots need gnuplot; without it the demo still runs and says so.
scripts/deps.sh gnuplot-nox || echo "dnft: could not install gnuplot-nox; the demo will run without plots" >&2

build=${DNFT_DEMO_BUILD:-build/demo}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
t0=$(date +%s)
if ! cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-march=native \
     -DDNFT_BUILD_TESTS=OFF -DDNFT_BUILD_BENCH=OFF -DDNFT_BUILD_EXAMPLES=ON -DDNFT_INSTALL=OFF \
     -DDNFT_ENABLE_CUDA=OFF >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
echo "dnft: building the demo in $build ..."
cmake --build "$build" --target dnft_example_geneval_demo -j "$(nproc)"
echo "dnft: configured and built in $(($(date +%s) - t0)) s"
"$build/examples/dnft_example_geneval_demo" "$@"
