// SPDX-License-Identifier: Apache-2.0
// dnft: group_advantages, rewards normalised per prompt group (ALGORITHM.md section 3, step 3).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/advantages.hpp"
#include "dnft/host/group_advantages.hpp"

namespace dnft {

//! @brief Options of group_advantages; the defaults are the reference's.
struct group_advantage_options {
  bool global_std = true;  //!< std over all rewards of the batch (true) or over each group (false)
  double eps = 1e-4;       //!< added to the std (finite, >= 0)
};

//! @brief Group-relative advantages: A_i = (R_i - mean_g(R)) / (std + eps), where g is sample
//! i's group, mean_g the mean reward of the group and std the population standard deviation of
//! all rewards (global_std, the default) or of the group's rewards.
//!
//! Groups are the samples sharing a group id (typically the prompt index); ids may be any
//! integers, in any order, and groups may have different sizes. Sums are taken in double.
//! @param ex         executor
//! @param rewards    (B) rewards (floating point, finite)
//! @param group_ids  (B) group id of each sample (any integer type)
//! @param out        (B) output advantages (floating point); may alias rewards
//! @returns the reward mean and std, the number and sizes of the groups and the fraction of
//!          groups whose rewards are all equal
//! @throws shape_error for an empty batch or sizes other than B, value_error for a non-finite
//!         reward (naming the sample), a group of one member when the per-group std is asked,
//!         eps < 0, or a zero denominator (equal rewards with eps = 0); layout_error for an
//!         output with stride 0
template <executor Exec, tensor_like Rewards, tensor_like Ids, tensor_like Out>
advantage_stats group_advantages(const Exec& ex, const Rewards& rewards, const Ids& group_ids, Out&& out,
                                 const group_advantage_options& opt = {}) {
  constexpr std::string_view fn = "group_advantages";
  using E = std::remove_cvref_t<Exec>;
  detail::require_nonnegative(opt.eps, "eps", fn);
  const auto r = detail::vector_arg<E>(rewards, fn, "rewards");
  const auto g = detail::vector_arg<E>(group_ids, fn, "group_ids");
  const auto o = detail::vector_arg<E>(out, fn, "out");
  using R = std::remove_const_t<typename decltype(r)::element_type>;
  using G = std::remove_const_t<typename decltype(g)::element_type>;
  using O = typename decltype(o)::element_type;
  using S = typename decltype(r)::space_type;
  static_assert(std::is_floating_point_v<R>, "dnft::group_advantages: rewards must be floating-point values");
  static_assert(std::is_integral_v<G> && !std::is_same_v<G, bool>,
                "dnft::group_advantages: group_ids must be integers (e.g. the prompt index of each sample)");
  static_assert(!std::is_const_v<O> && std::is_floating_point_v<O>,
                "dnft::group_advantages: out must be a writable tensor of floating-point values");
  if (r.size <= 0) detail::fail<shape_error>(fn, "rewards", "expected a non-empty batch, got 0 samples");
  detail::require_batch_size(g, r.size, "group_ids", fn);
  detail::require_batch_size(o, r.size, "out", fn);
  detail::require_distinct(o, fn, "out");
  if constexpr (detail::host_checkable_v<E, S>) detail::require_finite_values(r, "rewards", fn);
  const detail::group_advantage_args<R, G, O, S> a{
      {r.data, r.size, r.stride}, {g.data, g.size, g.stride}, o, opt.global_std, opt.eps};
  return group_advantages_backend<E>::run(ex, a, fn);
}

}  // namespace dnft
