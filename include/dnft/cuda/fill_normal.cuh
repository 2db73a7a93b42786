// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of fill_normal (dnft::fill_normal with dnft::cuda::executor);
// mirrors host/fill_normal.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/random.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/random/philox.hpp"

namespace dnft {

//! @brief CUDA backend of fill_normal: out[i, d] = gen(i, d), one Philox call per group of four
//! elements in the kernel (the values philox_normal::fill gives on the host, to a few float
//! ulps: the device's sincospif and logf are not the host libm's). Asynchronous on the
//! executor's stream. For __half and __nv_bfloat16 outputs (which the portable front door does
//! not take) call dnft::cuda::fill_normal.
template <>
struct fill_normal_backend<cuda::executor> {
  template <class T, class S>
  static void run(const cuda::executor& ex, const detail::batch_view<T, S>& out, const philox_normal& gen) {
    static_assert(cuda::is_storage_type_v<T>,
                  "dnft::fill_normal: the CUDA backend stores float, double, __half or __nv_bfloat16 elements");
    cuda::detail::launch_fill_normal(ex, gen, out);
  }
};

}  // namespace dnft
