// SPDX-License-Identifier: Apache-2.0
// dnft: sde_step (one stochastic sampler step with its per-sample log-probability) and
// transition_log_prob (the log-probability of a stored transition under a new velocity, and
// its gradient with respect to that velocity): what FlowGRPO samples and trains with.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/sde_step.hpp"
#include "dnft/detail/views.hpp"
#include "dnft/host/sde_step.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::detail {

inline void validate_transition(const gaussian_transition& tr, std::string_view fn) {
  if (!isfinite(tr.cx) || !isfinite(tr.cv))
    fail<value_error>(fn, "transition",
                      "expected finite coefficients, got cx = " + num(tr.cx) + ", cv = " + num(tr.cv));
  if (!(tr.scale >= 0.0) || !isfinite(tr.scale))
    fail<value_error>(fn, "transition", "expected a finite scale >= 0, got " + num(tr.scale));
}

template <class T, class S, class LogP>
index_t sde_step_views(const auto& ex, const gaussian_transition& tr, const batch_view<const T, S>& x,
                       const batch_view<const T, S>& v, const batch_view<T, S>& x_next, const philox_normal& noise,
                       const LogP& log_prob) {
  sde_step_args<T, S, LogP> a{x, v, x_next, noise, log_prob, tr.cx, tr.cv, tr.scale};
  return sde_step_backend<std::remove_cvref_t<decltype(ex)>>::step(ex, a);
}

template <class T, class S, class LogP, class Grad>
index_t transition_log_prob_views(const auto& ex, const gaussian_transition& tr, const batch_view<const T, S>& x,
                                  const batch_view<const T, S>& x_next, const batch_view<const T, S>& v,
                                  const LogP& log_prob, const Grad& grad) {
  transition_log_prob_args<T, S, LogP, Grad> a{x, x_next, v, log_prob, grad, tr.cx, tr.cv, tr.scale};
  return sde_step_backend<std::remove_cvref_t<decltype(ex)>>::log_prob(ex, a);
}

//! Names the first non-finite input of sample i (host-readable memory), or says the sums overflowed.
template <class S, class... Named>
[[noreturn]] void report_nonfinite_sample(std::string_view fn, index_t i, const Named&... named) {
  if constexpr (std::is_same_v<S, host_space> || std::is_same_v<S, managed_space>) {
    index_t d = 0;
    double val = 0;
    std::string_view name;
    const bool found = ((find_nonfinite(named.second, i, d, val) ? (name = named.first, true) : false) || ...);
    if (found)
      fail<value_error>(fn, name,
                        "non-finite value " + num(val) + " at sample " + std::to_string(i) + ", element " +
                            std::to_string(d));
  }
  fail<value_error>(fn, "",
                    "the squared deviations of sample " + std::to_string(i) +
                        " did not sum to a finite value (non-finite input, or magnitudes above about 1e150)");
}

template <class E, class T, class LogP>
auto log_prob_arg(LogP&& lp, index_t batch, std::string_view fn) {
  const auto vl = vector_arg<E>(lp, fn, "log_prob");
  using L = typename decltype(vl)::element_type;
  static_assert(std::is_floating_point_v<L>, "dnft: log_prob must be a writable floating-point tensor");
  require_batch_size(vl, batch, "log_prob", fn);
  require_distinct(vl, fn, "log_prob");
  return vl;
}

}  // namespace dnft::detail

namespace dnft {

//! @brief One step of a stochastic sampler: x' = cx x + cv v + scale xi with xi ~ N(0, I) drawn
//! from `noise` (element d of sample i is noise(i, d)), and optionally the FlowGRPO per-sample
//! log-probability
//!     log_prob[i] = mean_d [ -(x'_id - mean_id)^2 / (2 scale^2) - log(scale) - log sqrt(2 pi) ],
//! computed from the stored x' with the arithmetic of transition_log_prob, so a recomputation
//! under the same v reproduces it (bit for bit unless the compiler contracts multiply-adds
//! differently in the two kernels, e.g. with FMA under -march=native; then to about 1e-16).
//! @param ex        executor
//! @param tr        the step's coefficients (flow_sde_transition, ddim_transition)
//! @param x         (B, D...) state at tr.sigma
//! @param v         (B, D...) velocity at x
//! @param x_next    (B, D...) output, the state at tr.sigma_next; may be x itself
//! @param noise     the Philox stream of this step
//! @param log_prob  (B) output (float or double), or dnft::none
//! @throws shape_error (mismatched or empty shapes), value_error (invalid transition; a
//!         non-finite input, named with its sample and element), layout_error.
template <executor Exec, tensor_like X, tensor_like V, tensor_like XNext, optional_tensor LogP>
void sde_step(const Exec& ex, const gaussian_transition& tr, const X& x, const V& v, XNext&& x_next,
              const philox_normal& noise, LogP&& log_prob) {
  constexpr std::string_view fn = "sde_step";
  using E = std::remove_cvref_t<Exec>;
  detail::validate_transition(tr, fn);
  const auto bx = detail::batch_arg<E>(x, fn, "x");
  using T = std::remove_const_t<typename decltype(bx)::element_type>;
  using S = typename decltype(bx)::space_type;
  static_assert(std::is_floating_point_v<T>, "dnft::sde_step: tensors must hold floating-point values");
  if (bx.batch <= 0) detail::fail<shape_error>(fn, "x", "expected a non-empty batch, got 0 samples");
  if (bx.elements <= 0) detail::fail<shape_error>(fn, "x", "expected at least one element per sample, got 0");
  const auto bv = detail::batch_arg<E>(v, fn, "v");
  const auto bn = detail::batch_arg<E>(x_next, fn, "x_next");
  static_assert(std::is_same_v<std::remove_const_t<typename decltype(bv)::element_type>, T> &&
                    std::is_same_v<typename decltype(bn)::element_type, T>,
                "dnft::sde_step: x, v and x_next must have the same element type, and x_next must be writable");
  detail::require_same_shape(bx, "x", bv, "v", fn);
  detail::require_same_shape(bx, "x", bn, "x_next", fn);
  detail::require_distinct(bn, fn, "x_next");
  const auto cx = detail::as_const_view(bx);
  const auto cv = detail::as_const_view(bv);
  index_t bad = -1;
  if constexpr (is_none_v<LogP>) {
    bad = detail::sde_step_views(ex, tr, cx, cv, bn, noise, detail::no_output{});
  } else {
    const auto vl = detail::log_prob_arg<E, T>(log_prob, bx.batch, fn);
    bad = detail::sde_step_views(ex, tr, cx, cv, bn, noise, vl);
  }
  if (bad >= 0) detail::report_nonfinite_sample<S>(fn, bad, std::pair{"x", cx}, std::pair{"v", cv});
}

//! @brief The log-probability of given transitions x -> x' under the Gaussian kernel of `tr`
//! with velocity v (FlowGRPO's logp_theta), per sample, as sde_step defines it; optionally its
//! gradient with respect to v:
//!     d log_prob[i] / d v[i, d] = cv (x'_id - mean_id) / (D scale^2),   mean = cx x + cv v.
//! A deterministic step (scale = 0) has log-probability 0 and gradient 0.
//! @param x         (B, D...) states at tr.sigma
//! @param x_next    (B, D...) states at tr.sigma_next
//! @param v         (B, D...) velocity at x (e.g. of the policy being trained)
//! @param log_prob  (B) output (float or double)
//! @param dlogp_dv  (B, D...) output with the element type of x, or dnft::none; may be v itself
//! @throws as sde_step.
template <executor Exec, tensor_like X, tensor_like XNext, tensor_like V, tensor_like LogP, optional_tensor Grad>
void transition_log_prob(const Exec& ex, const gaussian_transition& tr, const X& x, const XNext& x_next, const V& v,
                         LogP&& log_prob, Grad&& dlogp_dv) {
  constexpr std::string_view fn = "transition_log_prob";
  using E = std::remove_cvref_t<Exec>;
  detail::validate_transition(tr, fn);
  const auto bx = detail::batch_arg<E>(x, fn, "x");
  using T = std::remove_const_t<typename decltype(bx)::element_type>;
  using S = typename decltype(bx)::space_type;
  static_assert(std::is_floating_point_v<T>, "dnft::transition_log_prob: tensors must hold floating-point values");
  if (bx.batch <= 0) detail::fail<shape_error>(fn, "x", "expected a non-empty batch, got 0 samples");
  if (bx.elements <= 0) detail::fail<shape_error>(fn, "x", "expected at least one element per sample, got 0");
  const auto bn = detail::batch_arg<E>(x_next, fn, "x_next");
  const auto bv = detail::batch_arg<E>(v, fn, "v");
  static_assert(std::is_same_v<std::remove_const_t<typename decltype(bv)::element_type>, T> &&
                    std::is_same_v<std::remove_const_t<typename decltype(bn)::element_type>, T>,
                "dnft::transition_log_prob: x, x_next and v must have the same element type");
  detail::require_same_shape(bx, "x", bn, "x_next", fn);
  detail::require_same_shape(bx, "x", bv, "v", fn);
  const auto vl = detail::log_prob_arg<E, T>(log_prob, bx.batch, fn);
  const auto cx = detail::as_const_view(bx);
  const auto cn = detail::as_const_view(bn);
  const auto cv = detail::as_const_view(bv);
  index_t bad = -1;
  if constexpr (is_none_v<Grad>) {
    bad = detail::transition_log_prob_views(ex, tr, cx, cn, cv, vl, detail::no_output{});
  } else {
    const auto bg = detail::batch_arg<E>(dlogp_dv, fn, "dlogp_dv");
    static_assert(std::is_same_v<typename decltype(bg)::element_type, T>,
                  "dnft::transition_log_prob: dlogp_dv must be a writable tensor with the element type of x");
    detail::require_same_shape(bx, "x", bg, "dlogp_dv", fn);
    detail::require_distinct(bg, fn, "dlogp_dv");
    bad = detail::transition_log_prob_views(ex, tr, cx, cn, cv, vl, bg);
  }
  if (bad >= 0)
    detail::report_nonfinite_sample<S>(fn, bad, std::pair{"x", cx}, std::pair{"x_next", cn}, std::pair{"v", cv});
}

}  // namespace dnft
