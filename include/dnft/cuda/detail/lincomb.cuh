// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of lincomb's kernel (host and device, so tests can run it on the CPU).
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cstddef>

#include "dnft/config.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/lincomb.hpp"

namespace dnft::cuda::detail {

//! Whether every tensor of a linear combination can be read and written in aligned groups.
template <class T, class S, std::size_t N>
bool groupable(const dnft::detail::lincomb_args<T, S, N>& a) noexcept {
  bool vec = groupable(a.out);
  for (std::size_t k = 0; k != N; ++k) vec = vec && groupable(a.in[k]);
  return vec;
}

//! @brief One thread's share of a lincomb work item: for its groups of four elements, each output
//! element from lincomb_element (the host's formula and order, in T). An input may be the output
//! itself: each element is read and written by the same thread.
template <class T, class S, std::size_t N>
DNFT_HOST_DEVICE void lincomb_thread(const dnft::detail::lincomb_args<T, S, N>& a, const chunk_range& r, int tid,
                                     bool vec) noexcept {
  constexpr std::size_t M = N > 0 ? N : 1;
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    T in[M][group_elements];
    for (std::size_t k = 0; k != N; ++k) load_group(a.in[k], r.sample, d0, r.end, vec, in[k]);
    T out[group_elements];
    for (int j = 0; j < group_elements; ++j) {
      T values[M];
      for (std::size_t k = 0; k != N; ++k) values[k] = in[k][j];
      out[j] = dnft::detail::lincomb_element<N>(a.coef, values, a.constant);
    }
    store_group(a.out, r.sample, d0, r.end, vec, out);
  }
}

}  // namespace dnft::cuda::detail
