// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: fill_normal, Philox standard normals written into a device tensor.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/kernels/random.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

//! Enqueues fill_normal_kernel over a checked, non-empty (B, D) output.
template <class T, class S>
void launch_fill_normal(const executor& ex, const philox_normal& gen, const dnft::detail::batch_view<T, S>& o) {
  const sample_grid g = plan_sample_grid(o.batch, o.elements, ex.sm_count(), ex.config());
  device_guard guard(ex.device());
  fill_normal_kernel<<<g.grid, block_threads, 0, ex.stream()>>>(gen, o, g, groupable(o));
  check_launch();
}

}  // namespace dnft::cuda::detail

namespace dnft::cuda {

//! @brief Writes standard normals into a (B, D...) tensor: element d of sample i (trailing axes
//! flattened) becomes gen(i, d) rounded to the element type, the values philox_normal::fill
//! gives on the host (equal after rounding to float except in rare last-bit cases: the
//! Box-Muller transform runs in double, and the device's double sin, cos and log are not the
//! host libm's). Asynchronous on the executor's stream. Storage: float, double, __half, __nv_bfloat16.
//! @code
//!   auto eps = ex.allocate<float>(B * D);
//!   dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 42, .stream = 7}, eps.view(B, D));
//! @endcode
//! @throws layout_error when the trailing axes do not collapse into one strided axis or when
//!         two elements share an address, cuda_error when the launch fails.
template <tensor_like Out>
void fill_normal(const executor& ex, const philox_normal& gen, Out&& out) {
  constexpr std::string_view fn = "cuda::fill_normal";
  const auto o = dnft::detail::batch_arg<executor>(out, fn, "out");
  using T = typename decltype(o)::element_type;
  static_assert(!std::is_const_v<T> && is_storage_type_v<T>,
                "dnft::cuda::fill_normal: out must be a writable tensor of float, double, __half or __nv_bfloat16");
  if (o.batch == 0 || o.elements == 0) return;
  dnft::detail::require_distinct(o, fn, "out");
  detail::launch_fill_normal(ex, gen, o);
}

}  // namespace dnft::cuda
