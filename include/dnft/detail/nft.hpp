// SPDX-License-Identifier: Apache-2.0
// dnft: the DiffusionNFT formulas, per element and per sample. The one place they are written:
// the host loops (host/nft_loss.hpp) and the CUDA kernels (cuda/kernels/nft_loss.cuh) both call these.
#pragma once
// IWYU pragma: private

#include "dnft/config.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! How advantages are transformed after clipping to [-C, C] (ALGORITHM.md section 2).
enum class advantage_mode {
  all,            //!< unchanged (default)
  positive_only,  //!< clamp(A, 0, C)
  negative_only,  //!< clamp(A, -C, 0)
  one_only,       //!< 1 if A > 0 else 0
  binary          //!< sign(A)
};

//! The space the NFT branch errors are measured in.
enum class loss_space {
  data,     //!< x0-prediction error x0_pos - x0 = -t (v_pos - u)  (reference code, default)
  velocity  //!< velocity error v_pos - u  (the paper's velocity-space form)
};

//! The per-sample weight of the branch losses.
enum class loss_weighting {
  adaptive,       //!< divide by max(mean_d |error|, floor), treated as a constant (default)
  uniform,        //!< weight 1
  time,           //!< weight t
  one_minus_time  //!< weight 1 - t
};

}  // namespace dnft

namespace dnft::detail {

//! Hyperparameters of the NFT objective in the form kernels take (validated by nft_loss).
struct nft_params {
  double beta = 1.0;
  double adv_clip_max = 5.0;
  double kl_weight = 1e-4;
  double weight_floor = 1e-5;
  advantage_mode mode = advantage_mode::all;
  loss_space space = loss_space::data;
  loss_weighting weighting = loss_weighting::adaptive;
};

//! A_hat: clip to [-C, C], then apply the advantage mode.
template <class R>
DNFT_HOST_DEVICE constexpr R transform_advantage(R a, R c, advantage_mode mode) noexcept {
  const R ac = clamp(a, -c, c);
  switch (mode) {
    case advantage_mode::positive_only: return clamp(ac, R(0), c);
    case advantage_mode::negative_only: return clamp(ac, -c, R(0));
    case advantage_mode::one_only: return ac > R(0) ? R(1) : R(0);
    case advantage_mode::binary: return ac > R(0) ? R(1) : (ac < R(0) ? R(-1) : R(0));
    case advantage_mode::all:
    default: return ac;
  }
}

//! r = clamp(A_hat / C / 2 + 1/2, 0, 1), the optimality probability (A_hat = 0 gives 1/2).
template <class R>
DNFT_HOST_DEVICE constexpr R optimality_probability(R a_hat, R c) noexcept {
  return clamp(a_hat / c / R(2) + R(0.5), R(0), R(1));
}

//! Per-element branch residuals in velocity space: v_pos - u and v_neg - u, with
//! v_pos = beta v_theta + (1 - beta) v_old and v_neg = (1 + beta) v_old - beta v_theta.
template <class R>
struct nft_residual {
  R pos;
  R neg;
};

//! The two parts the branch residuals are made of: v_pos - u = common + split and
//! v_neg - u = common - split, with common = v_old - u and split = beta (v_theta - v_old).
template <class R>
struct nft_residual_parts {
  R common;
  R split;
};

//! common = v_old - u and split = beta (v_theta - v_old) of one element.
template <class R>
DNFT_HOST_DEVICE constexpr nft_residual_parts<R> nft_parts(R beta, R v_theta, R v_old, R u) noexcept {
  return {v_old - u, beta * (v_theta - v_old)};
}

//! v_pos - u and v_neg - u of one element, from its parts.
template <class R>
DNFT_HOST_DEVICE constexpr nft_residual<R> nft_residuals(R beta, R v_theta, R v_old, R u) noexcept {
  const nft_residual_parts<R> q = nft_parts(beta, v_theta, v_old, u);
  return {q.common + q.split, q.common - q.split};
}

//! The per-sample sums one pass over a sample's elements produces.
template <class Acc>
struct nft_sums {
  Acc abs_pos = 0;    //!< sum |v_pos - u|
  Acc abs_neg = 0;    //!< sum |v_neg - u|
  Acc sq_pos = 0;     //!< sum (v_pos - u)^2
  Acc sq_neg = 0;     //!< sum (v_neg - u)^2
  Acc theta_ref = 0;  //!< sum (v_theta - v_ref)^2       (0 without v_ref)
  Acc theta_old = 0;  //!< sum (v_theta - v_old)^2
  Acc old_ref = 0;    //!< sum (v_old - v_ref)^2         (0 without v_ref)
  Acc x0_sq = 0;      //!< sum x0^2

  DNFT_HOST_DEVICE constexpr nft_sums& operator+=(const nft_sums& o) noexcept {
    abs_pos += o.abs_pos;
    abs_neg += o.abs_neg;
    sq_pos += o.sq_pos;
    sq_neg += o.sq_neg;
    theta_ref += o.theta_ref;
    theta_old += o.theta_old;
    old_ref += o.old_ref;
    x0_sq += o.x0_sq;
    return *this;
  }
  DNFT_HOST_DEVICE bool finite() const noexcept {
    return isfinite(abs_pos + abs_neg + sq_pos + sq_neg + theta_ref + theta_old + old_ref + x0_sq);
  }
};

//! One element's contributions to the per-sample sums (the terms nft_sums adds up), in R.
//! |x| is written max(x, -x), which compilers turn into one instruction.
template <bool HasRef, class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE nft_sums<R> nft_terms(R beta, R x0, R eps, R v_theta, R v_old, R v_ref) noexcept {
  const nft_residual<R> r = nft_residuals(beta, v_theta, v_old, eps - x0);
  nft_sums<R> e;
  e.abs_pos = max(r.pos, -r.pos);
  e.abs_neg = max(r.neg, -r.neg);
  e.sq_pos = r.pos * r.pos;
  e.sq_neg = r.neg * r.neg;
  const R dto = v_theta - v_old;
  e.theta_old = dto * dto;
  if constexpr (HasRef) {
    const R dtr = v_theta - v_ref;
    const R dor = v_old - v_ref;
    e.theta_ref = dtr * dtr;
    e.old_ref = dor * dor;
  }
  e.x0_sq = x0 * x0;
  return e;
}

//! Adds one element's contributions, computed in the sum type `Acc` (inputs of type `R` are
//! converted first).
template <bool HasRef, class Acc, class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void nft_accumulate(nft_sums<Acc>& s, R beta, R x0, R eps, R v_theta, R v_old,
                                                      R v_ref) noexcept {
  s += nft_terms<HasRef>(Acc(beta), Acc(x0), Acc(eps), Acc(v_theta), Acc(v_old), Acc(v_ref));
}

//! Per-sample results: the sample's loss terms and the gradient coefficients.
//! grad[i, d] = pos * (v_pos - u) + neg * (v_neg - u) + kl * (v_theta - v_ref).
struct nft_sample {
  double policy_loss = 0;  //!< C (r L_pos + (1 - r) L_neg) / beta
  double kl = 0;           //!< mean_d (v_theta - v_ref)^2
  double theta_old = 0;    //!< mean_d (v_theta - v_old)^2
  double old_ref = 0;      //!< mean_d (v_old - v_ref)^2
  double x0_sq = 0;        //!< mean_d x0^2
  double r = 0;            //!< optimality probability
  double weight_pos = 0;   //!< the positive branch's weight factor (1 / w_pos when adaptive)
  double weight_neg = 0;
  double coef_pos = 0;     //!< gradient coefficients (already divided by B)
  double coef_neg = 0;
  double coef_kl = 0;
  bool clipped = false;    //!< |A| > C
};

//! The time-dependent scale a of the branch errors: error = -a (v - u), a = t in data space.
DNFT_HOST_DEVICE constexpr double nft_error_scale(double t, loss_space space) noexcept {
  return space == loss_space::data ? t : 1.0;
}

//! From one sample's sums: its losses and its gradient coefficients.
//! @param t     the sample's time in [0, 1]
//! @param adv   the sample's raw advantage
//! @param d     elements per sample; @param b the batch size (the loss is a mean over samples)
//! @param has_ref whether v_ref was given (the KL term and its gradient are zero otherwise)
DNFT_HOST_DEVICE inline nft_sample nft_finish_sample(const nft_sums<double>& s, double t, double adv, double d,
                                                     double b, const nft_params& p, bool has_ref) noexcept {
  nft_sample out;
  const double c = p.adv_clip_max;
  const double a_hat = transform_advantage(adv, c, p.mode);
  const double r = optimality_probability(a_hat, c);
  const double a = nft_error_scale(t, p.space);
  double k_pos, k_neg;
  if (p.weighting == loss_weighting::adaptive) {
    k_pos = 1.0 / max(a * s.abs_pos / d, p.weight_floor);
    k_neg = 1.0 / max(a * s.abs_neg / d, p.weight_floor);
  } else {
    const double w = p.weighting == loss_weighting::uniform ? 1.0 : (p.weighting == loss_weighting::time ? t : 1.0 - t);
    k_pos = w;
    k_neg = w;
  }
  const double l_pos = k_pos * a * a * s.sq_pos / d;
  const double l_neg = k_neg * a * a * s.sq_neg / d;
  out.policy_loss = c * (r * l_pos + (1.0 - r) * l_neg) / p.beta;
  out.kl = has_ref ? s.theta_ref / d : 0.0;
  out.theta_old = s.theta_old / d;
  out.old_ref = has_ref ? s.old_ref / d : 0.0;
  out.x0_sq = s.x0_sq / d;
  out.r = r;
  out.weight_pos = k_pos;
  out.weight_neg = k_neg;
  const double g = (c / b) * (2.0 * a * a / d);
  out.coef_pos = g * r * k_pos;
  out.coef_neg = -g * (1.0 - r) * k_neg;
  out.coef_kl = has_ref ? 2.0 * p.kl_weight / (b * d) : 0.0;
  out.clipped = adv > c || adv < -c;
  return out;
}

//! One gradient element from the sample's coefficients:
//! pos (v_pos - u) + neg (v_neg - u) + kl (v_theta - v_ref), evaluated as
//! (pos + neg) common + (pos - neg) split + kl (v_theta - v_ref) (nft_parts). Same value, fewer
//! operations, and exact where it should be: on-policy (split = 0) with r = 1/2 (pos = -neg)
//! it is exactly 0 however the compiler contracts it into fused multiply-adds.
template <bool HasRef, class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE R nft_grad_element(R beta, R coef_pos, R coef_neg, R coef_kl, R x0, R eps, R v_theta,
                                                     R v_old, R v_ref) noexcept {
  const nft_residual_parts<R> q = nft_parts(beta, v_theta, v_old, eps - x0);
  R g = (coef_pos + coef_neg) * q.common + (coef_pos - coef_neg) * q.split;
  if constexpr (HasRef) g += coef_kl * (v_theta - v_ref);
  return g;
}

}  // namespace dnft::detail

namespace dnft {

//! What nft_loss returns: the loss and the per-step diagnostics of ALGORITHM.md section 2.
struct nft_stats {
  double loss = 0;              //!< policy_loss + kl_weight * kl
  double policy_loss = 0;       //!< mean_i C (r L_pos + (1 - r) L_neg) / beta
  double kl = 0;                //!< mean_i mean_d (v_theta - v_ref)^2 (0 without v_ref)
  double theta_old = 0;         //!< mean (v_theta - v_old)^2
  double old_ref = 0;           //!< mean (v_old - v_ref)^2 (0 without v_ref)
  double x0_sq = 0;             //!< mean x0^2
  double mean_r = 0;            //!< mean optimality probability
  double clipped_fraction = 0;  //!< fraction of samples with |A| > adv_clip_max
  double mean_weight_pos = 0;   //!< mean positive-branch weight factor (1 / w_pos when adaptive)
  double mean_weight_neg = 0;   //!< mean negative-branch weight factor
  index_t batch = 0;            //!< B
  index_t elements = 0;         //!< D
};

}  // namespace dnft

namespace dnft::detail {

//! Combines per-sample results in sample order (so the result does not depend on threading).
inline nft_stats nft_reduce(const nft_sample* s, index_t b, index_t d, const nft_params& p) {
  nft_stats st;
  for (index_t i = 0; i < b; ++i) {
    st.policy_loss += s[i].policy_loss;
    st.kl += s[i].kl;
    st.theta_old += s[i].theta_old;
    st.old_ref += s[i].old_ref;
    st.x0_sq += s[i].x0_sq;
    st.mean_r += s[i].r;
    st.clipped_fraction += s[i].clipped ? 1.0 : 0.0;
    st.mean_weight_pos += s[i].weight_pos;
    st.mean_weight_neg += s[i].weight_neg;
  }
  const double inv = 1.0 / double(b);
  st.policy_loss *= inv;
  st.kl *= inv;
  st.theta_old *= inv;
  st.old_ref *= inv;
  st.x0_sq *= inv;
  st.mean_r *= inv;
  st.clipped_fraction *= inv;
  st.mean_weight_pos *= inv;
  st.mean_weight_neg *= inv;
  st.loss = st.policy_loss + p.kl_weight * st.kl;
  st.batch = b;
  st.elements = d;
  return st;
}

}  // namespace dnft::detail

namespace dnft {

//! @brief The backend of nft_loss for executor type `Exec`: specialised in host/nft_loss.hpp
//! (host_executor) and cuda/nft_loss.cuh (cuda::executor).
template <class Exec>
struct nft_loss_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::nft_loss: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft

namespace dnft::detail {

//! The arguments of nft_loss after conversion and checks, as a backend receives them.
template <class T, class Space, class Noise, class Time, class Adv>
struct nft_args {
  batch_view<const T, Space> x0;
  Noise noise;  //!< batch_view<const T, Space> (a noise tensor) or philox_normal
  Time t;       //!< vector_view<const ?, Space>, one time per sample
  Adv adv;      //!< vector_view<const ?, Space>, one advantage per sample
  batch_view<const T, Space> v_theta, v_old, v_ref;
  batch_view<T, Space> grad;
};

}  // namespace dnft::detail
