// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of nft_loss (grid, workspace, launches, errors); mirrors host/nft_loss.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "dnft/algorithm/common.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/detail/nft.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/kernels/nft_loss.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/nft.hpp"
#include "dnft/error.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

//! Names the first non-finite input of sample i, with the host backend's messages.
template <bool HasRef, class T, class S, class Noise, class Time, class Adv>
[[noreturn]] void nft_report_nonfinite(const executor& ex, const dnft::detail::nft_args<T, S, Noise, Time, Adv>& a,
                                       index_t i, std::string_view fn) {
  const std::string overflow = "the sums of sample " + std::to_string(i) +
                               " overflowed (inputs of magnitude above about 1e150); rescale the inputs";
  if constexpr (HasRef)
    report_nonfinite(ex, fn, i, overflow, named_input{"x0", a.x0}, named_input{"noise", a.noise},
                     named_input{"v_theta", a.v_theta}, named_input{"v_old", a.v_old}, named_input{"v_ref", a.v_ref});
  else
    report_nonfinite(ex, fn, i, overflow, named_input{"x0", a.x0}, named_input{"noise", a.noise},
                     named_input{"v_theta", a.v_theta}, named_input{"v_old", a.v_old});
}

}  // namespace dnft::cuda::detail

namespace dnft {

//! @brief CUDA backend of nft_loss. Three kernels on the executor's stream:
//!  1. per (sample, chunk) block: the sums of nft_accumulate over the chunk, reduced with CUB
//!     (elements computed in float, or double for double storage; sums in double, as on the host),
//!  2. per sample: the chunk sums added in a fixed order, t / advantage / finiteness checks, and
//!     nft_finish_sample (the host backend's function, in double),
//!  3. per (sample, chunk) block: the gradient from nft_grad_element (skipped without grad),
//! then one copy of the per-sample results to the host, which combines them in sample order
//! with nft_reduce as the host backend does. Results are deterministic for a given device and
//! launch_config (no atomics); they match the host backend to rounding (tests/cuda).
//! Storage: float, double, __half, __nv_bfloat16 (x0, noise, velocities and grad share it);
//! t and adv may be any of these too. Synchronises the stream before returning.
template <>
struct nft_loss_backend<cuda::executor> {
  template <bool HasRef, bool HasGrad, class T, class S, class Noise, class Time, class Adv>
  static nft_stats run(const cuda::executor& ex, const detail::nft_args<T, S, Noise, Time, Adv>& a,
                       const detail::nft_params& p, std::string_view fn) {
    static_assert(cuda::is_storage_type_v<T>,
                  "dnft::nft_loss: the CUDA backend stores float, double, __half or __nv_bfloat16 elements");
    namespace cd = cuda::detail;
    const index_t B = a.x0.batch, D = a.x0.elements;
    const cd::sample_grid g = cd::plan_sample_grid(B, D, ex.sm_count(), ex.config());
    const bool vec = cd::groupable(a.x0) && cd::groupable(a.noise) && cd::groupable(a.v_theta) &&
                     cd::groupable(a.v_old) && (!HasRef || cd::groupable(a.v_ref)) &&
                     (!HasGrad || cd::groupable(a.grad));

    cd::device_guard guard(ex.device());
    auto partials = ex.allocate<detail::nft_sums<double>>(g.items);
    auto records = ex.allocate<cd::nft_device_sample>(B);
    cudaStream_t st = ex.stream();

    cd::nft_sums_kernel<HasRef><<<g.grid, cuda::block_threads, 0, st>>>(a, g, vec, p.beta, partials.data());
    cuda::check_launch();
    constexpr int finish_threads = 128;
    const index_t finish_blocks = (B + finish_threads - 1) / finish_threads;
    cd::nft_finish_kernel<HasRef><<<unsigned(finish_blocks < 65535 ? finish_blocks : 65535), finish_threads, 0, st>>>(
        a, g, p, partials.data(), records.data());
    cuda::check_launch();
    if constexpr (HasGrad) {
      cd::nft_grad_kernel<HasRef><<<g.grid, cuda::block_threads, 0, st>>>(a, g, vec, p.beta, records.data());
      cuda::check_launch();
    }
    // One small copy back through the executor's pinned staging buffer, then wait for the kernels.
    std::vector<cd::nft_device_sample> rec(static_cast<std::size_t>(B));
    {
      const std::size_t bytes = rec.size() * sizeof(cd::nft_device_sample);
      auto stage = ex.host_staging(bytes);
      cuda::check(cudaMemcpyAsync(stage.data, records.data(), bytes, cudaMemcpyDeviceToHost, st));
      ex.synchronize();
      std::memcpy(rec.data(), stage.data, bytes);
    }

    std::vector<detail::nft_sample> per(static_cast<std::size_t>(B));
    unsigned any = 0;
    for (std::size_t i = 0; i < rec.size(); ++i) {
      per[i] = rec[i].s;
      any |= rec[i].flags;
    }
    if (any != 0) {
      // The host front door's checks and messages, on the values the kernels saw.
      std::vector<double> ts(rec.size()), advs(rec.size());
      for (std::size_t i = 0; i < rec.size(); ++i) {
        ts[i] = rec[i].t;
        advs[i] = rec[i].adv;
      }
      const detail::vector_view<const double, host_space> vt{ts.data(), B, 1}, va{advs.data(), B, 1};
      detail::require_values_in(vt, 0.0, 1.0, "t", fn);
      detail::require_finite_values(va, "adv", fn);
      for (index_t i = 0; i < B; ++i)
        if (rec[std::size_t(i)].flags & cd::nft_flag_sums_nonfinite) cd::nft_report_nonfinite<HasRef>(ex, a, i, fn);
    }
    return detail::nft_reduce(per.data(), B, D, p);
  }
};

}  // namespace dnft
