// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernels of flow_grpo_loss: per-chunk sums, per-sample finish, gradient.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cub/block/block_reduce.cuh>

#include "dnft/cuda/detail/flow_grpo.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/flow_grpo.hpp"

namespace dnft::cuda::detail {

//! Pass 1: per work item the block's grpo_thread_sums reduced with CUB's BlockReduce.
template <bool HasRef, class T, class S, class LogP, class Adv>
__global__ void __launch_bounds__(block_threads)
    grpo_sums_kernel(const dnft::detail::flow_grpo_args<T, S, LogP, Adv> a, const dnft::detail::flow_grpo_params p,
                     const sample_grid g, const bool vec, dnft::detail::flow_grpo_sums* __restrict__ partials) {
  using block_reduce = cub::BlockReduce<dnft::detail::flow_grpo_sums, block_threads>;
  __shared__ typename block_reduce::TempStorage tmp;
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const dnft::detail::flow_grpo_sums s =
        grpo_thread_sums<HasRef>(a, p, chunk_of(g, w, a.x.elements), int(threadIdx.x), vec);
    const dnft::detail::flow_grpo_sums total = block_reduce(tmp).Reduce(s, grpo_sums_plus{});
    if (threadIdx.x == 0) partials[w] = total;
    __syncthreads();
  }
}

//! Pass 2: one thread per sample (grpo_finish_one).
template <bool HasRef, class T, class S, class LogP, class Adv>
__global__ void grpo_finish_kernel(const dnft::detail::flow_grpo_args<T, S, LogP, Adv> a,
                                   const dnft::detail::flow_grpo_params p, const sample_grid g,
                                   const dnft::detail::flow_grpo_sums* __restrict__ partials,
                                   grpo_device_sample* __restrict__ out) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t i = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); i < a.x.batch; i += stride)
    out[i] = grpo_finish_one<HasRef>(a, p, g, partials, i);
}

//! Pass 3: per work item the gradient (grpo_thread_grad); flagged samples are skipped (the call
//! throws, and grad is unspecified then).
template <bool HasRef, class T, class S, class LogP, class Adv>
__global__ void __launch_bounds__(block_threads)
    grpo_grad_kernel(const dnft::detail::flow_grpo_args<T, S, LogP, Adv> a, const dnft::detail::flow_grpo_params p,
                     const sample_grid g, const bool vec, const grpo_device_sample* __restrict__ rec) {
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const chunk_range r = chunk_of(g, w, a.x.elements);
    const grpo_device_sample s = rec[r.sample];
    if (s.flags != 0) continue;
    grpo_thread_grad<HasRef>(a, p, r, int(threadIdx.x), vec, s);
  }
}

}  // namespace dnft::cuda::detail
