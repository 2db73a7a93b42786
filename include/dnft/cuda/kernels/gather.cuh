// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: small copy kernels the backends use to bring inputs to the host for error messages.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include "dnft/cuda/numeric.cuh"
#include "dnft/detail/batch.hpp"

namespace dnft::cuda::detail {

//! Copies sample i of a batch tensor to `out` (contiguous); used to name a bad element.
template <class T, class S>
__global__ void gather_sample_kernel(const dnft::detail::batch_view<const T, S> v, const index_t i,
                                     T* __restrict__ out) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t d = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); d < v.elements; d += stride)
    out[d] = v(i, d);
}

//! Copies a vector of per-sample scalars (any stride, any storage type) to `out` as double.
template <class T, class S>
__global__ void gather_vector_kernel(const dnft::detail::vector_view<const T, S> v, double* __restrict__ out) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t k = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); k < v.size; k += stride)
    out[k] = to_double(v[k]);
}

}  // namespace dnft::cuda::detail
