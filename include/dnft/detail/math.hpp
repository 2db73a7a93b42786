// SPDX-License-Identifier: Apache-2.0
// dnft: small math helpers usable in host and device code.
#pragma once
// IWYU pragma: private

#include <cmath>

#include "dnft/config.hpp"

namespace dnft::detail {

template <class R>
DNFT_HOST_DEVICE constexpr R clamp(R x, R lo, R hi) noexcept {
  return x < lo ? lo : (hi < x ? hi : x);
}

template <class R>
DNFT_HOST_DEVICE constexpr R max(R a, R b) noexcept {
  return a < b ? b : a;
}

template <class R>
DNFT_HOST_DEVICE constexpr R min(R a, R b) noexcept {
  return b < a ? b : a;
}

template <class R>
DNFT_HOST_DEVICE constexpr R abs(R x) noexcept {
  return x < R(0) ? -x : x;
}

template <class R>
DNFT_HOST_DEVICE inline bool isfinite(R x) noexcept {
  // x - x is 0 for finite x and NaN for inf/NaN; comparisons with NaN are false.
  return (x - x) == (x - x);
}

}  // namespace dnft::detail
