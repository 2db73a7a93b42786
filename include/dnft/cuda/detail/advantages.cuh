// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the per-thread work of group_advantages's kernels (host and device functions, so
// tests can run it on the CPU): the sums of the host backend, in its order and its roundings.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <nv/target>

#include <cmath>

#include "dnft/config.hpp"
#include "dnft/cuda/numeric.cuh"
#include "dnft/detail/advantages.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"

namespace dnft::cuda::detail {

//! a + b and a * b rounded once each: on the device not contracted into a fused multiply-add,
//! so the sums below round exactly as the host backend's (whose compiler does not contract them
//! on x86-64 without FMA in -march).
DNFT_HOST_DEVICE DNFT_FORCEINLINE double add_rn(double a, double b) noexcept {
  NV_IF_ELSE_TARGET(NV_IS_DEVICE, (return __dadd_rn(a, b);), (return a + b;))
}
DNFT_HOST_DEVICE DNFT_FORCEINLINE double mul_rn(double a, double b) noexcept {
  NV_IF_ELSE_TARGET(NV_IS_DEVICE, (return __dmul_rn(a, b);), (return a * b;))
}

//! The mean and population std of all rewards (sums in sample order, as the host backend), and
//! the first sample whose reward is not finite (-1 if none).
struct reward_totals {
  double mean = 0;
  double std = 0;
  index_t first_nonfinite = -1;
};

//! One thread, in sample order.
template <class R, class S>
DNFT_HOST_DEVICE reward_totals reward_totals_of(const dnft::detail::vector_view<const R, S>& r) noexcept {
  reward_totals t;
  const index_t B = r.size;
  double total = 0;
  for (index_t i = 0; i < B; ++i) {
    const double x = static_cast<double>(r[i]);
    if (t.first_nonfinite < 0 && !dnft::detail::isfinite(x)) t.first_nonfinite = i;
    total = add_rn(total, x);
  }
  t.mean = total / static_cast<double>(B);
  double dev = 0;
  for (index_t i = 0; i < B; ++i) {
    const double e = static_cast<double>(r[i]) - t.mean;
    dev = add_rn(dev, mul_rn(e, e));
  }
  t.std = ::sqrt(dev / static_cast<double>(B));
  return t;
}

//! What the host needs of the group at one sorted position (and the advantages kernel reads).
struct group_record {
  double mean = 0;    //!< the group's mean reward
  double std = 0;     //!< the group's population std
  index_t size = 0;   //!< its number of members
  index_t start = 0;  //!< the sorted position of its first member
};

//! @brief For sorted position k (samples sorted stably by group id, so order[k] is a sample
//! index and ids[k] its id): when k starts a group (k = 0 or a new id), the group's mean and
//! population std, summed in sorted order (= sample order inside the group, as on the host),
//! written to rec[k .. k + size). Threads at other positions do nothing.
template <class R, class G, class S>
DNFT_HOST_DEVICE void group_stats_thread(const G* ids, const index_t* order,
                                         const dnft::detail::vector_view<const R, S>& r, index_t k,
                                         group_record* rec) noexcept {
  const index_t B = r.size;
  if (k >= B || (k > 0 && ids[k] == ids[k - 1])) return;
  index_t e = k + 1;
  while (e < B && ids[e] == ids[k]) ++e;
  const double n = static_cast<double>(e - k);
  double s = 0;
  for (index_t j = k; j < e; ++j) s = add_rn(s, static_cast<double>(r[order[j]]));
  const double mean = s / n;
  double q = 0;
  for (index_t j = k; j < e; ++j) {
    const double d = static_cast<double>(r[order[j]]) - mean;
    q = add_rn(q, mul_rn(d, d));
  }
  group_record g;
  g.mean = mean;
  g.std = ::sqrt(q / n);
  g.size = e - k;
  g.start = k;
  for (index_t j = k; j < e; ++j) rec[j] = g;
}

//! The advantage of the sample at sorted position k (group_advantage, the host's function):
//! out[order[k]] = (R - mean_g) / ((global_std ? std_all : std_g) + eps).
template <class R, class O, class S>
DNFT_HOST_DEVICE void group_advantage_thread(const index_t* order, const dnft::detail::vector_view<const R, S>& r,
                                             const group_record* rec, const dnft::detail::vector_view<O, S>& out,
                                             bool global_std, double std_all, double eps, index_t k) noexcept {
  const index_t i = order[k];
  const double denom = (global_std ? std_all : rec[k].std) + eps;
  out[i] = static_cast<O>(dnft::detail::group_advantage(static_cast<double>(r[i]), rec[k].mean, denom));
}

}  // namespace dnft::cuda::detail
