// SPDX-License-Identifier: Apache-2.0
// dnft: deterministic time grids for sampling and training: the SD3 shifted sigma grid and a
// linear grid, both decreasing from 1 (noise) to 0 (data).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "dnft/config.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/error.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The SD3 time shift: sigma = shift s / (1 + (shift - 1) s). It maps [0, 1] onto
//! itself, fixes 0 and 1, and for shift > 1 moves every interior time towards the noise end.
DNFT_HOST_DEVICE constexpr double shift_sigma(double s, double shift) noexcept {
  return shift * s / (1.0 + (shift - 1.0) * s);
}

//! @brief The SD3 "shifted" sigma grid of ALGORITHM.md section 1, as diffusers'
//! FlowMatchEulerDiscreteScheduler builds it: `steps` values
//!     s_k = linspace(1, sigma_min, steps)[k],   sigma_k = shift_sigma(s_k, shift),
//! where sigma_min = shift_sigma(1 / train_steps, shift) is the smallest training sigma, then a
//! final 0. So the grid has steps + 1 values, strictly decreasing from 1 to 0; for steps = 10 and
//! shift 3: 1, .9601, .9133, .8577, .7904, .7073, .6022, .4649, .2780, .0089, 0.
//! @param steps        number of solver steps N >= 1
//! @param shift        the shift (> 0; 3 for SD3; 1 gives a linear grid from 1 to 1/train_steps)
//! @param train_steps  the number of discrete training timesteps (1000 for SD3), >= 2
//! @throws value_error for arguments out of range
inline std::vector<double> shifted_sigma_grid(index_t steps, double shift = 3.0, index_t train_steps = 1000) {
  constexpr const char* fn = "shifted_sigma_grid";
  if (steps < 1) detail::fail<value_error>(fn, "steps", "expected at least 1 step, got " + std::to_string(steps));
  if (!(shift > 0) || !detail::isfinite(shift))
    detail::fail<value_error>(fn, "shift", "expected a finite value > 0, got " + detail::num(shift));
  if (train_steps < 2)
    detail::fail<value_error>(fn, "train_steps", "expected at least 2, got " + std::to_string(train_steps));
  const double n_train = double(train_steps);
  const double sigma_min = shift_sigma(1.0 / n_train, shift);
  // numpy.linspace(n_train * 1, n_train * sigma_min, steps) / n_train, as diffusers computes it.
  const double start = n_train, stop = n_train * sigma_min;
  std::vector<double> grid(static_cast<std::size_t>(steps) + 1);
  const double step = steps > 1 ? (stop - start) / double(steps - 1) : 0.0;
  for (index_t k = 0; k < steps; ++k) {
    const double tk = (steps > 1 && k == steps - 1) ? stop : double(k) * step + start;
    grid[std::size_t(k)] = shift_sigma(tk / n_train, shift);
  }
  grid.back() = 0.0;
  return grid;
}

//! @brief The linear grid 1, 1 - 1/N, ..., 1/N, 0 (N + 1 values).
//! @throws value_error for steps < 1
inline std::vector<double> linear_grid(index_t steps) {
  if (steps < 1)
    detail::fail<value_error>("linear_grid", "steps", "expected at least 1 step, got " + std::to_string(steps));
  std::vector<double> grid(static_cast<std::size_t>(steps) + 1);
  for (index_t k = 0; k <= steps; ++k) grid[std::size_t(k)] = double(steps - k) / double(steps);
  return grid;
}

}  // namespace dnft
