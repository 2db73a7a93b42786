// SPDX-License-Identifier: Apache-2.0
// dnft: the step coefficients of the solvers (ALGORITHM.md section 4), computed on the host
// once per step. Every deterministic step is x' = cx x + cv v + cp m_prev (one lincomb); every
// stochastic step is a gaussian_transition (one sde_step). The one place these formulas live.
#pragma once
// IWYU pragma: private

#include <cmath>
#include <cstdint>

#include "dnft/detail/sde_step.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::detail {

//! A deterministic step x' = cx * x + cv * v + cp * m_prev, with v the velocity at x and m_prev
//! the previous step's data prediction (DPM-Solver++(2M) only).
struct linear_step {
  double cx = 1.0;
  double cv = 0.0;
  double cp = 0.0;
};

//! Euler (flow ODE): x' = x + (sigma' - sigma) v.
inline linear_step euler_step(double sigma, double sigma_next) noexcept { return {1.0, sigma_next - sigma, 0.0}; }

//! lambda = log(alpha / sigma) with alpha = 1 - sigma, for 0 < sigma < 1.
inline double flow_lambda(double sigma) noexcept { return std::log1p(-sigma) - std::log(sigma); }

//! @brief One DPM-Solver++ step in data prediction, alpha = 1 - sigma:
//!   1st order: x' = (sigma'/sigma) x - alpha' (e^{-h} - 1) m_k,
//!   2nd order (multistep, r0 = (lambda - lambda_prev) / h):
//!     x' = (sigma'/sigma) x - alpha' (e^{-h} - 1) [(1 + 1/(2 r0)) m_k - 1/(2 r0) m_{k-1}],
//! with m_k = x - sigma v, rewritten in terms of (x, v, m_{k-1}). e^{-h} is evaluated as
//! (sigma' alpha) / (sigma alpha'), which needs no logarithm. A step from sigma = 1 or into
//! sigma' = 0 is an Euler step (lambda is infinite there); `second_order` is ignored for it.
//! @param sigma_prev  the previous grid time (only read for a second-order step; < 1)
inline linear_step dpm_solver_step(double sigma_prev, double sigma, double sigma_next, bool second_order) noexcept {
  if (!(sigma < 1.0) || !(sigma_next > 0.0)) return euler_step(sigma, sigma_next);
  const double alpha = 1.0 - sigma, alpha_next = 1.0 - sigma_next;
  const double ratio = sigma_next / sigma;
  const double exp_neg_h = (sigma_next * alpha) / (sigma * alpha_next);
  const double c0 = -alpha_next * (exp_neg_h - 1.0);  // multiplies the data-prediction term
  double k1 = 1.0, k2 = 0.0;
  if (second_order) {
    const double h = flow_lambda(sigma_next) - flow_lambda(sigma);
    const double r0 = (flow_lambda(sigma) - flow_lambda(sigma_prev)) / h;
    k1 = 1.0 + 1.0 / (2.0 * r0);
    k2 = -1.0 / (2.0 * r0);
  }
  // (sigma'/sigma) x + c0 [k1 (x - sigma v) + k2 m_prev]
  return {ratio + c0 * k1, -c0 * k1 * sigma, c0 * k2};
}

//! @brief The flow SDE step of FlowGRPO with noise level a, dt = sigma' - sigma < 0:
//!   std  = a sqrt(sigma / (1 - sigma~))   (sigma~ = sigma, or grid[1] when sigma = 1)
//!   mean = x (1 + std^2 / (2 sigma) dt) + v (1 + std^2 (1 - sigma) / (2 sigma)) dt
//!   x'   = mean + std sqrt(-dt) xi.
//! @pre 0 < sigma <= 1, sigma' < sigma, sigma~ < 1, a >= 0.
inline gaussian_transition flow_sde_step(double sigma, double sigma_next, double sigma_tilde, double a) noexcept {
  const double dt = sigma_next - sigma;
  const double std_dev = a * std::sqrt(sigma / (1.0 - sigma_tilde));
  const double var = std_dev * std_dev;
  gaussian_transition t;
  t.cx = 1.0 + var / (2.0 * sigma) * dt;
  t.cv = (1.0 + var * (1.0 - sigma) / (2.0 * sigma)) * dt;
  t.scale = std_dev * std::sqrt(-dt);
  t.std_dev = std_dev;
  t.sigma = sigma;
  t.sigma_next = sigma_next;
  return t;
}

//! @brief The DDIM-style stochastic step with noise eta in [0, 1]:
//!   x0_hat = x - sigma v,  eps_hat = x + (1 - sigma) v,
//!   rho = eta sigma' sqrt(1 - sigma'^2 (1 - sigma)^2 / (sigma^2 (1 - sigma')^2)),
//!   x' = (1 - sigma') x0_hat + sqrt(sigma'^2 - rho^2) eps_hat + rho xi.
//! With eta = 0 this is x' = x + (sigma' - sigma) v, the Euler step.
//! @pre 0 < sigma <= 1, 0 <= sigma' < sigma.
//! Evaluated without cancellation: with r = sigma' (1 - sigma) / (sigma (1 - sigma')) in [0, 1),
//! rho = eta sigma' sqrt((1 - r)(1 + r)) and sqrt(sigma'^2 - rho^2) = sigma' sqrt((1 - eta^2) + (eta r)^2),
//! so a vanishing coefficient (eta = 1 from sigma = 1) is exactly 0, not the square root of a
//! rounding error.
inline gaussian_transition ddim_step(double sigma, double sigma_next, double eta) noexcept {
  const double r = sigma_next * (1.0 - sigma) / (sigma * (1.0 - sigma_next));
  const double rho = eta * sigma_next * std::sqrt((1.0 - r) * (1.0 + r));
  const double er = eta * r;
  const double c_eps = sigma_next * std::sqrt((1.0 - eta) * (1.0 + eta) + er * er);
  gaussian_transition t;
  t.cx = (1.0 - sigma_next) + c_eps;
  t.cv = -(1.0 - sigma_next) * sigma + c_eps * (1.0 - sigma);
  t.scale = rho;
  t.std_dev = rho;
  t.sigma = sigma;
  t.sigma_next = sigma_next;
  return t;
}

//! The Philox stream of step k of a stochastic sampler's call number `stream` (< 2^32):
//! element d of sample i of that step is philox_normal{seed, stream_id(stream, k)}(i, d).
inline philox_normal step_noise(std::uint64_t seed, std::uint64_t stream, std::uint64_t k) noexcept {
  return philox_normal{seed, stream_id(static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(k))};
}

}  // namespace dnft::detail
