// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernel of fill_normal.
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

}  // namespace dnft::cuda::detail
