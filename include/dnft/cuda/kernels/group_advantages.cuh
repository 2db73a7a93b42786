// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernels of group_advantages: sort keys, totals, per-group statistics, advantages.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include "dnft/cuda/detail/advantages.cuh"
#include "dnft/detail/batch.hpp"

namespace dnft::cuda::detail {

//! keys[k] = ids[k] (packed), values[k] = k: the input of the stable sort by group id.
template <class G, class S>
__global__ void group_keys_kernel(const dnft::detail::vector_view<const G, S> ids, G* __restrict__ keys,
                                  index_t* __restrict__ values) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t k = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); k < ids.size; k += stride) {
    keys[k] = ids[k];
    values[k] = k;
  }
}

//! One thread: reward_totals_of (the sums in sample order).
template <class R, class S>
__global__ void reward_totals_kernel(const dnft::detail::vector_view<const R, S> r, reward_totals* __restrict__ out) {
  if (blockIdx.x == 0 && threadIdx.x == 0) *out = reward_totals_of(r);
}

//! One thread per sorted position (group_stats_thread: the first position of each group works).
template <class R, class G, class S>
__global__ void group_stats_kernel(const G* __restrict__ ids, const index_t* __restrict__ order,
                                   const dnft::detail::vector_view<const R, S> r, group_record* __restrict__ rec) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t k = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); k < r.size; k += stride)
    group_stats_thread(ids, order, r, k, rec);
}

//! One thread per sorted position (group_advantage_thread).
template <class R, class O, class S>
__global__ void group_advantage_kernel(const index_t* __restrict__ order, const dnft::detail::vector_view<const R, S> r,
                                       const group_record* __restrict__ rec, const dnft::detail::vector_view<O, S> out,
                                       const bool global_std, const double std_all, const double eps) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t k = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); k < r.size; k += stride)
    group_advantage_thread(order, r, rec, out, global_std, std_all, eps, k);
}

}  // namespace dnft::cuda::detail
