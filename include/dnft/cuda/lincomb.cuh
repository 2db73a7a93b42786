// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of lincomb (the element-wise step of every deterministic solver);
// mirrors host/lincomb.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cstddef>
#include <type_traits>

#include "dnft/algorithm/lincomb.hpp"
#include "dnft/cuda/detail/lincomb.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/lincomb.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/lincomb.hpp"

namespace dnft {

//! @brief CUDA backend of lincomb: one kernel over (sample, chunk) work items, groups of four
//! elements (vector loads and stores where every tensor allows), each element by lincomb_element
//! in T (the host's order; the device may fuse a multiply and an add, so results agree with the
//! host backend to an ulp or so per term). Asynchronous. float and double.
template <>
struct lincomb_backend<cuda::executor> {
  template <class T, class Space, std::size_t N>
  static void run(const cuda::executor& ex, const detail::lincomb_args<T, Space, N>& a) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "dnft::lincomb: the CUDA backend takes float or double tensors");
    static_assert(cuda::executor::can_access<Space>, "dnft::lincomb: CUDA backend given host memory");
    if (a.out.batch == 0 || a.out.elements == 0) return;
    namespace cd = cuda::detail;
    const cd::sample_grid g = cd::plan_sample_grid(a.out.batch, a.out.elements, ex.sm_count(), ex.config());
    cd::device_guard guard(ex.device());
    cd::lincomb_kernel<<<g.grid, cuda::block_threads, 0, ex.stream()>>>(a, g, cd::groupable(a));
    cuda::check_launch();
  }
};

}  // namespace dnft
