// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of flow_grpo_loss's kernels (host and device functions, so tests
// can run it on the CPU) and the per-sample record the kernels hand to the host.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include "dnft/config.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/flow_grpo.hpp"
#include "dnft/detail/math.hpp"

namespace dnft::cuda::detail {

//! Per-sample flags of flow_grpo_loss's finishing pass (the host turns them into value_error).
enum grpo_flag : unsigned {
  grpo_flag_log_prob_nonfinite = 1u,  //!< log_prob_sample[i] is NaN or infinite
  grpo_flag_adv_nonfinite = 2u,       //!< adv[i] is NaN or infinite
  grpo_flag_sums_nonfinite = 4u,      //!< a non-finite input element (or an overflow) in the sample
};

//! What the finishing pass leaves per sample: the host backend's flow_grpo_sample, the sampling
//! log-probability (for approx_kl_sample) and the flags.
struct grpo_device_sample {
  dnft::detail::flow_grpo_sample s;
  double log_prob_sample = 0;
  unsigned flags = 0;
};

//! The sum of two flow_grpo_sums (CUB's reduction operator).
struct grpo_sums_plus {
  DNFT_HOST_DEVICE dnft::detail::flow_grpo_sums operator()(const dnft::detail::flow_grpo_sums& a,
                                                           const dnft::detail::flow_grpo_sums& b) const noexcept {
    return {a.dev_sq + b.dev_sq, a.kl_sq + b.kl_sq};
  }
};

//! The four inputs of one group of elements (v_ref 0 without a reference).
template <class T>
struct grpo_group {
  T x[group_elements], xn[group_elements], vt[group_elements], vr[group_elements];
};

template <bool HasRef, class T, class S, class LogP, class Adv>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void load_grpo_group(const dnft::detail::flow_grpo_args<T, S, LogP, Adv>& a,
                                                       index_t i, index_t d0, index_t end, bool vec,
                                                       grpo_group<T>& g) noexcept {
  load_group(a.x, i, d0, end, vec, g.x);
  load_group(a.x_next, i, d0, end, vec, g.xn);
  load_group(a.v_theta, i, d0, end, vec, g.vt);
  if constexpr (HasRef) {
    load_group(a.v_ref, i, d0, end, vec, g.vr);
  } else {
    for (int j = 0; j < group_elements; ++j) g.vr[j] = T(0);
  }
}

//! Pass 1, one thread's share of a work item: flow_grpo_accumulate (the host's function) over its
//! elements.
template <bool HasRef, class T, class S, class LogP, class Adv>
DNFT_HOST_DEVICE dnft::detail::flow_grpo_sums grpo_thread_sums(const dnft::detail::flow_grpo_args<T, S, LogP, Adv>& a,
                                                               const dnft::detail::flow_grpo_params& p,
                                                               const chunk_range& r, int tid, bool vec) noexcept {
  dnft::detail::flow_grpo_sums s;
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    grpo_group<T> in;
    load_grpo_group<HasRef>(a, r.sample, d0, r.end, vec, in);
    for (int j = 0; j < group_elements; ++j)
      if (d0 + j < r.end) dnft::detail::flow_grpo_accumulate<HasRef>(s, p, in.x[j], in.xn[j], in.vt[j], in.vr[j]);
  }
  return s;
}

//! @brief Pass 2 for sample i: its partial sums added in chunk order, the finiteness checks and
//! flow_grpo_finish_sample (the host's function).
template <bool HasRef, class T, class S, class LogP, class Adv>
DNFT_HOST_DEVICE grpo_device_sample grpo_finish_one(const dnft::detail::flow_grpo_args<T, S, LogP, Adv>& a,
                                                    const dnft::detail::flow_grpo_params& p, const sample_grid& g,
                                                    const dnft::detail::flow_grpo_sums* partials, index_t i) noexcept {
  dnft::detail::flow_grpo_sums s;
  for (index_t c = 0; c < g.per_sample; ++c) s = grpo_sums_plus{}(s, partials[i * g.per_sample + c]);
  grpo_device_sample r;
  r.log_prob_sample = to_double(a.log_prob_sample[i]);
  const double adv = to_double(a.adv[i]);
  if (!dnft::detail::isfinite(r.log_prob_sample)) r.flags |= grpo_flag_log_prob_nonfinite;
  if (!dnft::detail::isfinite(adv)) r.flags |= grpo_flag_adv_nonfinite;
  if (!dnft::detail::isfinite(s.dev_sq + s.kl_sq)) r.flags |= grpo_flag_sums_nonfinite;
  r.s = dnft::detail::flow_grpo_finish_sample(s, r.log_prob_sample, adv, static_cast<double>(a.x.elements),
                                              static_cast<double>(a.x.batch), p, HasRef);
  return r;
}

//! Pass 3, one thread's share of a work item: the gradient of its elements
//! (flow_grpo_grad_element, the host's function). grad may alias v_theta.
template <bool HasRef, class T, class S, class LogP, class Adv>
DNFT_HOST_DEVICE void grpo_thread_grad(const dnft::detail::flow_grpo_args<T, S, LogP, Adv>& a,
                                       const dnft::detail::flow_grpo_params& p, const chunk_range& r, int tid, bool vec,
                                       const grpo_device_sample& rec) noexcept {
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    grpo_group<T> in;
    load_grpo_group<HasRef>(a, r.sample, d0, r.end, vec, in);
    T out[group_elements];
    for (int j = 0; j < group_elements; ++j)
      out[j] = dnft::detail::flow_grpo_grad_element<HasRef>(p, rec.s.coef_dev, rec.s.coef_kl, in.x[j], in.xn[j],
                                                            in.vt[j], in.vr[j]);
    store_group(a.grad, r.sample, d0, r.end, vec, out);
  }
}

}  // namespace dnft::cuda::detail
