// SPDX-License-Identifier: Apache-2.0
// dnft: flow_matching_loss, the (time-weighted) flow-matching objective and its gradient.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/forward.hpp"
#include "dnft/host/flow_matching_loss.hpp"
#include "dnft/random/philox.hpp"

namespace dnft {

//! @brief Options of the flow-matching loss.
struct flow_matching_options {
  time_weighting weighting = time_weighting::uniform;  //!< w(t); see dnft::time_weighting
};

namespace detail {

inline void validate(const flow_matching_options& o, std::string_view fn) {
  switch (o.weighting) {
    case time_weighting::uniform:
    case time_weighting::time:
    case time_weighting::one_minus_time:
    case time_weighting::cosmap:
    case time_weighting::sigma_sqrt:
      return;
  }
  fail<value_error>(fn, "weighting",
                    "expected a dnft::time_weighting enumerator, got " + std::to_string(int(o.weighting)));
}

}  // namespace detail

//! @brief The flow-matching loss of ALGORITHM.md section 1,
//!     loss = mean_i w(t_i) mean_d (v[i, d] - u[i, d])^2,   u = eps - x0,
//! and optionally its gradient d loss / d v = 2 w(t_i) (v - u) / (B D).
//!
//! `v` is the model's velocity at x_t = (1 - t) x0 + t eps (see forward_noise). With a
//! dnft::philox_normal as `noise`, eps is regenerated in the kernel, so the same generator
//! given to forward_noise and to this function sees the same eps.
//! Sums are accumulated in double per sample and combined in sample order, so the result does
//! not depend on the thread count.
//! @param ex     executor
//! @param x0     (B, D...) clean samples
//! @param noise  (B, D...) eps, or a dnft::philox_normal
//! @param t      (B) times in [0, 1] (in (0, 1] for time_weighting::sigma_sqrt)
//! @param v      (B, D...) predicted velocity
//! @param grad   (B, D...) output d loss / d v, or dnft::none; may alias v
//! @param opt    the time weighting
//! @returns the loss, the unweighted mean squared error and the mean weight
//! @throws shape_error for empty or mismatched shapes, value_error for t outside its range, a
//!         non-finite input (naming the argument, sample and element) or an invalid option,
//!         layout_error for tensors that cannot be read as (B, D). On error grad is unspecified.
template <executor Exec, tensor_like X0, class Noise, tensor_like Time, tensor_like V, optional_tensor Grad>
flow_matching_stats flow_matching_loss(const Exec& ex, const X0& x0, const Noise& noise, const Time& t, const V& v,
                                       Grad&& grad, const flow_matching_options& opt = {}) {
  constexpr std::string_view fn = "flow_matching_loss";
  using E = std::remove_cvref_t<Exec>;
  detail::validate(opt, fn);
  const auto bx = detail::nonempty_batch_arg<E>(x0, fn, "x0");
  using T = std::remove_const_t<typename decltype(bx)::element_type>;
  using S = typename decltype(bx)::space_type;
  static_assert(std::is_floating_point_v<T> || !std::is_arithmetic_v<T>,
                "dnft::flow_matching_loss: tensors must hold floating-point values");
  const auto nz = detail::noise_input<E, T>(noise, fn);
  if constexpr (!std::is_same_v<std::remove_cvref_t<Noise>, philox_normal>)
    detail::require_same_shape(bx, "x0", nz, "noise", fn);
  const auto bv = detail::batch_arg<E>(v, fn, "v");
  static_assert(std::is_same_v<std::remove_const_t<typename decltype(bv)::element_type>, T>,
                "dnft::flow_matching_loss: x0, v (and grad) must have the same element type");
  detail::require_same_shape(bx, "x0", bv, "v", fn);
  const auto vt = detail::vector_arg<E>(t, fn, "t");
  detail::require_batch_size(vt, bx.batch, "t", fn);
  if constexpr (detail::host_checkable_v<E, typename decltype(vt)::space_type>) {
    detail::require_values_in(vt, 0.0, 1.0, "t", fn);
    if (opt.weighting == time_weighting::sigma_sqrt)
      for (index_t i = 0; i < vt.size; ++i)
        if (!(double(vt[i]) > 0))
          detail::fail<value_error>(fn, "t",
                                    "expected values in (0, 1] with time_weighting::sigma_sqrt (weight 1 / t^2), got " +
                                        detail::num(double(vt[i])) + " at sample " + std::to_string(i));
  }
  detail::flow_matching_args<T, S, std::remove_cvref_t<decltype(nz)>, std::remove_cvref_t<decltype(vt)>> a{
      detail::const_batch<T>(bx), nz, vt, detail::const_batch<T>(bv), {}};
  if constexpr (!is_none_v<Grad>) {
    const auto bg = detail::batch_arg<E>(grad, fn, "grad");
    static_assert(std::is_same_v<typename decltype(bg)::element_type, T>,
                  "dnft::flow_matching_loss: grad must be a writable tensor with the element type of x0");
    detail::require_same_shape(bx, "x0", bg, "grad", fn);
    detail::require_distinct(bg, fn, "grad");
    a.grad = bg;
  }
  return flow_matching_loss_backend<E>::template run<!is_none_v<Grad>>(ex, a, opt.weighting, fn);
}

}  // namespace dnft
