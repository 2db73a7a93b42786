// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: umbrella of the CUDA backend: the executor, device buffers and every CUDA backend.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

//! @file
//! Include this in a .cu file (after or instead of <dnft/dnft.hpp>) and link dnft::cuda:
//! @code
//!   #include <dnft/dnft.hpp>
//!   #include <dnft/cuda/cuda.cuh>
//!   dnft::cuda::executor ex;
//!   auto stats = dnft::nft_loss(ex, x0, noise, t, adv, v_theta, v_old, v_ref, grad);
//! @endcode
//! Every algorithm of include/dnft/algorithm has a backend for dnft::cuda::executor here:
//! fill_normal, fill_times, forward_noise, flow_matching_loss, nft_loss, group_advantages,
//! lincomb, sde_step / transition_log_prob, flow_grpo_loss, soft_update / ema_update,
//! l2_norm / clip_grad_norm and adamw_step; and cuda::mlp_policy (cuBLAS).

#include "dnft/cuda/error.cuh"               // IWYU pragma: export
#include "dnft/cuda/execution.cuh"           // IWYU pragma: export
#include "dnft/cuda/fill_normal.cuh"         // IWYU pragma: export
#include "dnft/cuda/fill_times.cuh"          // IWYU pragma: export
#include "dnft/cuda/flow_grpo_loss.cuh"      // IWYU pragma: export
#include "dnft/cuda/flow_matching_loss.cuh"  // IWYU pragma: export
#include "dnft/cuda/forward_noise.cuh"       // IWYU pragma: export
#include "dnft/cuda/group_advantages.cuh"    // IWYU pragma: export
#include "dnft/cuda/lincomb.cuh"             // IWYU pragma: export
#include "dnft/cuda/nft_loss.cuh"            // IWYU pragma: export
#include "dnft/cuda/numeric.cuh"             // IWYU pragma: export
#include "dnft/cuda/optim.cuh"               // IWYU pragma: export
#include "dnft/cuda/policies/mlp.cuh"        // IWYU pragma: export
#include "dnft/cuda/random.cuh"              // IWYU pragma: export
#include "dnft/cuda/sde_step.cuh"            // IWYU pragma: export
#include "dnft/cuda/tuning.cuh"              // IWYU pragma: export
