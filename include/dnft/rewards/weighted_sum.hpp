// SPDX-License-Identifier: Apache-2.0
// dnft: a weighted sum of rewards, itself a reward (ALGORITHM.md section 3, step 2).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "dnft/concepts/reward.hpp"
#include "dnft/error.hpp"

namespace dnft {

//! @brief R = sum_k w_k R_k for rewards R_k of any types (each a dnft::reward), evaluated one
//! after the other on the same batch.
//! @code
//!   auto r = dnft::weighted_sum(std::pair{hit_reward, 1.0}, std::pair{distance_reward, 0.1});
//! @endcode
template <class... Rewards>
class weighted_sum_reward {
 public:
  explicit weighted_sum_reward(std::pair<Rewards, double>... parts)
      : rewards_(std::move(parts.first)...), weights_{parts.second...} {
    for (std::size_t k = 0; k < weights_.size(); ++k)
      if (!(weights_[k] == weights_[k]) || weights_[k] - weights_[k] != 0.0)
        detail::fail<value_error>("weighted_sum_reward", "weights", "weight " + std::to_string(k) + " is not finite");
  }

  template <class T, std::size_t R, class Space, class Cond>
  void operator()(tensor_view<const T, R, Space> x0, std::span<const Cond> c, std::span<double> out) {
    scratch_.assign(out.size(), 0.0);
    for (auto& o : out) o = 0.0;
    apply(x0, c, out, std::index_sequence_for<Rewards...>{});
  }

  const std::vector<double>& weights() const noexcept { return weights_; }
  template <std::size_t K>
  auto& get() noexcept {
    return std::get<K>(rewards_);
  }

 private:
  template <class T, std::size_t R, class Space, class Cond, std::size_t... K>
  void apply(tensor_view<const T, R, Space> x0, std::span<const Cond> c, std::span<double> out,
             std::index_sequence<K...>) {
    (add_one<K>(x0, c, out), ...);
  }
  template <std::size_t K, class T, std::size_t R, class Space, class Cond>
  void add_one(tensor_view<const T, R, Space> x0, std::span<const Cond> c, std::span<double> out) {
    std::get<K>(rewards_)(x0, c, std::span<double>(scratch_));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += weights_[K] * scratch_[i];
  }

  std::tuple<Rewards...> rewards_;
  std::vector<double> weights_;
  std::vector<double> scratch_;
};

template <class... Rewards>
weighted_sum_reward<Rewards...> weighted_sum(std::pair<Rewards, double>... parts) {
  return weighted_sum_reward<Rewards...>(std::move(parts)...);
}

}  // namespace dnft
