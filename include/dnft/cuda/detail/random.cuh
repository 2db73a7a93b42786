// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of fill_normal and fill_times (host and device, so tests can run it
// on the CPU).
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cstdint>

#include "dnft/config.hpp"
#include "dnft/cuda/detail/access.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/random.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

//! One thread's share of a work item: element (i, d) = gen(i, d) rounded to T, one Philox call
//! per group of four elements (the same groups philox_normal::fill uses on the host).
template <class T, class S>
DNFT_HOST_DEVICE void fill_normal_thread(const philox_normal& gen, const dnft::detail::batch_view<T, S>& out,
                                         const chunk_range& r, int tid, bool vec) {
  for (index_t d0 = r.begin + group_elements * index_t(tid); d0 < r.end; d0 += group_elements * block_threads) {
    float b[group_elements];
    gen.block(static_cast<std::uint64_t>(r.sample), static_cast<std::uint64_t>(d0 / group_elements), b);
    store_group(out, r.sample, d0, r.end, vec, b);
  }
}

//! The parameters of fill_times as its kernel takes them.
struct time_draw {
  std::uint64_t seed = 0, stream = 0, first = 0;
  time_distribution dist = time_distribution::uniform;
  double m = 0, s = 1;
};

//! Time k of fill_times: out[k] = random_time(seed, stream, first + k, ...) (the host backend's
//! function) converted to T.
template <class T, class S>
DNFT_HOST_DEVICE void fill_times_thread(const dnft::detail::vector_view<T, S>& out, const time_draw& p, index_t k) {
  out[k] = static_cast<T>(dnft::detail::random_time(p.seed, p.stream, p.first + static_cast<std::uint64_t>(k), p.dist,
                                                    p.m, p.s));
}

}  // namespace dnft::cuda::detail
