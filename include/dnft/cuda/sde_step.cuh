// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of sde_step and transition_log_prob (the stochastic sampler step
// with its per-sample log-probability, and its recomputation); mirrors host/sde_step.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <type_traits>
#include <vector>

#include "dnft/algorithm/sde_step.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/detail/sde_step.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/sde_step.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/sde_step.hpp"

namespace dnft::cuda::detail {

//! Runs the per-sample finishing kernel and returns the first sample whose sum was not finite.
template <class LogP>
index_t sde_finish(const executor& ex, const sample_grid& g, const double* partials, index_t batch, index_t elements,
                   double scale, const LogP& log_prob) {
  auto bad = ex.allocate<unsigned char>(batch);
  constexpr int threads = 128;
  sde_finish_kernel<<<blocks_for(batch, threads), threads, 0, ex.stream()>>>(g, partials, batch, elements, scale,
                                                                             log_prob, bad.data());
  check_launch();
  const std::vector<unsigned char> b = fetch(ex, static_cast<const unsigned char*>(bad.data()), batch);
  for (std::size_t i = 0; i < b.size(); ++i)
    if (b[i] != 0) return static_cast<index_t>(i);
  return -1;
}

}  // namespace dnft::cuda::detail

namespace dnft {

//! @brief CUDA backend of sde_step and transition_log_prob.
//!
//! step: one kernel over (sample, chunk) work items regenerates the Philox noise in the kernel
//! (no noise memory), writes x' = cx x + cv v + scale xi with the host's sde_step_element and
//! reduces the squared deviations per item with CUB's BlockReduce; a per-sample kernel adds the
//! items in order and writes the log-probability (gaussian_log_prob). log_prob: the same sums from
//! the stored transition, then, when asked, the gradient kernel. Both return the first sample
//! whose sum is not finite (the front door reports it) and synchronise the stream for that.
//! The log-probability of a recomputation equals the step's on the same device and launch
//! configuration up to the compiler's multiply-add contraction in the two kernels. Deterministic
//! for a given device and launch_config. float and double.
template <>
struct sde_step_backend<cuda::executor> {
  template <class T, class S, class LogP>
  static index_t step(const cuda::executor& ex, const detail::sde_step_args<T, S, LogP>& a) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "dnft::sde_step: the CUDA backend takes float or double tensors");
    namespace cd = cuda::detail;
    const index_t B = a.x.batch, D = a.x.elements;
    const cd::sample_grid g = cd::plan_sample_grid(B, D, ex.sm_count(), ex.config());
    const bool vec = cd::groupable(a.x) && cd::groupable(a.v) && cd::groupable(a.x_next);
    cd::device_guard guard(ex.device());
    auto partials = ex.allocate<double>(g.items);
    cd::sde_step_kernel<<<g.grid, cuda::block_threads, 0, ex.stream()>>>(a, g, vec, partials.data());
    cuda::check_launch();
    return cd::sde_finish(ex, g, partials.data(), B, D, a.scale, a.log_prob);
  }

  template <class T, class S, class LogP, class Grad>
  static index_t log_prob(const cuda::executor& ex, const detail::transition_log_prob_args<T, S, LogP, Grad>& a) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "dnft::transition_log_prob: the CUDA backend takes float or double tensors");
    namespace cd = cuda::detail;
    constexpr bool has_grad = !std::is_same_v<Grad, detail::no_output>;
    const index_t B = a.x.batch, D = a.x.elements;
    const cd::sample_grid g = cd::plan_sample_grid(B, D, ex.sm_count(), ex.config());
    bool vec = cd::groupable(a.x) && cd::groupable(a.v) && cd::groupable(a.x_next);
    if constexpr (has_grad) vec = vec && cd::groupable(a.grad);
    cd::device_guard guard(ex.device());
    auto partials = ex.allocate<double>(g.items);
    cd::transition_sums_kernel<<<g.grid, cuda::block_threads, 0, ex.stream()>>>(a, g, vec, partials.data());
    cuda::check_launch();
    if constexpr (has_grad) {
      cd::transition_grad_kernel<<<g.grid, cuda::block_threads, 0, ex.stream()>>>(a, g, vec);
      cuda::check_launch();
    }
    return cd::sde_finish(ex, g, partials.data(), B, D, a.scale, a.log_prob);
  }
};

}  // namespace dnft
