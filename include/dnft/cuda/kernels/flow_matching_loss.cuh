// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernels of flow_matching_loss: per-chunk sums, per-sample finish, gradient.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cub/block/block_reduce.cuh>

#include "dnft/cuda/detail/forward.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/forward.hpp"

namespace dnft::cuda::detail {

//! @brief Pass 1: per work item the block's fm_thread_sum reduced with CUB's BlockReduce into
//! partials[item] (deterministic: fixed element-to-thread assignment and reduction tree).
template <class T, class S, class Noise, class Time>
__global__ void __launch_bounds__(block_threads)
    fm_sums_kernel(const dnft::detail::flow_matching_args<T, S, Noise, Time> a, const sample_grid g, const bool vec,
                   double* __restrict__ partials) {
  using block_reduce = cub::BlockReduce<double, block_threads>;
  __shared__ typename block_reduce::TempStorage tmp;
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const double s = fm_thread_sum(a, chunk_of(g, w, a.x0.elements), int(threadIdx.x), vec);
    const double total = block_reduce(tmp).Sum(s);
    if (threadIdx.x == 0) partials[w] = total;
    __syncthreads();  // tmp is reused by the next work item
  }
}

//! Pass 2: one thread per sample (fm_finish_one).
template <class T, class S, class Noise, class Time>
__global__ void fm_finish_kernel(const dnft::detail::flow_matching_args<T, S, Noise, Time> a, const sample_grid g,
                                 const time_weighting w, const double* __restrict__ partials,
                                 fm_device_sample* __restrict__ out) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t i = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); i < a.x0.batch; i += stride)
    out[i] = fm_finish_one(a, g, w, partials, i);
}

//! Pass 3: per work item the gradient (fm_thread_grad); flagged samples are skipped (the call
//! throws, and grad is unspecified then).
template <class T, class S, class Noise, class Time>
__global__ void __launch_bounds__(block_threads)
    fm_grad_kernel(const dnft::detail::flow_matching_args<T, S, Noise, Time> a, const sample_grid g, const bool vec,
                   const fm_device_sample* __restrict__ rec) {
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const chunk_range r = chunk_of(g, w, a.x0.elements);
    const fm_device_sample s = rec[r.sample];
    if (s.flags != 0) continue;
    fm_thread_grad(a, r, int(threadIdx.x), vec, s);
  }
}

}  // namespace dnft::cuda::detail
