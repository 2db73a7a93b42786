// SPDX-License-Identifier: Apache-2.0
// dnft: forward_noise, the rectified-flow forward process x_t = (1 - t) x0 + t eps.
#pragma once

#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/forward.hpp"
#include "dnft/host/forward_noise.hpp"
#include "dnft/random/philox.hpp"

namespace dnft {

//! @brief The forward process of ALGORITHM.md section 1: x_t = (1 - t) x0 + t eps, and
//! optionally eps itself and the target velocity u = eps - x0.
//!
//! With a dnft::philox_normal as `noise`, eps[i, d] is regenerated in the kernel as
//! `noise(i, d)` (a pure function of seed, stream, sample and element), so the same eps can be
//! regenerated later by nft_loss or flow_matching_loss from the same generator instead of being
//! stored. All (B, ...) tensors are read as B samples of D elements (trailing axes flattened).
//!
//! @code
//!   dnft::philox_normal eps{.seed = 7, .stream = dnft::stream_id(iteration, slot)};
//!   dnft::forward_noise(dnft::host, x0, eps, t, x_t, dnft::none, dnft::none);
//! @endcode
//! @param ex       executor (dnft::host, dnft::host_executor{threads}, dnft::cuda::executor)
//! @param x0       (B, D...) clean samples
//! @param noise    (B, D...) eps with x0's element type, or a dnft::philox_normal
//! @param t        (B) times in [0, 1]
//! @param x_t      (B, D...) output x_t; may alias x0 (with the same layout)
//! @param eps_out  (B, D...) output eps, or dnft::none
//! @param u_out    (B, D...) output u = eps - x0, or dnft::none
//! @throws shape_error for empty or mismatched shapes, value_error for t outside [0, 1] and for a
//!         non-finite x0 or eps (naming the argument, sample and element), layout_error for
//!         tensors that cannot be read as (B, D) or outputs with overlapping elements. On error
//!         the outputs' contents are unspecified.
template <executor Exec, tensor_like X0, class Noise, tensor_like Time, tensor_like XT, optional_tensor EpsOut,
          optional_tensor UOut>
void forward_noise(const Exec& ex, const X0& x0, const Noise& noise, const Time& t, XT&& x_t, EpsOut&& eps_out,
                   UOut&& u_out) {
  constexpr std::string_view fn = "forward_noise";
  using E = std::remove_cvref_t<Exec>;
  const auto bx = detail::nonempty_batch_arg<E>(x0, fn, "x0");
  using T = std::remove_const_t<typename decltype(bx)::element_type>;
  using S = typename decltype(bx)::space_type;
  static_assert(std::is_floating_point_v<T> || !std::is_arithmetic_v<T>,
                "dnft::forward_noise: tensors must hold floating-point values");
  const auto nz = detail::noise_input<E, T>(noise, fn);
  if constexpr (!std::is_same_v<std::remove_cvref_t<Noise>, philox_normal>)
    detail::require_same_shape(bx, "x0", nz, "noise", fn);
  const auto vt = detail::vector_arg<E>(t, fn, "t");
  detail::require_batch_size(vt, bx.batch, "t", fn);
  if constexpr (detail::host_checkable_v<E, typename decltype(vt)::space_type>)
    detail::require_values_in(vt, 0.0, 1.0, "t", fn);

  // Outputs: writable, x0's element type and shape, no overlapping elements.
  auto out = [&](auto&& o, std::string_view name) {
    const auto b = detail::batch_arg<E>(o, fn, name);
    static_assert(std::is_same_v<typename decltype(b)::element_type, T>,
                  "dnft::forward_noise: x_t, eps_out and u_out must be writable tensors with the element type of x0");
    detail::require_same_shape(bx, "x0", b, name, fn);
    detail::require_distinct(b, fn, name);
    return b;
  };
  detail::forward_noise_args<T, S, std::remove_cvref_t<decltype(nz)>, std::remove_cvref_t<decltype(vt)>> a{
      detail::const_batch<T>(bx), nz, vt, out(x_t, "x_t"), {}, {}};
  if constexpr (!is_none_v<EpsOut>) a.eps = out(eps_out, "eps_out");
  if constexpr (!is_none_v<UOut>) a.u = out(u_out, "u_out");
  forward_noise_backend<E>::template run<!is_none_v<EpsOut>, !is_none_v<UOut>>(ex, a, fn);
}

//! forward_noise writing x_t only.
template <executor Exec, tensor_like X0, class Noise, tensor_like Time, tensor_like XT>
void forward_noise(const Exec& ex, const X0& x0, const Noise& noise, const Time& t, XT&& x_t) {
  forward_noise(ex, x0, noise, t, x_t, none, none);
}

}  // namespace dnft
