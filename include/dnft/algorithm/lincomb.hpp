// SPDX-License-Identifier: Apache-2.0
// dnft: lincomb, the element-wise linear combination out = a_0 x_0 + a_1 x_1 + ... of
// same-shaped tensors: the building block of every deterministic solver step.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/lincomb.hpp"
#include "dnft/detail/views.hpp"
#include "dnft/host/lincomb.hpp"

namespace dnft::detail {

//! The entry for code that already holds checked batch views (the solvers):
//! out = constant + sum_k coef[k] * in[k], on executor `ex`.
template <class Exec, class T, class S, class... In>
void lincomb_views(const Exec& ex, const batch_view<T, S>& out, double constant,
                   const std::array<double, sizeof...(In)>& coef, const In&... in) {
  lincomb_args<T, S, sizeof...(In)> a{};
  a.out = out;
  a.constant = static_cast<T>(constant);
  std::size_t k = 0;
  ((a.in[k] = as_const_view(in), a.coef[k] = static_cast<T>(coef[k]), ++k), ...);
  lincomb_backend<std::remove_cvref_t<Exec>>::run(ex, a);
}

}  // namespace dnft::detail

namespace dnft {

//! @brief out = coef[0] * x[0] + coef[1] * x[1] + ..., element by element.
//!
//! All tensors are read as B samples of D elements (trailing axes flattened) and must have the
//! same (B, D) and element type. An input may be the output itself (the same data and strides:
//! `lincomb(ex, x, {1.0, dt}, x, v)` is an in-place Euler step); no other overlap is allowed.
//! Each element is computed as ((0 + a_0 x_0) + a_1 x_1) + ... in the element type, in that
//! order, on every backend.
//! @code
//!   dnft::lincomb(dnft::host, x, {1.0, sigma_next - sigma}, x, v);   // x += dt * v
//! @endcode
//! @param ex    executor (dnft::host, dnft::host_executor{threads}, dnft::cuda::executor)
//! @param out   (B, D...) output
//! @param coef  one finite coefficient per input
//! @param x     (B, D...) inputs
//! @throws shape_error when an input's (B, D) differs from out's; value_error for a non-finite
//!         coefficient; layout_error for an output with overlapping elements or tensors that
//!         cannot be read as (B, D).
template <executor Exec, tensor_like Out, tensor_like... In>
void lincomb(const Exec& ex, Out&& out, const std::array<double, sizeof...(In)>& coef, const In&... x) {
  constexpr std::string_view fn = "lincomb";
  using E = std::remove_cvref_t<Exec>;
  const auto bo = detail::batch_arg<E>(out, fn, "out");
  using T = typename decltype(bo)::element_type;
  static_assert(!std::is_const_v<T>, "dnft::lincomb: out must be a writable tensor");
  static_assert(std::is_arithmetic_v<T>, "dnft::lincomb: tensors must hold arithmetic values");
  detail::require_distinct(bo, fn, "out");
  for (std::size_t k = 0; k < coef.size(); ++k)
    if (!detail::isfinite(coef[k]))
      detail::fail<value_error>(fn, "coef",
                                "expected finite coefficients, got " + detail::num(coef[k]) + " at position " +
                                    std::to_string(k));
  std::size_t k = 0;
  auto convert = [&](const auto& t) {
    const std::string name = "x[" + std::to_string(k++) + "]";
    const auto b = detail::batch_arg<E>(t, fn, name);
    static_assert(std::is_same_v<std::remove_const_t<typename decltype(b)::element_type>, T>,
                  "dnft::lincomb: every input must have the element type of out");
    detail::require_same_shape(bo, "out", b, name, fn);
    return detail::as_const_view(b);
  };
  // Braced initialisation evaluates the conversions left to right, so inputs are named in order.
  const std::array<detail::batch_view<const T, typename decltype(bo)::space_type>, sizeof...(In)> in{convert(x)...};
  (void)convert;  // unused without inputs
  if (bo.batch == 0 || bo.elements == 0) return;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    detail::lincomb_views(ex, bo, 0.0, coef, in[I]...);
  }(std::make_index_sequence<sizeof...(In)>{});
}

}  // namespace dnft
