// SPDX-License-Identifier: Apache-2.0
// dnft: one Gaussian transition x' = cx x + cv v + scale xi of a stochastic sampler (flow SDE,
// DDIM with eta > 0) and its log-density, per element and per sample. The one place these
// formulas are written: host/sde_step.hpp and the CUDA kernels both call them.
#pragma once
// IWYU pragma: private

#include <cmath>
#include <cstdint>

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief One step of a stochastic sampler as a Gaussian transition kernel:
//! x' ~ N(mean, scale^2 I) with mean = cx * x + cv * v, where v is the velocity at x.
//!
//! The flow SDE and the DDIM step with eta are of this form (see flow_sde_transition and
//! ddim_transition); FlowGRPO needs exactly this to recompute log p_theta(x' | x) from a stored
//! trajectory with a new velocity. `scale = 0` is a deterministic step: its log-probability is
//! defined as 0 (a point mass), and so is its gradient.
struct gaussian_transition {
  double cx = 1.0;       //!< coefficient of the state in the mean
  double cv = 0.0;       //!< coefficient of the velocity in the mean
  double scale = 0.0;    //!< standard deviation of x' given x (>= 0)
  double std_dev = 0.0;  //!< the sampler's own noise level of this step: FlowGRPO's std_dev_t
                         //!< (flow SDE: a sqrt(sigma / (1 - sigma~)), so scale = std_dev sqrt(-dt);
                         //!< DDIM: rho, equal to scale). FlowGRPO's KL term is
                         //!< mean_d (mu_theta - mu_ref)^2 / (2 std_dev^2), where
                         //!< mu_theta - mu_ref = cv (v_theta - v_ref).
  double sigma = 1.0;       //!< the time of x
  double sigma_next = 0.0;  //!< the time of x'
};

}  // namespace dnft

namespace dnft::detail {

//! log(sqrt(2 pi)).
inline constexpr double log_sqrt_2pi = 0.91893853320467274178;

//! One element of a sampling step: writes x' = T(mean + scale * xi) and returns the squared
//! deviation (x' - mean)^2 of the stored (rounded) x' from the mean, in double.
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE double sde_step_element(double cx, double cv, double scale, T x, T v, double xi,
                                                          T& x_next) noexcept {
  const double mean = cx * double(x) + cv * double(v);
  const T xn = static_cast<T>(mean + scale * xi);
  x_next = xn;
  const double dev = double(xn) - mean;
  return dev * dev;
}

//! The deviation x' - mean of one element of a given transition (the same arithmetic as
//! sde_step_element, so a recomputation under the sampling velocity reproduces it, up to
//! multiply-add contraction).
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE double transition_deviation(double cx, double cv, T x, T v, T x_next) noexcept {
  const double mean = cx * double(x) + cv * double(v);
  return double(x_next) - mean;
}

//! The per-sample log-probability of FlowGRPO: the mean over the D elements of the per-element
//! Gaussian log-density, from the sum of squared deviations. 0 for a deterministic step.
DNFT_HOST_DEVICE inline double gaussian_log_prob(double sum_sq, double d, double scale) noexcept {
  if (!(scale > 0.0)) return 0.0;
  return -sum_sq / (2.0 * scale * scale * d) - ::log(scale) - log_sqrt_2pi;
}

//! d logp / d v of one element: cv (x' - mean) / (D scale^2); 0 for a deterministic step.
DNFT_HOST_DEVICE inline double gaussian_log_prob_grad(double dev, double cv, double d, double scale) noexcept {
  if (!(scale > 0.0)) return 0.0;
  return cv * dev / (d * scale * scale);
}

//! The arguments of sde_step as a backend receives them. x_next may be x itself.
//! `LogP` is vector_view<L, Space> or no_log_prob.
template <class T, class Space, class LogP>
struct sde_step_args {
  batch_view<const T, Space> x, v;
  batch_view<T, Space> x_next;
  philox_normal noise;
  LogP log_prob;
  double cx = 1, cv = 0, scale = 0;
};

//! The arguments of transition_log_prob. `Grad` is batch_view<T, Space> or no_grad.
template <class T, class Space, class LogP, class Grad>
struct transition_log_prob_args {
  batch_view<const T, Space> x, x_next, v;
  LogP log_prob;
  Grad grad;
  double cx = 1, cv = 0, scale = 0;
};

//! "This optional output was not requested" inside the argument structs.
struct no_output {};

}  // namespace dnft::detail

namespace dnft {

//! @brief The backend of sde_step and transition_log_prob for executor type `Exec`: specialised
//! in host/sde_step.hpp (host_executor) and by the CUDA backend.
//! @par Customization
//! `static index_t step(const Exec&, const detail::sde_step_args<...>&)` and
//! `static index_t log_prob(const Exec&, const detail::transition_log_prob_args<...>&)`; each
//! returns the first sample whose squared deviations did not sum to a finite value, or -1.
template <class Exec>
struct sde_step_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::sde_step: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft
