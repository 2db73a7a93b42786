// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of forward_noise (grid, launch, checks); mirrors host/forward_noise.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <string>
#include <string_view>
#include <vector>

#include "dnft/algorithm/forward_noise.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/detail/forward.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/forward_noise.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/forward.hpp"

namespace dnft {

//! @brief CUDA backend of forward_noise: one kernel over (sample, chunk) work items that reads
//! x0 (and the noise tensor, or regenerates eps from Philox in the kernel: no noise memory is
//! read or written unless eps_out is asked for), writes x_t (and eps, u), and raises per-item
//! flags for t outside [0, 1] and non-finite inputs; then one small copy of the flags to the
//! host (through the executor's pinned staging buffer), which reports bad input with the host
//! backend's messages. Elements are computed in float (double for double storage) with the host
//! backend's formulas. Storage: float, double, __half, __nv_bfloat16; t of any of these types.
//! Synchronises the stream (for the checks) before returning.
template <>
struct forward_noise_backend<cuda::executor> {
  template <bool HasEps, bool HasU, class T, class S, class Noise, class Time>
  static void run(const cuda::executor& ex, const detail::forward_noise_args<T, S, Noise, Time>& a,
                  std::string_view fn) {
    static_assert(cuda::is_storage_type_v<T>,
                  "dnft::forward_noise: the CUDA backend stores float, double, __half or __nv_bfloat16 elements");
    namespace cd = cuda::detail;
    const index_t B = a.x0.batch, D = a.x0.elements;
    const cd::sample_grid g = cd::plan_sample_grid(B, D, ex.sm_count(), ex.config());
    const bool vec = cd::groupable(a.x0) && cd::groupable(a.noise) && cd::groupable(a.x_t) &&
                     (!HasEps || cd::groupable(a.eps)) && (!HasU || cd::groupable(a.u));
    cd::device_guard guard(ex.device());
    auto flags = ex.allocate<unsigned char>(g.items);
    cd::forward_noise_kernel<HasEps, HasU><<<g.grid, cuda::block_threads, 0, ex.stream()>>>(a, g, vec, flags.data());
    cuda::check_launch();
    const std::vector<unsigned> f =
        cd::flags_per_sample(cd::fetch(ex, static_cast<const unsigned char*>(flags.data()), g.items), g, B);
    unsigned any = 0;
    for (unsigned x : f) any |= x;
    if (any == 0) return;
    // The host front door's and backend's checks and messages, in their order.
    if (any & cd::forward_flag_t_range) cd::require_device_values_in(ex, a.t, 0.0, 1.0, "t", fn);
    for (index_t i = 0; i < B; ++i)
      if (f[std::size_t(i)] & cd::forward_flag_nonfinite)
        cd::report_nonfinite(ex, fn, i, "sample " + std::to_string(i) + " produced a non-finite value",
                             cd::named_input{"x0", a.x0}, cd::named_input{"noise", a.noise});
  }
};

}  // namespace dnft
