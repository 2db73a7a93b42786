// SPDX-License-Identifier: Apache-2.0
// dnft: reading noise from a tensor or regenerating it from Philox, chunk by chunk.
#pragma once
// IWYU pragma: private

#include <cstdint>

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::detail {

//! Noise stored in a tensor: the chunk is read in place.
template <class T, class S>
DNFT_HOST_DEVICE inline const T* noise_chunk(const batch_view<const T, S>& v, index_t i, index_t d0, index_t,
                                             T*, index_t& stride) noexcept {
  stride = v.elem_stride;
  return v.sample(i) + d0 * v.elem_stride;
}

//! Noise regenerated from Philox: the chunk is written to `buf` (n elements).
template <class T>
DNFT_HOST_DEVICE inline const T* noise_chunk(const philox_normal& g, index_t i, index_t d0, index_t n, T* buf,
                                             index_t& stride) noexcept {
  g.fill(std::uint64_t(i), std::uint64_t(d0), std::uint64_t(d0 + n), buf);
  stride = 1;
  return buf;
}

template <class T, class S>
bool noise_find_nonfinite(const batch_view<const T, S>& v, index_t i, index_t, index_t& d_out, double& v_out) {
  for (index_t d = 0; d < v.elements; ++d)
    if (!isfinite(double(v(i, d)))) {
      d_out = d;
      v_out = double(v(i, d));
      return true;
    }
  return false;
}

inline bool noise_find_nonfinite(const philox_normal&, index_t, index_t, index_t&, double&) { return false; }

}  // namespace dnft::detail
