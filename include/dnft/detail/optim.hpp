// SPDX-License-Identifier: Apache-2.0
// dnft: per-element formulas of the flat parameter-buffer operations (soft update / EMA,
// gradient clipping, AdamW), shared by the host loops and the CUDA kernels.
#pragma once
// IWYU pragma: private

#include <cmath>
#include <cstdint>

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

//! old <- d old + (1 - d) theta, written as the reference does (p_old * d + p * (1 - d)), with
//! d and 1 - d computed in double and rounded to T once.
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE constexpr T soft_update_element(T old, T theta, T d, T one_minus_d) noexcept {
  return old * d + theta * one_minus_d;
}

//! The per-step scalars of an AdamW step, computed in double as PyTorch computes them (Python
//! floats), then rounded to the element type where an element operation uses them.
struct adamw_scalars {
  double param_scale = 1;   //!< 1 - lr * weight_decay (decoupled weight decay)
  double beta1_weight = 0;  //!< 1 - beta1 (the lerp weight of the first moment)
  double beta2 = 0;
  double one_minus_beta2 = 0;
  double bias2_sqrt = 1;  //!< sqrt(1 - beta2^step)
  double eps = 0;
  double neg_step_size = 0;  //!< -lr / (1 - beta1^step)
};

//! The scalars of step number `step` (1 for the first step).
inline adamw_scalars make_adamw_scalars(double lr, double beta1, double beta2, double weight_decay, double eps,
                                        std::int64_t step) noexcept {
  adamw_scalars s;
  s.param_scale = 1.0 - lr * weight_decay;
  s.beta1_weight = 1.0 - beta1;
  s.beta2 = beta2;
  s.one_minus_beta2 = 1.0 - beta2;
  const double bias1 = 1.0 - std::pow(beta1, double(step));
  const double bias2 = 1.0 - std::pow(beta2, double(step));
  s.bias2_sqrt = std::sqrt(bias2);
  s.eps = eps;
  s.neg_step_size = -(lr / bias1);
  return s;
}

//! The AdamW scalars rounded to the element type.
template <class T>
struct adamw_coefs {
  T param_scale, w1, beta2, one_minus_beta2, bias2_sqrt, eps, neg_step_size;
  bool w1_small;  //!< |w1| < 0.5: which of PyTorch's two lerp forms applies
};

template <class T>
DNFT_HOST_DEVICE constexpr adamw_coefs<T> round_adamw(const adamw_scalars& s) noexcept {
  const T w1 = T(s.beta1_weight);
  return {T(s.param_scale), w1,       T(s.beta2),         T(s.one_minus_beta2),
          T(s.bias2_sqrt),  T(s.eps), T(s.neg_step_size), abs(w1) < T(0.5)};
}

//! One element of PyTorch's single-tensor AdamW, operation by operation:
//!   p.mul_(1 - lr wd); m.lerp_(g, 1 - beta1); v.mul_(beta2).addcmul_(g, g, 1 - beta2);
//!   denom = v.sqrt() / sqrt(1 - beta2^step) + eps; p.addcdiv_(m, denom, -lr / (1 - beta1^step)).
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void adamw_element(T& p, T g, T& m, T& v, const adamw_coefs<T>& c) noexcept {
  p = p * c.param_scale;
  m = c.w1_small ? m + c.w1 * (g - m) : g - (g - m) * (T(1) - c.w1);
  v = v * c.beta2;
  v = v + c.one_minus_beta2 * g * g;
  using std::sqrt;
  const T denom = sqrt(v) / c.bias2_sqrt + c.eps;
  p = p + c.neg_step_size * m / denom;
}

//! The factor clip_grad_norm multiplies the gradients with, as PyTorch computes it:
//! min(max_norm / (norm + 1e-6), 1).
DNFT_HOST_DEVICE constexpr double clip_coefficient(double norm, double max_norm) noexcept {
  const double c = max_norm / (norm + 1e-6);
  return c < 1.0 ? c : 1.0;
}

}  // namespace dnft::detail

namespace dnft {

//! @brief The backend of soft_update / ema_update for executor type `Exec`: specialised in
//! host/optim.hpp (host_executor) and cuda/optim.cuh (cuda::executor).
template <class Exec>
struct soft_update_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::soft_update: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

//! @brief The backend of l2_norm / clip_grad_norm: `sum_squares` (deterministic in the thread
//! count) and `scale`.
template <class Exec>
struct grad_norm_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::clip_grad_norm: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

//! @brief The backend of adamw_step.
template <class Exec>
struct adamw_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::adamw_step: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft
