// SPDX-License-Identifier: Apache-2.0
// dnft: the advantage transforms of the NFT objective as public functions: the clipped advantage
// A_hat and the optimality probability r (ALGORITHM.md section 2).
#pragma once

#include <string_view>

#include "dnft/algorithm/common.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/detail/nft.hpp"

namespace dnft {

namespace detail {

inline void check_advantage_args(double adv, double adv_clip_max, advantage_mode mode, std::string_view fn) {
  if (!isfinite(adv)) fail<value_error>(fn, "adv", "expected a finite advantage, got " + num(adv));
  require_positive(adv_clip_max, "adv_clip_max", fn);
  switch (mode) {
    case advantage_mode::all:
    case advantage_mode::positive_only:
    case advantage_mode::negative_only:
    case advantage_mode::one_only:
    case advantage_mode::binary:
      return;
  }
  fail<value_error>(fn, "mode", "expected a dnft::advantage_mode enumerator, got " + std::to_string(int(mode)));
}

}  // namespace detail

//! @brief A_hat: the advantage clipped to [-C, C], then transformed by the advantage mode, as
//! nft_loss uses it.
//! @throws value_error for a non-finite adv, C <= 0 or an invalid mode
inline double clip_advantage(double adv, double adv_clip_max = 5.0, advantage_mode mode = advantage_mode::all) {
  detail::check_advantage_args(adv, adv_clip_max, mode, "clip_advantage");
  return detail::transform_advantage(adv, adv_clip_max, mode);
}

//! @brief The optimality probability r = clamp(A_hat / C / 2 + 1/2, 0, 1) of a raw advantage, as
//! nft_loss uses it (A = 0 gives 1/2; A >= C gives 1). In the NFT loss r weights the positive
//! branch and 1 - r the negative one.
//! @throws value_error for a non-finite adv, C <= 0 or an invalid mode
inline double optimality_probability(double adv, double adv_clip_max = 5.0, advantage_mode mode = advantage_mode::all) {
  detail::check_advantage_args(adv, adv_clip_max, mode, "optimality_probability");
  return detail::optimality_probability(detail::transform_advantage(adv, adv_clip_max, mode), adv_clip_max);
}

//! The optimality probability with the C and mode of NFT options.
inline double optimality_probability(double adv, const nft_options& opt) {
  return optimality_probability(adv, opt.adv_clip_max, opt.mode);
}

}  // namespace dnft
