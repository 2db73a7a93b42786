// SPDX-License-Identifier: Apache-2.0
// Independent transcriptions of the stochastic steps of ALGORITHM.md section 4, for tests:
// the mean and standard deviation of x' given (x, v), and the log-density of FlowGRPO.
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

namespace dnft_test {

//! mean(x, v) and sd of one stochastic step.
struct step_reference {
  double s, sn, sd;
  bool ddim;
  double a_or_eta;
  double mean(double x, double v) const {
    if (!ddim) {
      const double dt = sn - s;
      const double std_dev = sd / std::sqrt(-dt);
      return x * (1 + std_dev * std_dev / (2 * s) * dt) + v * (1 + std_dev * std_dev * (1 - s) / (2 * s)) * dt;
    }
    const double x0_hat = x - s * v, eps_hat = x + (1 - s) * v;
    // sqrt(sn^2 - sd^2), written so that sd = sn gives exactly 0 also with fused multiply-adds
    return (1 - sn) * x0_hat + std::sqrt(std::max(0.0, (sn - sd) * (sn + sd))) * eps_hat;
  }
};

//! FlowGRPO's flow-SDE step k on grid g with noise level a.
inline step_reference flow_sde_reference(const std::vector<double>& g, std::size_t k, double a) {
  const double s = g[k], sn = g[k + 1];
  const double sigma_tilde = s == 1.0 ? g[1] : s;
  const double std_dev = a * std::sqrt(s / (1 - sigma_tilde));
  return {s, sn, std_dev * std::sqrt(s - sn), false, a};
}

//! The DDIM step k on grid g with noise eta.
inline step_reference ddim_reference(const std::vector<double>& g, std::size_t k, double eta) {
  const double s = g[k], sn = g[k + 1];
  const double rho = eta * sn * std::sqrt(1 - sn * sn * (1 - s) * (1 - s) / (s * s * (1 - sn) * (1 - sn)));
  return {s, sn, rho, true, eta};
}

//! log N(y; m, sd^2).
inline double normal_log_density(double y, double m, double sd) {
  return -0.5 * std::log(2 * std::numbers::pi * sd * sd) - (y - m) * (y - m) / (2 * sd * sd);
}

}  // namespace dnft_test
