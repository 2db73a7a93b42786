// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backend of group_advantages (stable sort by group id, segmented sums,
// checks, advantages); mirrors host/group_advantages.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/cuda/detail/advantages.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/group_advantages.cuh"
#include "dnft/detail/advantages.hpp"
#include "dnft/error.hpp"

namespace dnft::cuda::detail {

//! @brief The host backend's statistics and checks (its messages, group by group in id order)
//! from the device's records: the totals, and per sorted position k the group record, the group
//! id and the sample index. Throws value_error as the host backend does.
template <class G>
advantage_stats advantage_stats_of(const reward_totals& tot, const std::vector<group_record>& rec,
                                   const std::vector<G>& ids, const std::vector<index_t>& order, bool global_std,
                                   double eps, std::string_view fn) {
  const index_t B = static_cast<index_t>(rec.size());
  advantage_stats stats;
  stats.reward_mean = tot.mean;
  stats.reward_std = tot.std;
  stats.min_group_size = B;
  index_t zero_std = 0;
  for (index_t k = 0; k < B; k += rec[std::size_t(k)].size) {
    const group_record& g = rec[std::size_t(k)];
    ++stats.groups;
    stats.min_group_size = std::min(stats.min_group_size, g.size);
    stats.max_group_size = std::max(stats.max_group_size, g.size);
    zero_std += g.std == 0.0 ? 1 : 0;
    const index_t first = order[std::size_t(k)];
    const std::string id = std::to_string(ids[std::size_t(k)]);
    if (!global_std && g.size == 1)
      dnft::detail::fail<value_error>(fn, "group_ids",
                                      "group " + id + " has a single member (sample " + std::to_string(first) +
                                          "); the per-group std needs at least 2 members: use global_std = true or "
                                          "larger groups");
    const double denom = (global_std ? stats.reward_std : g.std) + eps;
    if (!(denom > 0))
      dnft::detail::fail<value_error>(fn, "eps",
                                      "the rewards of group " + id + (global_std ? " (and all rewards)" : "") +
                                          " are all equal and eps is 0: the advantages would be 0 / 0; use eps > 0");
  }
  stats.zero_std_fraction = double(zero_std) / double(stats.groups);
  return stats;
}

}  // namespace dnft::cuda::detail

namespace dnft {

//! @brief CUDA backend of group_advantages. The samples are sorted stably by group id (CUB's
//! DeviceRadixSort on (id, sample) pairs: groups may come in any order, with any integer ids),
//! then one thread per group sums its rewards in sample order and one thread the whole batch, with
//! the host backend's operations and roundings (no fused multiply-adds), so the statistics and
//! advantages are the host backend's bit for bit in double. The host receives the per-group
//! records, makes the host backend's checks (with its messages, in its order) and statistics,
//! and only then are the advantages written (so out is unchanged on error, as on the host).
//! Rewards and advantages: float or double; synchronises the stream before returning (the
//! advantages themselves are written asynchronously after that).
template <>
struct group_advantages_backend<cuda::executor> {
  template <class R, class G, class O, class S>
  static advantage_stats run(const cuda::executor& ex, const detail::group_advantage_args<R, G, O, S>& a,
                             std::string_view fn) {
    namespace cd = cuda::detail;
    const index_t B = a.rewards.size;
    if (B > index_t(std::numeric_limits<int>::max()))
      detail::fail<shape_error>(fn, "rewards",
                                "the CUDA backend takes at most 2^31 - 1 samples, got " + std::to_string(B));
    cd::device_guard guard(ex.device());
    cudaStream_t st = ex.stream();
    constexpr int threads = 128;
    const unsigned blocks = cd::blocks_for(B, threads);

    // Stable sort of (id, sample) by id.
    auto keys = ex.allocate<G>(B), sorted_keys = ex.allocate<G>(B);
    auto samples = ex.allocate<index_t>(B), order = ex.allocate<index_t>(B);
    cd::group_keys_kernel<<<blocks, threads, 0, st>>>(a.group_ids, keys.data(), samples.data());
    cuda::check_launch();
    std::size_t temp_bytes = 0;
    cuda::check(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys.data(), sorted_keys.data(), samples.data(),
                                                order.data(), static_cast<int>(B), 0, int(sizeof(G) * 8), st));
    auto temp = ex.allocate<unsigned char>(index_t(temp_bytes));
    cuda::check(cub::DeviceRadixSort::SortPairs(temp.data(), temp_bytes, keys.data(), sorted_keys.data(),
                                                samples.data(), order.data(), static_cast<int>(B), 0,
                                                int(sizeof(G) * 8), st));

    // Totals in sample order; per-group statistics in sorted order.
    auto totals = ex.allocate<cd::reward_totals>(1);
    auto records = ex.allocate<cd::group_record>(B);
    cd::reward_totals_kernel<<<1, 1, 0, st>>>(a.rewards, totals.data());
    cuda::check_launch();
    cd::group_stats_kernel<<<blocks, threads, 0, st>>>(static_cast<const G*>(sorted_keys.data()),
                                                       static_cast<const index_t*>(order.data()), a.rewards,
                                                       records.data());
    cuda::check_launch();
    const cd::reward_totals tot = cd::fetch(ex, static_cast<const cd::reward_totals*>(totals.data()), 1)[0];
    if (tot.first_nonfinite >= 0) cd::require_device_finite(ex, a.rewards, "rewards", fn);
    const std::vector<cd::group_record> rec = cd::fetch(ex, static_cast<const cd::group_record*>(records.data()), B);
    const std::vector<G> ids = cd::fetch(ex, static_cast<const G*>(sorted_keys.data()), B);
    const std::vector<index_t> ord = cd::fetch(ex, static_cast<const index_t*>(order.data()), B);

    const advantage_stats stats = cd::advantage_stats_of(tot, rec, ids, ord, a.global_std, a.eps, fn);

    cd::group_advantage_kernel<<<blocks, threads, 0, st>>>(static_cast<const index_t*>(order.data()), a.rewards,
                                                           static_cast<const cd::group_record*>(records.data()), a.out,
                                                           a.global_std, stats.reward_std, a.eps);
    cuda::check_launch();
    return stats;
  }
};

}  // namespace dnft
