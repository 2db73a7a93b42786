// SPDX-License-Identifier: Apache-2.0
// Empirical convergence orders of the ODE solvers on the Gaussian problem with its exact flow
// map: on a linear grid, on the SD3 shifted grid and on a grid uniform in lambda = log(alpha/sigma).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "dnft/solvers/solvers.hpp"
#include "solvers/solver_problem.hpp"
#include "support/grids.hpp"

using dnft_test::linear_grid;
using dnft_test::shifted_grid;

namespace {

//! N steps uniform in lambda = log((1 - sigma) / sigma) between sigma = a and sigma = b.
std::vector<double> lambda_grid(int n, double a, double b) {
  auto lam = [](double s) { return std::log((1 - s) / s); };
  std::vector<double> g(std::size_t(n) + 1);
  for (int k = 0; k <= n; ++k) g[std::size_t(k)] = 1 / (1 + std::exp(lam(a) + (lam(b) - lam(a)) * k / n));
  g.front() = a;
  g.back() = b;
  return g;
}

struct table {
  std::vector<int> steps;
  std::vector<std::string> names;
  std::vector<std::vector<double>> err;  // err[solver][n]

  double order(std::size_t s, std::size_t n) const { return std::log2(err[s][n] / err[s][n + 1]); }

  std::string text(const char* title) const {
    std::string out = std::string(title) + "\n     N";
    char buf[64];
    for (auto& n : names) {
      std::snprintf(buf, sizeof buf, " %15s", n.c_str());
      out += buf;
    }
    out += "\n";
    for (std::size_t n = 0; n < steps.size(); ++n) {
      std::snprintf(buf, sizeof buf, "%6d", steps[n]);
      out += buf;
      for (std::size_t s = 0; s < names.size(); ++s) {
        if (n == 0)
          std::snprintf(buf, sizeof buf, " %9.3e      ", err[s][n]);
        else
          std::snprintf(buf, sizeof buf, " %9.3e (%4.2f)", err[s][n], order(s, n - 1));
        out += buf;
      }
      out += "\n";
    }
    return out + "(max error; in brackets log2 of the error ratio to the previous N: the order)";
  }
};

template <class MakeGrid>
table measure(MakeGrid grid, std::vector<int> steps) {
  dnft_test::solver_problem p;
  table t;
  t.steps = steps;
  t.names = {"euler", "heun", "dpm++1", "dpm++2m", "dpm++2m lof", "ddim eta=0"};
  t.err.assign(t.names.size(), {});
  for (int n : steps) {
    const auto g = grid(n);
    t.err[0].push_back(p.error(dnft::euler_solver<>{}, g));
    t.err[1].push_back(p.error(dnft::heun_solver<>{}, g));
    t.err[2].push_back(p.error(dnft::dpm_solver<>{.order = 1}, g));
    t.err[3].push_back(p.error(dnft::dpm_solver<>{.order = 2, .lower_order_final = false}, g));
    t.err[4].push_back(p.error(dnft::dpm_solver<>{.order = 2, .lower_order_final = true}, g));
    t.err[5].push_back(p.error(dnft::ddim_solver<>{.eta = 0.0}, g));
  }
  return t;
}

}  // namespace

TEST_SUITE("solvers") {
  TEST_CASE("convergence on a grid uniform in lambda (sigma 0.95 -> 0.05): orders 1, 2, 1, 2") {
    const auto t = measure([](int n) { return lambda_grid(n, 0.95, 0.05); }, {10, 20, 40, 80, 160, 320});
    MESSAGE(t.text("lambda-uniform grid, 0.95 -> 0.05"));
    for (std::size_t n = 2; n + 1 < t.steps.size(); ++n) {
      CHECK(t.order(0, n) == doctest::Approx(1.0).epsilon(0.05));  // euler
      CHECK(t.order(1, n) == doctest::Approx(2.0).epsilon(0.05));  // heun
      CHECK(t.order(2, n) == doctest::Approx(1.0).epsilon(0.05));  // dpm++1
      CHECK(t.order(3, n) == doctest::Approx(2.0).epsilon(0.05));  // dpm++2m
      CHECK(t.order(4, n) == doctest::Approx(2.0).epsilon(0.05));  // dpm++2m, lower order final
    }
  }

  TEST_CASE("convergence on the linear grid 1 -> 0") {
    const auto t = measure(linear_grid, {10, 20, 40, 80, 160, 320, 640});
    MESSAGE(t.text("linear grid"));
    for (std::size_t n = 2; n + 1 < t.steps.size(); ++n) {
      CHECK(t.order(0, n) == doctest::Approx(1.0).epsilon(0.05));
      CHECK(t.order(1, n) == doctest::Approx(2.0).epsilon(0.05));
      CHECK(t.order(2, n) == doctest::Approx(1.0).epsilon(0.05));
    }
    // DPM-Solver++(2M): the first steps after sigma = 1 and the last ones before 0 are O(1) steps
    // in lambda whatever N, so the order approaches 2 only slowly (measured 1.73, 1.78, 1.81
    // from N = 80 on; 1.43, 1.62, 1.71 with the lower-order final step).
    for (std::size_t n = 3; n + 1 < t.steps.size(); ++n) {
      CHECK(t.order(3, n) > 1.65);
      CHECK(t.order(3, n) < 2.05);
      CHECK(t.order(4, n) > 1.35);
      CHECK(t.order(4, n) < 2.05);
    }
    const std::size_t last = t.steps.size() - 2;
    CHECK(t.order(3, last) > t.order(3, 3));  // still rising towards 2
    CHECK(t.order(4, last) > t.order(4, 3));
  }

  TEST_CASE("convergence on the SD3 shifted grid: the fixed last step from sigma_min sets a floor") {
    const auto t = measure([](int n) { return shifted_grid(n); }, {10, 20, 40, 80, 160, 320, 640});
    MESSAGE(t.text("shifted grid (shift 3)"));
    // The last nonzero time is sigma_min = 0.0089 for every N, and every solver takes the step
    // sigma_min -> 0 as one Euler step, so the error cannot fall below that step's own error:
    dnft_test::solver_problem p;
    const double smin = shifted_grid(10)[9];
    double floor_err = 0;
    for (int i = 0; i < p.B; ++i)
      for (int d = 0; d < p.D; ++d) {
        const int c = p.c[std::size_t(i)];
        const double x1 = p.x1[std::size_t(i * p.D + d)];
        const double xs = p.f.flow(x1, 1.0, smin, c, d);  // exact state at sigma_min
        const double euler = xs - smin * p.f.velocity(xs, smin, c, d);
        floor_err = std::max(floor_err, std::abs(euler - p.f.flow(x1, 1.0, 0.0, c, d)));
      }
    MESSAGE("error of one exact-start Euler step sigma_min -> 0: " << floor_err);
    // Euler and DPM++1 keep order 1 (the floor is far below their error) ...
    for (std::size_t n = 2; n + 1 < t.steps.size(); ++n) {
      CHECK(t.order(0, n) == doctest::Approx(1.0).epsilon(0.06));
      CHECK(t.order(2, n) == doctest::Approx(1.0).epsilon(0.06));
    }
    // ... Heun is second order until it meets the floor, where it stays.
    CHECK(t.order(1, 1) == doctest::Approx(2.0).epsilon(0.12));
    CHECK(t.order(1, 2) == doctest::Approx(2.0).epsilon(0.12));
    CHECK(t.err[1].back() == doctest::Approx(floor_err).epsilon(0.1));
    // DPM-Solver++(2M): the step into sigma_min extrapolates with a small r0 (0.22 at N = 10) and
    // is worse than Euler at N = 10; the lower-order final step repairs most of it.
    CHECK(t.err[3][0] > t.err[0][0]);
    CHECK(t.err[4][0] < 0.6 * t.err[0][0]);
    for (std::size_t n = 0; n < t.steps.size() - 1; ++n) CHECK(t.err[4][n] < t.err[3][n]);
  }
}
