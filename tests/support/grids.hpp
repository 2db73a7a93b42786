// SPDX-License-Identifier: Apache-2.0
// Time grids for solver tests (ALGORITHM.md section 1), written here from the formulas rather
// than taken from dnft/schedule/time_grid.hpp, so the solver tests do not rest on the code
// tests/schedule checks.
#pragma once

#include <vector>

namespace dnft_test {

//! N steps on a linear grid: 1, 1 - 1/N, ..., 0.
inline std::vector<double> linear_grid(int n) {
  std::vector<double> g(std::size_t(n) + 1);
  for (int k = 0; k <= n; ++k) g[std::size_t(k)] = 1.0 - double(k) / double(n);
  g.back() = 0.0;
  return g;
}

//! The SD3 shifted grid with N steps: s_k = linspace(1, s_min, N)[k],
//! sigma_k = shift s_k / (1 + (shift - 1) s_k), plus a final 0, with s_min the shifted 1/1000.
inline std::vector<double> shifted_grid(int n, double shift = 3.0) {
  auto sh = [&](double s) { return shift * s / (1.0 + (shift - 1.0) * s); };
  const double s_min = sh(1.0 / 1000.0);
  std::vector<double> g(std::size_t(n) + 1);
  for (int k = 0; k < n; ++k) {
    const double s = n == 1 ? 1.0 : 1.0 + (s_min - 1.0) * double(k) / double(n - 1);
    g[std::size_t(k)] = sh(s);
  }
  g.back() = 0.0;
  return g;
}

}  // namespace dnft_test
