// SPDX-License-Identifier: Apache-2.0
// dnft: nft_loss, the DiffusionNFT objective and its gradient with respect to v_theta.
#pragma once

#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/nft.hpp"
#include "dnft/host/nft_loss.hpp"
#include "dnft/random/philox.hpp"

namespace dnft {

//! @brief Hyperparameters of the DiffusionNFT objective. Defaults are the reference code's.
struct nft_options {
  double beta = 1.0;           //!< implicit-policy mixing strength (> 0); 0.1 for multi-reward runs
  double adv_clip_max = 5.0;   //!< C: advantages are clipped to [-C, C] (> 0)
  double kl_weight = 1e-4;     //!< lambda_kl; 0 reproduces the paper (KL needs v_ref)
  double weight_floor = 1e-5;  //!< floor of the adaptive weight (> 0)
  advantage_mode mode = advantage_mode::all;
  loss_space space = loss_space::data;
  loss_weighting weighting = loss_weighting::adaptive;

  //! "Adaptive weight off" as ALGORITHM.md writes it: the plain velocity loss with time weight
  //! 1 (uniform), t (time) or 1 - t (one_minus_time).
  static nft_options plain_velocity(loss_weighting w = loss_weighting::uniform) {
    nft_options o;
    o.space = loss_space::velocity;
    o.weighting = w;
    return o;
  }
};

namespace detail {

inline nft_params validate(const nft_options& o, std::string_view fn) {
  require_positive(o.beta, "beta", fn);
  require_positive(o.adv_clip_max, "adv_clip_max", fn);
  require_nonnegative(o.kl_weight, "kl_weight", fn);
  require_positive(o.weight_floor, "weight_floor", fn);
  return {o.beta, o.adv_clip_max, o.kl_weight, o.weight_floor, o.mode, o.space, o.weighting};
}

template <class Exec, class T, class Noise>
auto noise_arg(const Noise& noise, std::string_view fn) {
  if constexpr (std::is_same_v<Noise, philox_normal>) {
    return noise;
  } else {
    static_assert(tensor_like<Noise>,
                  "dnft: noise must be a tensor (eps, same shape as x0) or a dnft::philox_normal");
    auto v = batch_arg<Exec>(noise, fn, "noise");
    static_assert(std::is_same_v<std::remove_const_t<typename decltype(v)::element_type>, T>,
                  "dnft: noise must have the same element type as x0");
    return batch_view<const T, typename decltype(v)::space_type>{v.data, v.batch, v.elements, v.sample_stride,
                                                                 v.elem_stride};
  }
}

template <class T, class V>
auto as_const_batch(const V& v) {
  return batch_view<const T, typename V::space_type>{v.data, v.batch, v.elements, v.sample_stride, v.elem_stride};
}

}  // namespace detail

//! @brief The DiffusionNFT loss (ALGORITHM.md section 2) and, optionally, its gradient with
//! respect to v_theta, fused: per sample one pass for the reductions and one that writes the
//! gradient.
//!
//! All (B, ...) tensors are read as B samples of D elements (trailing axes flattened).
//! @param ex       executor (dnft::host, dnft::host_executor{threads}, dnft::cuda::executor)
//! @param x0       (B, D...) clean samples
//! @param noise    (B, D...) eps, or a dnft::philox_normal to regenerate eps in the kernel
//! @param t        (B) times in [0, 1]
//! @param adv      (B) raw advantages (clipped and transformed here)
//! @param v_theta  (B, D...) velocity of the policy being trained at x_t = (1 - t) x0 + t eps
//! @param v_old    (B, D...) velocity of the sampling (old) policy
//! @param v_ref    (B, D...) velocity of the reference policy, or dnft::none (no KL term)
//! @param grad     (B, D...) output dloss/dv_theta, or dnft::none; may alias v_theta
//! @param opt      hyperparameters
//! @returns the loss and the diagnostics
//! @throws shape_error for mismatched or empty shapes, value_error for t outside [0, 1],
//!         non-finite inputs or invalid options (naming the argument, sample and element),
//!         layout_error for tensors that cannot be read as (B, D). On error the contents of
//!         grad are unspecified.
template <executor Exec, tensor_like X0, class Noise, tensor_like Time, tensor_like Adv, tensor_like VTheta,
          tensor_like VOld, optional_tensor VRef, optional_tensor Grad>
nft_stats nft_loss(const Exec& ex, const X0& x0, const Noise& noise, const Time& t, const Adv& adv,
                   const VTheta& v_theta, const VOld& v_old, const VRef& v_ref, Grad&& grad,
                   const nft_options& opt = {}) {
  constexpr std::string_view fn = "nft_loss";
  using E = std::remove_cvref_t<Exec>;
  const detail::nft_params p = detail::validate(opt, fn);
  const auto bx = detail::batch_arg<E>(x0, fn, "x0");
  using T = std::remove_const_t<typename decltype(bx)::element_type>;
  using S = typename decltype(bx)::space_type;
  static_assert(std::is_floating_point_v<T> || !std::is_arithmetic_v<T>,
                "dnft::nft_loss: tensors must hold floating-point values");
  if (bx.batch <= 0) detail::fail<shape_error>(fn, "x0", "expected a non-empty batch, got 0 samples");
  if (bx.elements <= 0) detail::fail<shape_error>(fn, "x0", "expected at least one element per sample, got 0");

  const auto nz = detail::noise_arg<E, T>(noise, fn);
  if constexpr (!std::is_same_v<Noise, philox_normal>) detail::require_same_shape(bx, "x0", nz, "noise", fn);
  const auto bt = detail::batch_arg<E>(v_theta, fn, "v_theta");
  const auto bo = detail::batch_arg<E>(v_old, fn, "v_old");
  static_assert(std::is_same_v<std::remove_const_t<typename decltype(bt)::element_type>, T> &&
                    std::is_same_v<std::remove_const_t<typename decltype(bo)::element_type>, T>,
                "dnft::nft_loss: x0, v_theta, v_old (and v_ref, grad) must have the same element type");
  detail::require_same_shape(bx, "x0", bt, "v_theta", fn);
  detail::require_same_shape(bx, "x0", bo, "v_old", fn);

  const auto vt = detail::vector_arg<E>(t, fn, "t");
  const auto va = detail::vector_arg<E>(adv, fn, "adv");
  detail::require_batch_size(vt, bx.batch, "t", fn);
  detail::require_batch_size(va, bx.batch, "adv", fn);
  // Values in host memory are checked here; device backends check theirs in the kernels (cuda/nft_loss.cuh).
  using TS = typename decltype(vt)::space_type;
  using AS = typename decltype(va)::space_type;
  if constexpr (detail::host_checkable_v<E, TS>)
    detail::require_values_in(vt, 0.0, 1.0, "t", fn);
  if constexpr (detail::host_checkable_v<E, AS>)
    detail::require_finite_values(va, "adv", fn);

  detail::nft_args<T, S, std::remove_cvref_t<decltype(nz)>, std::remove_cvref_t<decltype(vt)>,
                   std::remove_cvref_t<decltype(va)>>
      a{detail::as_const_batch<T>(bx), nz, vt, va, detail::as_const_batch<T>(bt), detail::as_const_batch<T>(bo), {}, {}};
  if constexpr (!is_none_v<VRef>) {
    const auto br = detail::batch_arg<E>(v_ref, fn, "v_ref");
    static_assert(std::is_same_v<std::remove_const_t<typename decltype(br)::element_type>, T>,
                  "dnft::nft_loss: v_ref must have the same element type as x0");
    detail::require_same_shape(bx, "x0", br, "v_ref", fn);
    a.v_ref = detail::as_const_batch<T>(br);
  }
  if constexpr (!is_none_v<Grad>) {
    const auto bg = detail::batch_arg<E>(grad, fn, "grad");
    static_assert(std::is_same_v<typename decltype(bg)::element_type, T>,
                  "dnft::nft_loss: grad must be a writable tensor with the element type of x0");
    detail::require_same_shape(bx, "x0", bg, "grad", fn);
    detail::require_distinct(bg, fn, "grad");
    a.grad = bg;
  }
  constexpr bool has_ref = !is_none_v<VRef>, has_grad = !is_none_v<Grad>;
  return nft_loss_backend<E>::template run<has_ref, has_grad>(ex, a, p, fn);
}

}  // namespace dnft
