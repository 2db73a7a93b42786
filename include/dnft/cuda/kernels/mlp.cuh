// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the element-wise kernel of cuda::mlp_policy: one thread per (row, column) of a
// (rows, cols) range, running one of the per-element operations of cuda/detail/mlp.cuh (input
// features, bias + SiLU, output bias, SiLU' backward, column and embedding sums).
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <climits>

#include "dnft/cuda/tuning.cuh"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::cuda::detail {

//! @brief op(i, j) for every (i, j) of a (rows, cols) range, flattened row-major, grid-stride.
//! Ranges of fewer than 2^31 elements index in 32 bits (cheap division by cols).
template <class Op>
__global__ void __launch_bounds__(block_threads) mlp_elementwise_kernel(const Op op, const index_t rows,
                                                                        const index_t cols) {
  const index_t n = rows * cols;
  if (n < index_t(INT_MAX)) {
    const unsigned un = static_cast<unsigned>(n), uc = static_cast<unsigned>(cols);
    const unsigned stride = gridDim.x * blockDim.x;
    for (unsigned q = blockIdx.x * blockDim.x + threadIdx.x; q < un; q += stride)
      op(static_cast<index_t>(q / uc), static_cast<index_t>(q % uc));
  } else {
    const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
    for (index_t q = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); q < n; q += stride)
      op(q / cols, q % cols);
  }
}

}  // namespace dnft::cuda::detail
