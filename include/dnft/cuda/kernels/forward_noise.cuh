// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the kernel of forward_noise.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include "dnft/cuda/detail/forward.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/forward.hpp"

namespace dnft::cuda::detail {

//! @brief Per work item (chunk c of sample i, see sample_grid): forward_noise_thread for each
//! thread of the block; item_flags[item] gets the OR of the threads' flags (t range from thread
//! 0, non-finite inputs from any thread), one byte per item, so no flag memory needs clearing.
template <bool HasEps, bool HasU, class T, class S, class Noise, class Time>
__global__ void __launch_bounds__(block_threads)
    forward_noise_kernel(const dnft::detail::forward_noise_args<T, S, Noise, Time> a, const sample_grid g,
                         const bool vec, unsigned char* __restrict__ item_flags) {
  for (index_t w = blockIdx.x; w < g.items; w += gridDim.x) {
    const chunk_range r = chunk_of(g, w, a.x0.elements);
    const unsigned f = forward_noise_thread<HasEps, HasU>(a, r, int(threadIdx.x), vec);
    const int bad = __syncthreads_or(int(f & forward_flag_nonfinite));
    if (threadIdx.x == 0)
      item_flags[w] = static_cast<unsigned char>((f & forward_flag_t_range) | (bad ? forward_flag_nonfinite : 0u));
  }
}

}  // namespace dnft::cuda::detail
