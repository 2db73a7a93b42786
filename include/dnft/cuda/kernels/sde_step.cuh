// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernels of sde_step and transition_log_prob: per-chunk sums (CUB), per-sample
// log-probabilities, gradient.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cub/block/block_reduce.cuh>

#include "dnft/cuda/detail/sde_step.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/sde_step.hpp"

namespace dnft::cuda::detail {

//! sde_step pass 1: per work item the step (sde_step_thread) and the block's sum of squared
//! deviations (CUB BlockReduce) into partials[item].
template <class T, class S, class LogP>
__global__ void __launch_bounds__(block_threads)
    sde_step_kernel(const dnft::detail::sde_step_args<T, S, LogP> a, const sample_grid g, const bool vec,
                    double* __restrict__ partials) {
  using block_reduce = cub::BlockReduce<double, block_threads>;
  __shared__ typename block_reduce::TempStorage tmp;
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const double total = block_reduce(tmp).Sum(sde_step_thread(a, chunk_of(g, w, a.x.elements), int(threadIdx.x), vec));
    if (threadIdx.x == 0) partials[w] = total;
    __syncthreads();
  }
}

//! transition_log_prob pass 1: per work item the block's sum of squared deviations.
template <class T, class S, class LogP, class Grad>
__global__ void __launch_bounds__(block_threads)
    transition_sums_kernel(const dnft::detail::transition_log_prob_args<T, S, LogP, Grad> a, const sample_grid g,
                           const bool vec, double* __restrict__ partials) {
  using block_reduce = cub::BlockReduce<double, block_threads>;
  __shared__ typename block_reduce::TempStorage tmp;
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const double total =
        block_reduce(tmp).Sum(transition_thread_sum(a, chunk_of(g, w, a.x.elements), int(threadIdx.x), vec));
    if (threadIdx.x == 0) partials[w] = total;
    __syncthreads();
  }
}

//! Pass 2 of both: one thread per sample (sde_finish_one); bad[i] = 1 for a non-finite sum.
template <class LogP>
__global__ void sde_finish_kernel(const sample_grid g, const double* __restrict__ partials, const index_t batch,
                                  const index_t elements, const double scale, const LogP log_prob,
                                  unsigned char* __restrict__ bad) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t i = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); i < batch; i += stride)
    bad[i] = sde_finish_one(g, partials, i, elements, scale, log_prob);
}

//! transition_log_prob pass 3: per work item the gradient (transition_thread_grad).
template <class T, class S, class LogP, class Grad>
__global__ void __launch_bounds__(block_threads)
    transition_grad_kernel(const dnft::detail::transition_log_prob_args<T, S, LogP, Grad> a, const sample_grid g,
                           const bool vec) {
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x)
    transition_thread_grad(a, chunk_of(g, w, a.x.elements), int(threadIdx.x), vec);
}

}  // namespace dnft::cuda::detail
