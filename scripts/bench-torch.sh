#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# dnft's fused nft_loss against the reference DiffusionNFT loss in eager PyTorch (bench/torch):
# installs Debian's CPU PyTorch if missing, builds dnft_nft_cli with the release preset
# (-O3 -march=native) and runs bench/torch/compare.py, which prints the table of bench/README.md
# and writes build/release/bench/torch_compare.json.
# Usage: scripts/bench-torch.sh [compare.py options]
#   scripts/bench-torch.sh --rounds 5 --reps 5       # more repetitions (default 3 x 5)
#   scripts/bench-torch.sh --check                   # only the loss/gradient agreement check
# Debian's python3-torch lives in the system interpreter (/usr/bin/python3), which need not be the
# first python3 on PATH; set PYTHON to use another interpreter that has torch and numpy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh python3-torch python3-numpy
cmake --preset release >/dev/null
cmake --build --preset release --target dnft_nft_cli -j "${JOBS:-2}"
"${PYTHON:-/usr/bin/python3}" bench/torch/compare.py --cli build/release/bench/torch/dnft_nft_cli "$@"
