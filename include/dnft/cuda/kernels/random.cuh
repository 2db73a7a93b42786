// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernels of fill_normal and fill_times.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include "dnft/cuda/detail/random.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

//! Per work item (chunk c of sample i): fill_normal_thread for each thread of the block.
template <class T, class S>
__global__ void __launch_bounds__(block_threads)
    fill_normal_kernel(const philox_normal gen, const dnft::detail::batch_view<T, S> out, const sample_grid g,
                       const bool vec) {
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x)
    fill_normal_thread(gen, out, chunk_of(g, w, out.elements), int(threadIdx.x), vec);
}

//! fill_times: one thread per time (grid-stride loop).
template <class T, class S>
__global__ void fill_times_kernel(const dnft::detail::vector_view<T, S> out, const time_draw p) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t k = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); k < out.size; k += stride)
    fill_times_thread(out, p, k);
}

}  // namespace dnft::cuda::detail
