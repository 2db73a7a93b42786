#!/usr/bin/env bash
# The main job: installs what is missing, configures, builds and runs the DiffusionNFT demo
# (examples/nft_step.cpp; until it exists, examples/custom_tensor.cpp).
# Usage: scripts/demo.sh [arguments for the demo]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
preset=release
if [ -f examples/nft_step.cpp ]; then
  name=nft_step
else
  echo "dnft: examples/nft_step.cpp does not exist yet; running examples/custom_tensor.cpp instead" >&2
  name=custom_tensor
fi
cmake --preset "$preset"
cmake --build --preset "$preset" --target "dnft_example_$name" -j "$(nproc)"
"build/$preset/examples/dnft_example_$name" "$@"
