// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernels of nft_loss: per-chunk sums, per-sample finish, gradient.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cub/block/block_reduce.cuh>

#include "dnft/cuda/detail/nft.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/nft.hpp"

namespace dnft::cuda::detail {

//! @brief Pass 1: per work item (chunk c of sample i, see sample_grid) the block's
//! nft_thread_sums reduced with CUB's BlockReduce and written to partials[item]. Deterministic:
//! a fixed assignment of elements to threads and a fixed reduction tree.
template <bool HasRef, class T, class S, class Noise, class Time, class Adv>
__global__ void __launch_bounds__(block_threads)
    nft_sums_kernel(const dnft::detail::nft_args<T, S, Noise, Time, Adv> a, const sample_grid g, const bool vec,
                    const double beta, dnft::detail::nft_sums<double>* __restrict__ partials) {
  using block_reduce = cub::BlockReduce<dnft::detail::nft_sums<double>, block_threads>;
  __shared__ typename block_reduce::TempStorage tmp;
  const compute_t<T> b = static_cast<compute_t<T>>(beta);
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const chunk_range r = chunk_of(g, w, a.x0.elements);
    const dnft::detail::nft_sums<double> s = nft_thread_sums<HasRef>(a, r, int(threadIdx.x), vec, b);
    const dnft::detail::nft_sums<double> total = block_reduce(tmp).Reduce(s, nft_sums_plus{});
    if (threadIdx.x == 0) partials[w] = total;
    __syncthreads();  // tmp is reused by the next work item
  }
}

//! Pass 2: one thread per sample (nft_finish_one).
template <bool HasRef, class T, class S, class Noise, class Time, class Adv>
__global__ void nft_finish_kernel(const dnft::detail::nft_args<T, S, Noise, Time, Adv> a, const sample_grid g,
                                  const dnft::detail::nft_params p,
                                  const dnft::detail::nft_sums<double>* __restrict__ partials,
                                  nft_device_sample* __restrict__ out) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t i = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); i < a.x0.batch; i += stride)
    out[i] = nft_finish_one<HasRef>(a, g, p, partials, i);
}

//! Pass 3: per work item, the gradient (nft_thread_grad); samples with a flag are skipped (the
//! call throws, and grad is unspecified then).
template <bool HasRef, class T, class S, class Noise, class Time, class Adv>
__global__ void __launch_bounds__(block_threads)
    nft_grad_kernel(const dnft::detail::nft_args<T, S, Noise, Time, Adv> a, const sample_grid g, const bool vec,
                    const double beta, const nft_device_sample* __restrict__ rec) {
  const compute_t<T> b = static_cast<compute_t<T>>(beta);
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const chunk_range r = chunk_of(g, w, a.x0.elements);
    const nft_device_sample s = rec[r.sample];
    if (s.flags != 0) continue;
    nft_thread_grad<HasRef>(a, r, int(threadIdx.x), vec, b, s);
  }
}

}  // namespace dnft::cuda::detail
