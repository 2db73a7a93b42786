// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernels of the flat parameter-buffer operations.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cub/block/block_reduce.cuh>

#include "dnft/cuda/detail/optim.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/optim.hpp"

namespace dnft::cuda::detail {

//! The first element of this thread in a grid-stride loop, and the stride.
__device__ inline index_t flat_first() noexcept {
  return index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x);
}
__device__ inline index_t flat_stride() noexcept { return index_t(gridDim.x) * index_t(blockDim.x); }

template <class T, class S>
__global__ void soft_update_kernel(const dnft::detail::vector_view<T, S> old,
                                   const dnft::detail::vector_view<const T, S> theta, const T d, const T one_minus_d) {
  for (index_t k = flat_first(); k < old.size; k += flat_stride()) soft_update_thread(old, theta, d, one_minus_d, k);
}

template <class T, class S>
__global__ void scale_kernel(const dnft::detail::vector_view<T, S> x, const T f) {
  for (index_t k = flat_first(); k < x.size; k += flat_stride()) scale_thread(x, f, k);
}

template <class T, class S>
__global__ void adamw_kernel(const dnft::detail::vector_view<T, S> p, const dnft::detail::vector_view<const T, S> g,
                             const dnft::detail::vector_view<T, S> m, const dnft::detail::vector_view<T, S> v,
                             const dnft::detail::adamw_coefs<T> c) {
  for (index_t k = flat_first(); k < p.size; k += flat_stride()) adamw_thread(p, g, m, v, c, k);
}

//! Pass 1 of sum_squares: per chunk (reduce_block elements) the block's sum_squares_thread
//! reduced with CUB's BlockReduce into partials[chunk]. The host adds the chunks in order.
template <class T, class S>
__global__ void __launch_bounds__(block_threads)
    sum_squares_kernel(const dnft::detail::vector_view<const T, S> x, const index_t chunks,
                       double* __restrict__ partials) {
  using block_reduce = cub::BlockReduce<double, block_threads>;
  __shared__ typename block_reduce::TempStorage tmp;
  for (index_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const double total = block_reduce(tmp).Sum(sum_squares_thread(x, c, int(threadIdx.x)));
    if (threadIdx.x == 0) partials[c] = total;
    __syncthreads();
  }
}

//! Per chunk the first non-finite index (minimum of first_nonfinite_thread) into first[chunk].
template <class T, class S>
__global__ void __launch_bounds__(block_threads)
    first_nonfinite_kernel(const dnft::detail::vector_view<const T, S> x, const index_t chunks,
                           index_t* __restrict__ first) {
  using block_reduce = cub::BlockReduce<index_t, block_threads>;
  __shared__ typename block_reduce::TempStorage tmp;
  for (index_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const index_t f = block_reduce(tmp).Reduce(first_nonfinite_thread(x, c, int(threadIdx.x)), index_min{});
    if (threadIdx.x == 0) first[c] = f;
    __syncthreads();
  }
}

}  // namespace dnft::cuda::detail
