// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of flow_matching_loss (grid, workspace, launches, errors); mirrors
// host/flow_matching_loss.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <string>
#include <string_view>
#include <vector>

#include "dnft/algorithm/flow_matching_loss.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/detail/forward.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/flow_matching_loss.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/forward.hpp"

namespace dnft {

//! @brief CUDA backend of flow_matching_loss. Three kernels on the executor's stream:
//!  1. per (sample, chunk) block: the sum of (v - u)^2 over the chunk (fm_accumulate, elements in
//!     float, or double for double storage; sums in double), reduced with CUB's BlockReduce,
//!  2. per sample: the chunk sums added in a fixed order, the t and finiteness checks, and
//!     fm_finish_sample (the host backend's function),
//!  3. per (sample, chunk) block: the gradient from fm_grad_element (skipped without grad),
//! then one copy of the per-sample records to the host, which reports bad input with the host
//! backend's messages and combines the samples with fm_reduce as the host backend does.
//! Deterministic for a given device and launch_config. With a philox_normal, eps is regenerated
//! in the kernels. Storage: float, double, __half, __nv_bfloat16 (x0, noise, v and grad share it).
//! Synchronises the stream before returning.
template <>
struct flow_matching_loss_backend<cuda::executor> {
  template <bool HasGrad, class T, class S, class Noise, class Time>
  static flow_matching_stats run(const cuda::executor& ex, const detail::flow_matching_args<T, S, Noise, Time>& a,
                                 time_weighting w, std::string_view fn) {
    static_assert(cuda::is_storage_type_v<T>,
                  "dnft::flow_matching_loss: the CUDA backend stores float, double, __half or __nv_bfloat16 elements");
    namespace cd = cuda::detail;
    const index_t B = a.x0.batch, D = a.x0.elements;
    const cd::sample_grid g = cd::plan_sample_grid(B, D, ex.sm_count(), ex.config());
    const bool vec =
        cd::groupable(a.x0) && cd::groupable(a.noise) && cd::groupable(a.v) && (!HasGrad || cd::groupable(a.grad));
    cd::device_guard guard(ex.device());
    auto partials = ex.allocate<double>(g.items);
    auto records = ex.allocate<cd::fm_device_sample>(B);
    cudaStream_t st = ex.stream();
    cd::fm_sums_kernel<<<g.grid, cuda::block_threads, 0, st>>>(a, g, vec, partials.data());
    cuda::check_launch();
    constexpr int finish_threads = 128;
    cd::fm_finish_kernel<<<cd::blocks_for(B, finish_threads), finish_threads, 0, st>>>(a, g, w, partials.data(),
                                                                                       records.data());
    cuda::check_launch();
    if constexpr (HasGrad) {
      cd::fm_grad_kernel<<<g.grid, cuda::block_threads, 0, st>>>(a, g, vec, records.data());
      cuda::check_launch();
    }
    const std::vector<cd::fm_device_sample> rec =
        cd::fetch(ex, static_cast<const cd::fm_device_sample*>(records.data()), B);

    std::vector<detail::fm_sample> per(rec.size());
    unsigned any = 0;
    for (std::size_t i = 0; i < rec.size(); ++i) {
      per[i] = rec[i].s;
      any |= rec[i].flags;
    }
    if (any != 0) {
      // The host front door's and backend's checks and messages, in their order.
      if (any & cd::forward_flag_t_range) cd::require_device_values_in(ex, a.t, 0.0, 1.0, "t", fn);
      for (index_t i = 0; i < B; ++i)
        if (rec[std::size_t(i)].flags & cd::forward_flag_t_not_positive)
          detail::fail<value_error>(fn, "t",
                                    "expected values in (0, 1] with time_weighting::sigma_sqrt (weight 1 / t^2), got " +
                                        detail::num(rec[std::size_t(i)].t) + " at sample " + std::to_string(i));
      for (index_t i = 0; i < B; ++i)
        if (rec[std::size_t(i)].flags & cd::forward_flag_nonfinite)
          cd::report_nonfinite(ex, fn, i,
                               "the squared error of sample " + std::to_string(i) +
                                   " overflowed (inputs of magnitude above about 1e150); rescale the inputs",
                               cd::named_input{"x0", a.x0}, cd::named_input{"noise", a.noise},
                               cd::named_input{"v", a.v});
    }
    return detail::fm_reduce(per.data(), B, D);
  }
};

}  // namespace dnft
