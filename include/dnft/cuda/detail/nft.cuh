// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of nft_loss's kernels (host and device functions, so tests can
// run it on the CPU) and the per-sample record the kernels hand to the host.
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
#include "dnft/detail/math.hpp"
#include "dnft/detail/nft.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

//! Per-sample flags the finishing pass raises (the host turns them into value_error).
enum nft_flag : unsigned {
  nft_flag_t_range = 1u,         //!< t outside [0, 1] (or NaN)
  nft_flag_adv_nonfinite = 2u,   //!< the advantage is NaN or infinite
  nft_flag_sums_nonfinite = 4u,  //!< a non-finite input element (or an overflow) in the sample
};

//! What the finishing pass leaves per sample: the host backend's nft_sample plus what the host
//! needs to report bad input.
struct nft_device_sample {
  dnft::detail::nft_sample s;
  double t = 0;
  double adv = 0;
  unsigned flags = 0;
};

//! The sum of two nft_sums (CUB's reduction operator).
struct nft_sums_plus {
  DNFT_HOST_DEVICE dnft::detail::nft_sums<double> operator()(const dnft::detail::nft_sums<double>& a,
                                                             const dnft::detail::nft_sums<double>& b) const noexcept {
    dnft::detail::nft_sums<double> r = a;
    r += b;
    return r;
  }
};

//! The five inputs of one group of elements, widened to the compute type R.
template <class R>
struct nft_group {
  R x0[group_elements], eps[group_elements], vt[group_elements], vo[group_elements], vr[group_elements];
};

template <bool HasRef, class R, class T, class S, class Noise, class Time, class Adv>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void load_nft_group(const dnft::detail::nft_args<T, S, Noise, Time, Adv>& a,
                                                      index_t i, index_t d0, index_t end, bool vec, nft_group<R>& g) {
  load_group(a.x0, i, d0, end, vec, g.x0);
  if constexpr (std::is_same_v<Noise, philox_normal>) {
    philox_group<T>(a.noise, i, d0, g.eps);
  } else {
    load_group(a.noise, i, d0, end, vec, g.eps);
  }
  load_group(a.v_theta, i, d0, end, vec, g.vt);
  load_group(a.v_old, i, d0, end, vec, g.vo);
  if constexpr (HasRef) {
    load_group(a.v_ref, i, d0, end, vec, g.vr);
  } else {
    for (int j = 0; j < group_elements; ++j) g.vr[j] = R(0);
  }
}

//! @brief Pass 1, one thread's share of a work item: the groups at d0 = begin + 4 tid,
//! begin + 4 (tid + block_threads), ... below end, each element through nft_accumulate (the host
//! backend's function) in R = compute_t<T>, summed in double.
template <bool HasRef, class T, class S, class Noise, class Time, class Adv>
DNFT_HOST_DEVICE dnft::detail::nft_sums<double> nft_thread_sums(const dnft::detail::nft_args<T, S, Noise, Time, Adv>& a,
                                                                const chunk_range& r, int tid, bool vec,
                                                                compute_t<T> beta) {
  using R = compute_t<T>;
  dnft::detail::nft_sums<double> s;
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    nft_group<R> in;
    load_nft_group<HasRef>(a, r.sample, d0, r.end, vec, in);
    for (int j = 0; j < group_elements; ++j)
      if (d0 + j < r.end)
        dnft::detail::nft_accumulate<HasRef>(s, beta, in.x0[j], in.eps[j], in.vt[j], in.vo[j], in.vr[j]);
  }
  return s;
}

//! @brief Pass 2 for sample i: its partial sums added in chunk order, the t / advantage /
//! finiteness checks, and nft_finish_sample (the host backend's function, in double).
template <bool HasRef, class T, class S, class Noise, class Time, class Adv>
DNFT_HOST_DEVICE nft_device_sample nft_finish_one(const dnft::detail::nft_args<T, S, Noise, Time, Adv>& a,
                                                  const sample_grid& g, const dnft::detail::nft_params& p,
                                                  const dnft::detail::nft_sums<double>* partials, index_t i) {
  dnft::detail::nft_sums<double> s;
  for (index_t c = 0; c < g.per_sample; ++c) s += partials[i * g.per_sample + c];
  nft_device_sample r;
  r.t = to_double(a.t[i]);
  r.adv = to_double(a.adv[i]);
  if (!(r.t >= 0.0 && r.t <= 1.0)) r.flags |= nft_flag_t_range;
  if (!dnft::detail::isfinite(r.adv)) r.flags |= nft_flag_adv_nonfinite;
  if (!s.finite()) r.flags |= nft_flag_sums_nonfinite;
  r.s = dnft::detail::nft_finish_sample(s, r.t, r.adv, static_cast<double>(a.x0.elements),
                                        static_cast<double>(a.x0.batch), p, HasRef);
  return r;
}

//! @brief Pass 3, one thread's share of a work item: the gradient of each of its elements from
//! the sample's coefficients (nft_grad_element, the host backend's function, in R =
//! compute_t<T>), rounded once to T. grad may alias v_theta: each element is read and written by
//! the same thread.
template <bool HasRef, class T, class S, class Noise, class Time, class Adv>
DNFT_HOST_DEVICE void nft_thread_grad(const dnft::detail::nft_args<T, S, Noise, Time, Adv>& a, const chunk_range& r,
                                      int tid, bool vec, compute_t<T> beta, const nft_device_sample& rec) {
  using R = compute_t<T>;
  const R cp = static_cast<R>(rec.s.coef_pos), cn = static_cast<R>(rec.s.coef_neg), ck = static_cast<R>(rec.s.coef_kl);
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    nft_group<R> in;
    load_nft_group<HasRef>(a, r.sample, d0, r.end, vec, in);
    R out[group_elements];
    for (int j = 0; j < group_elements; ++j)
      out[j] = dnft::detail::nft_grad_element<HasRef>(beta, cp, cn, ck, in.x0[j], in.eps[j], in.vt[j], in.vo[j],
                                                      in.vr[j]);
    store_group(a.grad, r.sample, d0, r.end, vec, out);
  }
}

}  // namespace dnft::cuda::detail
