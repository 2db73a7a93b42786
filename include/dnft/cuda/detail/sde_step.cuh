// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of sde_step's and transition_log_prob's kernels (host and device
// functions, so tests can run it on the CPU).
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cstdint>
#include <type_traits>

#include "dnft/config.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/math.hpp"
#include "dnft/detail/sde_step.hpp"

namespace dnft::cuda::detail {

//! @brief sde_step pass 1, one thread's share of a work item: for its groups of four elements the
//! Philox normals xi (one call per group: the values philox_normal::fill gives the host backend),
//! x' from sde_step_element (the host's function, in double, stored rounded to T), and the sum
//! of the squared deviations of the stored x' from the mean. x_next may be x: each element is
//! read and written by the same thread.
template <class T, class S, class LogP>
DNFT_HOST_DEVICE double sde_step_thread(const dnft::detail::sde_step_args<T, S, LogP>& a, const chunk_range& r, int tid,
                                        bool vec) noexcept {
  double s = 0;
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    T x[group_elements], v[group_elements], xn[group_elements];
    float xi[group_elements];
    load_group(a.x, r.sample, d0, r.end, vec, x);
    load_group(a.v, r.sample, d0, r.end, vec, v);
    a.noise.block(static_cast<std::uint64_t>(r.sample), static_cast<std::uint64_t>(d0 / group_elements), xi);
    for (int j = 0; j < group_elements; ++j) {
      xn[j] = T(0);
      if (d0 + j < r.end)
        s += dnft::detail::sde_step_element(a.cx, a.cv, a.scale, x[j], v[j], static_cast<double>(xi[j]), xn[j]);
    }
    store_group(a.x_next, r.sample, d0, r.end, vec, xn);
  }
  return s;
}

//! @brief Pass 2 of both for sample i: its partial sums added in chunk order, log_prob[i] from
//! gaussian_log_prob (the host's function) when asked for; returns 1 when the sum is not finite.
template <class LogP>
DNFT_HOST_DEVICE unsigned char sde_finish_one(const sample_grid& g, const double* partials, index_t i, index_t elements,
                                              double scale, const LogP& log_prob) noexcept {
  double sum = 0;
  for (index_t c = 0; c < g.per_sample; ++c) sum += partials[i * g.per_sample + c];
  if constexpr (!std::is_same_v<LogP, dnft::detail::no_output>)
    log_prob[i] = static_cast<typename LogP::element_type>(
        dnft::detail::gaussian_log_prob(sum, static_cast<double>(elements), scale));
  return dnft::detail::isfinite(sum) ? 0 : 1;
}

//! transition_log_prob pass 1, one thread's share: the sum of the squared deviations
//! (transition_deviation, the host's function) of its elements.
template <class T, class S, class LogP, class Grad>
DNFT_HOST_DEVICE double transition_thread_sum(const dnft::detail::transition_log_prob_args<T, S, LogP, Grad>& a,
                                              const chunk_range& r, int tid, bool vec) noexcept {
  double s = 0;
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    T x[group_elements], v[group_elements], xn[group_elements];
    load_group(a.x, r.sample, d0, r.end, vec, x);
    load_group(a.v, r.sample, d0, r.end, vec, v);
    load_group(a.x_next, r.sample, d0, r.end, vec, xn);
    for (int j = 0; j < group_elements; ++j)
      if (d0 + j < r.end) {
        const double dev = dnft::detail::transition_deviation(a.cx, a.cv, x[j], v[j], xn[j]);
        s += dev * dev;
      }
  }
  return s;
}

//! transition_log_prob pass 3, one thread's share: d log_prob / d v of its elements
//! (gaussian_log_prob_grad, the host's function), stored rounded to T. grad may be v.
template <class T, class S, class LogP, class Grad>
DNFT_HOST_DEVICE void transition_thread_grad(const dnft::detail::transition_log_prob_args<T, S, LogP, Grad>& a,
                                             const chunk_range& r, int tid, bool vec) noexcept {
  const double d = static_cast<double>(a.x.elements);
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    T x[group_elements], v[group_elements], xn[group_elements], out[group_elements];
    load_group(a.x, r.sample, d0, r.end, vec, x);
    load_group(a.v, r.sample, d0, r.end, vec, v);
    load_group(a.x_next, r.sample, d0, r.end, vec, xn);
    for (int j = 0; j < group_elements; ++j)
      out[j] = static_cast<T>(dnft::detail::gaussian_log_prob_grad(
          dnft::detail::transition_deviation(a.cx, a.cv, x[j], v[j], xn[j]), a.cv, d, a.scale));
    store_group(a.grad, r.sample, d0, r.end, vec, out);
  }
}

}  // namespace dnft::cuda::detail
