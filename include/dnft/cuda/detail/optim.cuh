// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of the flat parameter-buffer kernels (soft update / EMA, sum of
// squares, first non-finite element, scaling, AdamW): host and device functions, so tests can
// run it on the CPU.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include "dnft/config.hpp"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/detail/optim.hpp"
#include "dnft/host/common.hpp"

namespace dnft::cuda::detail {

//! Element k of soft_update: old <- old d + theta (1 - d) (soft_update_element, the host's).
template <class T, class S>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void soft_update_thread(const dnft::detail::vector_view<T, S>& old,
                                                          const dnft::detail::vector_view<const T, S>& theta, T d,
                                                          T one_minus_d, index_t k) noexcept {
  old[k] = dnft::detail::soft_update_element(old[k], theta[k], d, one_minus_d);
}

//! Element k of scale: x <- x f.
template <class T, class S>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void scale_thread(const dnft::detail::vector_view<T, S>& x, T f, index_t k) noexcept {
  x[k] = x[k] * f;
}

//! Element k of an AdamW step (adamw_element, the host's, on the same rounded coefficients).
template <class T, class S>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void adamw_thread(const dnft::detail::vector_view<T, S>& p,
                                                    const dnft::detail::vector_view<const T, S>& g,
                                                    const dnft::detail::vector_view<T, S>& m,
                                                    const dnft::detail::vector_view<T, S>& v,
                                                    const dnft::detail::adamw_coefs<T>& c, index_t k) noexcept {
  T pk = p[k], mk = m[k], vk = v[k];
  dnft::detail::adamw_element(pk, g[k], mk, vk, c);
  p[k] = pk;
  m[k] = mk;
  v[k] = vk;
}

//! The elements [k0, k0 + n) of chunk c of a flat buffer: chunks of reduce_block elements, the
//! host backend's fixed chunks (so partial sums combine in the same chunk order).
struct flat_chunk {
  index_t begin = 0;
  index_t size = 0;
};

DNFT_HOST_DEVICE inline flat_chunk flat_chunk_of(index_t c, index_t n) noexcept {
  const index_t b = c * dnft::detail::reduce_block;
  return {b, n - b < dnft::detail::reduce_block ? n - b : dnft::detail::reduce_block};
}

//! @brief One thread's share of chunk c's sum of squares: elements begin + tid,
//! begin + tid + block_threads, ... (coalesced), each squared in double and summed in order.
template <class T, class S>
DNFT_HOST_DEVICE double sum_squares_thread(const dnft::detail::vector_view<const T, S>& x, index_t c,
                                           int tid) noexcept {
  const flat_chunk ch = flat_chunk_of(c, x.size);
  double s = 0;
  for (index_t k = tid; k < ch.size; k += block_threads) {
    const double v = static_cast<double>(x[ch.begin + k]);
    s += v * v;
  }
  return s;
}

//! "No non-finite element" for the minimum reduction of first_nonfinite_thread.
inline constexpr index_t no_index = static_cast<index_t>(0x7fffffffffffffffLL);

//! One thread's share of chunk c: the smallest index among its elements (as sum_squares_thread
//! assigns them) whose value is not finite, or no_index.
template <class T, class S>
DNFT_HOST_DEVICE index_t first_nonfinite_thread(const dnft::detail::vector_view<const T, S>& x, index_t c,
                                                int tid) noexcept {
  const flat_chunk ch = flat_chunk_of(c, x.size);
  for (index_t k = tid; k < ch.size; k += block_threads)
    if (!dnft::detail::isfinite(static_cast<double>(x[ch.begin + k]))) return ch.begin + k;
  return no_index;
}

//! The smaller of two indices (CUB's reduction operator for first_nonfinite).
struct index_min {
  DNFT_HOST_DEVICE index_t operator()(index_t a, index_t b) const noexcept { return b < a ? b : a; }
};

}  // namespace dnft::cuda::detail
