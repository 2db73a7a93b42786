// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of forward_noise's and flow_matching_loss's kernels (host and
// device functions, so tests can run it on the CPU) and the per-sample record they hand to the host.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <type_traits>

#include "dnft/config.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/forward.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

//! Flags of one sample (or one work item) that the host turns into the host backend's errors.
enum forward_flag : unsigned {
  forward_flag_t_range = 1u,         //!< t outside [0, 1] (or NaN)
  forward_flag_nonfinite = 2u,       //!< a non-finite input element (or, for the loss, an overflow)
  forward_flag_t_not_positive = 4u,  //!< t <= 0 with time_weighting::sigma_sqrt
};

//! The noise of a group: regenerated from Philox (rounded to T, as the host backend stores it) or
//! read from the noise tensor.
template <class T, class R, class Noise>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void load_noise_group(const Noise& noise, index_t i, index_t d0, index_t end,
                                                        bool vec, R (&out)[group_elements]) {
  if constexpr (std::is_same_v<Noise, philox_normal>) {
    philox_group<T>(noise, i, d0, out);
  } else {
    load_group(noise, i, d0, end, vec, out);
  }
}

//! @brief One thread's share of a forward_noise work item: the groups at d0 = begin + 4 tid,
//! begin + 4 (tid + block_threads), ... below end; each element through forward_sample and
//! target_velocity (the host backend's functions) in R = compute_t<T>, stored rounded to T.
//! Returns forward_flag_t_range (checked by thread 0 of a sample's first chunk only) and
//! forward_flag_nonfinite (a non-finite x0 or eps element among the thread's elements).
template <bool HasEps, bool HasU, class T, class S, class Noise, class Time>
DNFT_HOST_DEVICE unsigned forward_noise_thread(const dnft::detail::forward_noise_args<T, S, Noise, Time>& a,
                                               const chunk_range& r, int tid, bool vec) {
  using R = compute_t<T>;
  unsigned flags = 0;
  const double td = to_double(a.t[r.sample]);
  if (tid == 0 && r.begin == 0 && !(td >= 0.0 && td <= 1.0)) flags |= forward_flag_t_range;
  const R t = static_cast<R>(td);
  bool finite = true;
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    R x[group_elements], e[group_elements], xt[group_elements], u[group_elements];
    load_group(a.x0, r.sample, d0, r.end, vec, x);
    load_noise_group<T>(a.noise, r.sample, d0, r.end, vec, e);
    for (int j = 0; j < group_elements; ++j) {
      finite = finite && dnft::detail::isfinite(x[j]) && dnft::detail::isfinite(e[j]);
      xt[j] = dnft::detail::forward_sample(t, x[j], e[j]);
      u[j] = dnft::detail::target_velocity(x[j], e[j]);
    }
    store_group(a.x_t, r.sample, d0, r.end, vec, xt);
    if constexpr (HasEps) store_group(a.eps, r.sample, d0, r.end, vec, e);
    if constexpr (HasU) store_group(a.u, r.sample, d0, r.end, vec, u);
  }
  if (!finite) flags |= forward_flag_nonfinite;
  return flags;
}

//! What flow_matching_loss's finishing pass leaves per sample: the host backend's fm_sample plus
//! what the host needs to report bad input.
struct fm_device_sample {
  dnft::detail::fm_sample s;
  double t = 0;
  unsigned flags = 0;
};

//! @brief Flow-matching pass 1, one thread's share of a work item: sum of (v - u)^2 over its
//! elements (fm_accumulate, the host backend's function; elements in R = compute_t<T>, the sum
//! in double).
template <class T, class S, class Noise, class Time>
DNFT_HOST_DEVICE double fm_thread_sum(const dnft::detail::flow_matching_args<T, S, Noise, Time>& a,
                                      const chunk_range& r, int tid, bool vec) {
  using R = compute_t<T>;
  double s = 0;
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    R x[group_elements], e[group_elements], v[group_elements];
    load_group(a.x0, r.sample, d0, r.end, vec, x);
    load_noise_group<T>(a.noise, r.sample, d0, r.end, vec, e);
    load_group(a.v, r.sample, d0, r.end, vec, v);
    for (int j = 0; j < group_elements; ++j)
      if (d0 + j < r.end) dnft::detail::fm_accumulate(s, x[j], e[j], v[j]);
  }
  return s;
}

//! @brief Flow-matching pass 2 for sample i: its partial sums added in chunk order, the t and
//! finiteness checks, and fm_finish_sample (the host backend's function, in double).
template <class T, class S, class Noise, class Time>
DNFT_HOST_DEVICE fm_device_sample fm_finish_one(const dnft::detail::flow_matching_args<T, S, Noise, Time>& a,
                                                const sample_grid& g, time_weighting w, const double* partials,
                                                index_t i) {
  double sum = 0;
  for (index_t c = 0; c < g.per_sample; ++c) sum += partials[i * g.per_sample + c];
  fm_device_sample r;
  r.t = to_double(a.t[i]);
  if (!(r.t >= 0.0 && r.t <= 1.0)) r.flags |= forward_flag_t_range;
  if (w == time_weighting::sigma_sqrt && !(r.t > 0.0)) r.flags |= forward_flag_t_not_positive;
  if (!dnft::detail::isfinite(sum)) r.flags |= forward_flag_nonfinite;
  r.s =
      dnft::detail::fm_finish_sample(sum, r.t, static_cast<double>(a.x0.elements), static_cast<double>(a.x0.batch), w);
  return r;
}

//! @brief Flow-matching pass 3, one thread's share of a work item: the gradient coef (v - u) of
//! each element (fm_grad_element, the host backend's function, in R with coef rounded to R, as
//! the host rounds it to T), stored rounded to T. grad may alias v: each element is read and
//! written by the same thread.
template <class T, class S, class Noise, class Time>
DNFT_HOST_DEVICE void fm_thread_grad(const dnft::detail::flow_matching_args<T, S, Noise, Time>& a, const chunk_range& r,
                                     int tid, bool vec, const fm_device_sample& rec) {
  using R = compute_t<T>;
  const R coef = static_cast<R>(rec.s.coef);
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    R x[group_elements], e[group_elements], v[group_elements], out[group_elements];
    load_group(a.x0, r.sample, d0, r.end, vec, x);
    load_noise_group<T>(a.noise, r.sample, d0, r.end, vec, e);
    load_group(a.v, r.sample, d0, r.end, vec, v);
    for (int j = 0; j < group_elements; ++j) out[j] = dnft::detail::fm_grad_element(coef, x[j], e[j], v[j]);
    store_group(a.grad, r.sample, d0, r.end, vec, out);
  }
}

}  // namespace dnft::cuda::detail
