// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of fill_times; mirrors host/fill_times.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cstdint>

#include "dnft/algorithm/fill_times.hpp"
#include "dnft/cuda/detail/random.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/random.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/random.hpp"

namespace dnft {

//! @brief CUDA backend of fill_times: out[i] = random time number first + i, one thread per
//! time, with the host backend's function (random_time). Uniform times are bit-identical to the
//! host's; logit-normal ones agree to the last bits of the device's log, cos, sqrt and exp.
//! Asynchronous on the executor's stream.
template <>
struct fill_times_backend<cuda::executor> {
  template <class T, class S>
  static void run(const cuda::executor& ex, const detail::vector_view<T, S>& out, std::uint64_t seed,
                  std::uint64_t stream, std::uint64_t first, time_distribution dist, double m, double s) {
    namespace cd = cuda::detail;
    constexpr int threads = 128;
    cd::device_guard guard(ex.device());
    cd::fill_times_kernel<<<cd::blocks_for(out.size, threads), threads, 0, ex.stream()>>>(
        out, cd::time_draw{seed, stream, first, dist, m, s});
    cuda::check_launch();
  }
};

}  // namespace dnft
