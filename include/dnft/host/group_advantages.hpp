// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of group_advantages: groups found by a stable sort of the ids, sums in
// double in sample order, two-pass (population) standard deviations.
#pragma once
// IWYU pragma: private

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "dnft/detail/advantages.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/error.hpp"
#include "dnft/execution.hpp"

namespace dnft {

//! Host backend of group_advantages.
template <>
struct group_advantages_backend<host_executor> {
  template <class R, class G, class O>
  static advantage_stats run(const host_executor&, const detail::group_advantage_args<R, G, O, host_space>& a,
                             std::string_view fn) {
    const index_t B = a.rewards.size;
    // Samples ordered by group id; a stable sort keeps sample order inside each group.
    std::vector<index_t> order(static_cast<std::size_t>(B));
    std::iota(order.begin(), order.end(), index_t{0});
    std::stable_sort(order.begin(), order.end(), [&](index_t x, index_t y) { return a.group_ids[x] < a.group_ids[y]; });

    advantage_stats st;
    double total = 0;
    for (index_t i = 0; i < B; ++i) total += double(a.rewards[i]);
    st.reward_mean = total / double(B);
    double dev = 0;
    for (index_t i = 0; i < B; ++i) {
      const double e = double(a.rewards[i]) - st.reward_mean;
      dev += e * e;
    }
    st.reward_std = std::sqrt(dev / double(B));

    struct group {
      index_t begin, end;  // range in `order`
      double mean, std;
    };
    std::vector<group> groups;
    for (index_t b = 0; b < B;) {
      index_t e = b + 1;
      while (e < B && a.group_ids[order[std::size_t(e)]] == a.group_ids[order[std::size_t(b)]]) ++e;
      const double n = double(e - b);
      double s = 0;
      for (index_t k = b; k < e; ++k) s += double(a.rewards[order[std::size_t(k)]]);
      const double mean = s / n;
      double q = 0;
      for (index_t k = b; k < e; ++k) {
        const double d = double(a.rewards[order[std::size_t(k)]]) - mean;
        q += d * d;
      }
      groups.push_back({b, e, mean, std::sqrt(q / n)});
      b = e;
    }
    st.groups = index_t(groups.size());
    st.min_group_size = B;
    index_t zero_std = 0;
    for (const group& g : groups) {
      st.min_group_size = std::min(st.min_group_size, g.end - g.begin);
      st.max_group_size = std::max(st.max_group_size, g.end - g.begin);
      zero_std += g.std == 0.0 ? 1 : 0;
      const index_t first = order[std::size_t(g.begin)];
      auto id = [&] { return std::to_string(a.group_ids[first]); };  // only on error
      if (!a.global_std && g.end - g.begin == 1)
        detail::fail<value_error>(fn, "group_ids",
                                  "group " + id() + " has a single member (sample " + std::to_string(first) +
                                      "); the per-group std needs at least 2 members: use global_std = true or "
                                      "larger groups");
      const double denom = (a.global_std ? st.reward_std : g.std) + a.eps;
      if (!(denom > 0))
        detail::fail<value_error>(fn, "eps",
                                  "the rewards of group " + id() + (a.global_std ? " (and all rewards)" : "") +
                                      " are all equal and eps is 0: the advantages would be 0 / 0; use eps > 0");
    }
    st.zero_std_fraction = double(zero_std) / double(st.groups);
    for (const group& g : groups) {
      const double denom = (a.global_std ? st.reward_std : g.std) + a.eps;
      for (index_t k = g.begin; k < g.end; ++k) {
        const index_t i = order[std::size_t(k)];
        a.out[i] = static_cast<O>(detail::group_advantage(double(a.rewards[i]), g.mean, denom));
      }
    }
    return st;
  }
};

}  // namespace dnft
