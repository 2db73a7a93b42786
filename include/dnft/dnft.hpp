// SPDX-License-Identifier: Apache-2.0
// dnft: umbrella header for the portable (host) API. Never includes a CUDA header.
#pragma once

#include "dnft/config.hpp"
#include "dnft/error.hpp"
#include "dnft/execution.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor.hpp"
#include "dnft/version.hpp"

// Concepts: the contracts a user's policy, solver, reward and loss implement.
#include "dnft/concepts/loss.hpp"
#include "dnft/concepts/policy.hpp"
#include "dnft/concepts/reward.hpp"
#include "dnft/concepts/solver.hpp"

// Algorithms (each dispatches on the executor's type).
#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/algorithm/fill_times.hpp"
#include "dnft/algorithm/flow_grpo_loss.hpp"
#include "dnft/algorithm/flow_matching_loss.hpp"
#include "dnft/algorithm/forward_noise.hpp"
#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/lincomb.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/algorithm/optimality.hpp"
#include "dnft/algorithm/sde_step.hpp"
#include "dnft/schedule/time_grid.hpp"
#include "dnft/schedule/time_sampler.hpp"

// Models of the concepts, and the online loop.
#include "dnft/losses/flow_matching.hpp"
#include "dnft/losses/nft.hpp"
#include "dnft/rewards/weighted_sum.hpp"
#include "dnft/solvers/solvers.hpp"
#include "dnft/train/flow_grpo_trainer.hpp"
#include "dnft/train/nft_trainer.hpp"
#include "dnft/train/pretrain.hpp"
#include "dnft/train/report.hpp"

// Files: safetensors checkpoints and metrics.
#include "dnft/io/metrics.hpp"
#include "dnft/io/safetensors.hpp"

// Opt-in (need a third-party library): dnft/adapters/{eigen,xtensor,dlpack}.hpp,
// dnft/policies/mlp.hpp (Eigen), dnft/tasks/toy_geneval*.hpp (the toy task), and the CUDA
// backend dnft/cuda/cuda.cuh (nvcc).
