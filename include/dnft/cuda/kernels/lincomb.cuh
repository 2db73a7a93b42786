// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernel of lincomb.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cstddef>

#include "dnft/cuda/detail/lincomb.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/lincomb.hpp"

namespace dnft::cuda::detail {

//! Per work item (chunk c of sample i): lincomb_thread for each thread of the block.
template <class T, class S, std::size_t N>
__global__ void __launch_bounds__(block_threads)
    lincomb_kernel(const dnft::detail::lincomb_args<T, S, N> a, const sample_grid g, const bool vec) {
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x)
    lincomb_thread(a, chunk_of(g, w, a.out.elements), int(threadIdx.x), vec);
}

}  // namespace dnft::cuda::detail
