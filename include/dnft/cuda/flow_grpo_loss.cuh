// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of flow_grpo_loss (grid, workspace, launches, errors); mirrors
// host/flow_grpo_loss.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dnft/algorithm/flow_grpo_loss.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/detail/flow_grpo.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/flow_grpo_loss.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/flow_grpo.hpp"

namespace dnft {

//! @brief CUDA backend of flow_grpo_loss. Three kernels on the executor's stream:
//!  1. per (sample, chunk) block: the sums of flow_grpo_accumulate over the chunk (in double),
//!     reduced with CUB's BlockReduce,
//!  2. per sample: the chunk sums added in a fixed order, the finiteness checks of the inputs,
//!     log_prob_sample and adv, and flow_grpo_finish_sample (the host backend's function),
//!  3. per (sample, chunk) block: the gradient from flow_grpo_grad_element (skipped without grad),
//! then one copy of the per-sample records to the host, which reports bad input with the host
//! backend's messages and combines the samples in sample order as the host backend does.
//! Deterministic for a given device and launch_config. float and double. Synchronises the stream.
template <>
struct flow_grpo_loss_backend<cuda::executor> {
  template <bool HasRef, bool HasGrad, class T, class S, class LogP, class Adv>
  static flow_grpo_stats run(const cuda::executor& ex, const detail::flow_grpo_args<T, S, LogP, Adv>& a,
                             const detail::flow_grpo_params& p, std::string_view fn) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "dnft::flow_grpo_loss: the CUDA backend takes float or double tensors");
    namespace cd = cuda::detail;
    const index_t B = a.x.batch, D = a.x.elements;
    const cd::sample_grid g = cd::plan_sample_grid(B, D, ex.sm_count(), ex.config());
    const bool vec = cd::groupable(a.x) && cd::groupable(a.x_next) && cd::groupable(a.v_theta) &&
                     (!HasRef || cd::groupable(a.v_ref)) && (!HasGrad || cd::groupable(a.grad));
    cd::device_guard guard(ex.device());
    auto partials = ex.allocate<detail::flow_grpo_sums>(g.items);
    auto records = ex.allocate<cd::grpo_device_sample>(B);
    cudaStream_t st = ex.stream();
    cd::grpo_sums_kernel<HasRef><<<g.grid, cuda::block_threads, 0, st>>>(a, p, g, vec, partials.data());
    cuda::check_launch();
    constexpr int finish_threads = 128;
    cd::grpo_finish_kernel<HasRef>
        <<<cd::blocks_for(B, finish_threads), finish_threads, 0, st>>>(a, p, g, partials.data(), records.data());
    cuda::check_launch();
    if constexpr (HasGrad) {
      cd::grpo_grad_kernel<HasRef><<<g.grid, cuda::block_threads, 0, st>>>(a, p, g, vec, records.data());
      cuda::check_launch();
    }
    const std::vector<cd::grpo_device_sample> rec =
        cd::fetch(ex, static_cast<const cd::grpo_device_sample*>(records.data()), B);

    unsigned any = 0;
    for (const auto& r : rec) any |= r.flags;
    if (any != 0) {
      // The host front door's and backend's checks and messages, in their order.
      if (any & cd::grpo_flag_log_prob_nonfinite)
        cd::require_device_finite(ex, a.log_prob_sample, "log_prob_sample", fn);
      if (any & cd::grpo_flag_adv_nonfinite) cd::require_device_finite(ex, a.adv, "adv", fn);
      for (index_t i = 0; i < B; ++i) {
        if (!(rec[std::size_t(i)].flags & cd::grpo_flag_sums_nonfinite)) continue;
        const std::string overflow = "the sums of sample " + std::to_string(i) + " overflowed";
        if constexpr (HasRef)
          cd::report_nonfinite(ex, fn, i, overflow, cd::named_input{"x", a.x}, cd::named_input{"x_next", a.x_next},
                               cd::named_input{"v_theta", a.v_theta}, cd::named_input{"v_ref", a.v_ref});
        else
          cd::report_nonfinite(ex, fn, i, overflow, cd::named_input{"x", a.x}, cd::named_input{"x_next", a.x_next},
                               cd::named_input{"v_theta", a.v_theta});
      }
    }
    // The host backend's reduction, in sample order.
    return dnft::detail::flow_grpo_reduce(
        B, D, p, [&](index_t i) -> const dnft::detail::flow_grpo_sample& { return rec[std::size_t(i)].s; },
        [&](index_t i) { return rec[std::size_t(i)].log_prob_sample; });
  }
};

}  // namespace dnft
