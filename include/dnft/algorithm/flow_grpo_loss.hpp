// SPDX-License-Identifier: Apache-2.0
// dnft: flow_grpo_loss, the FlowGRPO objective (PPO-clipped ratio of transition
// log-probabilities plus a KL term) and its gradient with respect to the policy's velocity.
#pragma once

#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/flow_grpo.hpp"
#include "dnft/host/flow_grpo_loss.hpp"

namespace dnft {

//! @brief Hyperparameters of the FlowGRPO objective; defaults as ALGORITHM.md section 5.
struct flow_grpo_options {
  double clip_range = 1e-4;   //!< eps_clip (>= 0)
  double adv_clip_max = 5.0;  //!< advantages clipped to [-C, C] (> 0)
  double kl_weight = 0.04;    //!< beta_kl (>= 0): 0.04 GenEval/OCR, 0.01 PickScore
};

//! @brief The FlowGRPO loss of one sampler step for a batch, and its gradient with respect to
//! v_theta (ALGORITHM.md section 5):
//!     logp_theta  = log N(x_next; cx x + cv v_theta, scale^2 I), averaged over elements,
//!     ratio       = exp(logp_theta - logp_sample),   A_hat = clamp(A, -C, C),
//!     policy_loss = mean_i max(-A_hat ratio, -A_hat clamp(ratio, 1 - eps_clip, 1 + eps_clip)),
//!     kl          = mean_i mean_d (mu_theta - mu_ref)^2 / (2 std_dev^2),   mu = cx x + cv v,
//!     loss        = policy_loss + kl_weight kl.
//! @param tr             the step's transition (trajectory::transition(k))
//! @param x              (B, D...) states x_k
//! @param x_next         (B, D...) states x_{k+1}
//! @param v_theta        (B, D...) the trained policy's velocity at x_k (guided if sampling was)
//! @param v_ref          (B, D...) the reference policy's velocity, or dnft::none (no KL)
//! @param log_prob_sample (B) logp of the transition under the sampling policy
//! @param adv            (B) advantages
//! @param grad           (B, D...) output dloss/dv_theta, or dnft::none
//! @throws shape_error, value_error (options; non-finite inputs naming argument, sample and element)
template <executor Exec, tensor_like X, tensor_like XNext, tensor_like VTheta, optional_tensor VRef,
          tensor_like LogP, tensor_like Adv, optional_tensor Grad>
flow_grpo_stats flow_grpo_loss(const Exec& ex, const gaussian_transition& tr, const X& x, const XNext& x_next,
                               const VTheta& v_theta, const VRef& v_ref, const LogP& log_prob_sample,
                               const Adv& adv, Grad&& grad, const flow_grpo_options& opt = {}) {
  constexpr std::string_view fn = "flow_grpo_loss";
  using E = std::remove_cvref_t<Exec>;
  detail::require_nonnegative(opt.clip_range, "clip_range", fn);
  detail::require_positive(opt.adv_clip_max, "adv_clip_max", fn);
  detail::require_nonnegative(opt.kl_weight, "kl_weight", fn);
  if (!detail::isfinite(tr.cx) || !detail::isfinite(tr.cv) || !(tr.scale >= 0) || !detail::isfinite(tr.scale) ||
      !(tr.std_dev >= 0) || !detail::isfinite(tr.std_dev))
    detail::fail<value_error>(fn, "transition", "expected finite coefficients and scales >= 0");
  const auto bx = detail::batch_arg<E>(x, fn, "x");
  using T = std::remove_const_t<typename decltype(bx)::element_type>;
  using S = typename decltype(bx)::space_type;
  static_assert(std::is_floating_point_v<T>, "dnft::flow_grpo_loss: tensors must hold floating-point values");
  if (bx.batch <= 0) detail::fail<shape_error>(fn, "x", "expected a non-empty batch, got 0 samples");
  if (bx.elements <= 0) detail::fail<shape_error>(fn, "x", "expected at least one element per sample, got 0");
  const auto bn = detail::batch_arg<E>(x_next, fn, "x_next");
  const auto bt = detail::batch_arg<E>(v_theta, fn, "v_theta");
  static_assert(std::is_same_v<std::remove_const_t<typename decltype(bn)::element_type>, T> &&
                    std::is_same_v<std::remove_const_t<typename decltype(bt)::element_type>, T>,
                "dnft::flow_grpo_loss: x, x_next, v_theta (and v_ref, grad) must have the same element type");
  detail::require_same_shape(bx, "x", bn, "x_next", fn);
  detail::require_same_shape(bx, "x", bt, "v_theta", fn);
  const auto vl = detail::vector_arg<E>(log_prob_sample, fn, "log_prob_sample");
  const auto va = detail::vector_arg<E>(adv, fn, "adv");
  detail::require_batch_size(vl, bx.batch, "log_prob_sample", fn);
  detail::require_batch_size(va, bx.batch, "adv", fn);
  if constexpr (detail::host_checkable_v<E, typename decltype(vl)::space_type>)
    detail::require_finite_values(vl, "log_prob_sample", fn);
  if constexpr (detail::host_checkable_v<E, typename decltype(va)::space_type>)
    detail::require_finite_values(va, "adv", fn);
  detail::flow_grpo_args<T, S, std::remove_cvref_t<decltype(vl)>, std::remove_cvref_t<decltype(va)>> a{
      detail::const_batch<T>(bx), detail::const_batch<T>(bn), detail::const_batch<T>(bt), {}, vl, va, {}};
  if constexpr (!is_none_v<VRef>) {
    const auto br = detail::batch_arg<E>(v_ref, fn, "v_ref");
    static_assert(std::is_same_v<std::remove_const_t<typename decltype(br)::element_type>, T>,
                  "dnft::flow_grpo_loss: v_ref must have the element type of x");
    detail::require_same_shape(bx, "x", br, "v_ref", fn);
    a.v_ref = detail::const_batch<T>(br);
  }
  if constexpr (!is_none_v<Grad>) {
    const auto bg = detail::batch_arg<E>(grad, fn, "grad");
    static_assert(std::is_same_v<typename decltype(bg)::element_type, T>,
                  "dnft::flow_grpo_loss: grad must be a writable tensor with the element type of x");
    detail::require_same_shape(bx, "x", bg, "grad", fn);
    detail::require_distinct(bg, fn, "grad");
    a.grad = bg;
  }
  const detail::flow_grpo_params p{opt.clip_range, opt.adv_clip_max, opt.kl_weight, tr.cx, tr.cv, tr.scale, tr.std_dev};
  return flow_grpo_loss_backend<E>::template run<!is_none_v<VRef>, !is_none_v<Grad>>(ex, a, p, fn);
}

}  // namespace dnft
