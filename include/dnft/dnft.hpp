// SPDX-License-Identifier: Apache-2.0
// dnft: umbrella header for the portable (host) API. Never includes a CUDA header; the CUDA
// backend is <dnft/cuda/cuda.cuh>, adapters are <dnft/adapters/*.hpp>.
#pragma once

#include "dnft/config.hpp"
#include "dnft/error.hpp"
#include "dnft/execution.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor.hpp"
#include "dnft/version.hpp"

#include "dnft/algorithm/nft_loss.hpp"
