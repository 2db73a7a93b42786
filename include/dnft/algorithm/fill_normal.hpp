// SPDX-License-Identifier: Apache-2.0
// dnft: fill_normal, materialises the standard normals of a philox_normal into a tensor.
#pragma once

#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/random.hpp"
#include "dnft/host/fill_normal.hpp"
#include "dnft/random/philox.hpp"

namespace dnft {

//! @brief Writes out[i, d] = gen(i, d): the eps that forward_noise, flow_matching_loss and
//! nft_loss regenerate from the same generator, bit for bit (the normals are float values,
//! converted to the tensor's element type).
//!
//! @param ex   executor
//! @param out  (B, D...) output; trailing axes are flattened in row-major order, so element d
//!             of sample i is the d-th element of out[i] in that order
//! @param gen  the generator (seed, stream)
//! @throws shape_error for an empty batch or sample, layout_error for a tensor that cannot be read as
//!         (B, D) or that has overlapping elements
template <executor Exec, tensor_like Out>
void fill_normal(const Exec& ex, Out&& out, const philox_normal& gen) {
  constexpr std::string_view fn = "fill_normal";
  using E = std::remove_cvref_t<Exec>;
  const auto b = detail::nonempty_batch_arg<E>(out, fn, "out");
  using T = typename decltype(b)::element_type;
  static_assert(!std::is_const_v<T> && std::is_floating_point_v<T>,
                "dnft::fill_normal: out must be a writable tensor of floating-point values");
  detail::require_distinct(b, fn, "out");
  fill_normal_backend<E>::run(ex, b, gen);
}

}  // namespace dnft
