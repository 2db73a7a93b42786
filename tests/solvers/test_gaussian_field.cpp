// SPDX-License-Identifier: Apache-2.0
// The closed forms of tests/support/gaussian_field.hpp against independent computations: the
// velocity against a Monte Carlo regression of eps - x0 on x_t, the flow map against RK4.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "support/gaussian_field.hpp"

using dnft_test::gaussian_field;

TEST_SUITE("solvers") {
  TEST_CASE("gaussian_field: the velocity is E[eps - x0 | x_t] (Monte Carlo regression)") {
    const auto f = gaussian_field<double>::make(3, 2, 11);
    std::mt19937_64 g(5);
    std::normal_distribution<double> n(0.0, 1.0);
    const int samples = 200000;
    for (double t : {0.05, 0.4, 0.9})
      for (int c : {1, -1})
        for (dnft::index_t d = 0; d < 3; ++d) {
          // least-squares fit u = a x_t + b over samples of (x0, eps)
          double sx = 0, su = 0, sxx = 0, sxu = 0;
          for (int k = 0; k < samples; ++k) {
            const double x0 = f.mean(c, d) + f.stddev[std::size_t(d)] * n(g), eps = n(g);
            const double xt = (1 - t) * x0 + t * eps, u = eps - x0;
            sx += xt;
            su += u;
            sxx += xt * xt;
            sxu += xt * u;
          }
          const double m = samples, cov = sxu / m - sx / m * su / m, var = sxx / m - sx / m * sx / m;
          const double slope = cov / var;
          // the closed form's slope, and its value at the sample mean of x_t against the
          // sample mean of u (the regression line passes through the means)
          const double a = f.velocity(1.0, t, c, d) - f.velocity(0.0, t, c, d);
          CAPTURE(t);
          CAPTURE(c);
          CAPTURE(d);
          // standard errors with 2e5 samples: slope below 0.008, mean below 0.003 here
          CHECK(std::abs(slope - a) < 0.03);
          CHECK(std::abs(su / m - f.velocity(sx / m, t, c, d)) < 0.012);
        }
  }

  TEST_CASE("gaussian_field: the flow map solves dx/dt = v (RK4 with 4000 steps)") {
    const auto f = gaussian_field<double>::make(4, 2, 3);
    for (auto [a, b] : {std::pair{1.0, 0.0}, std::pair{0.8, 0.3}, std::pair{0.5, 0.0}})
      for (int c : {0, 1, -1})
        for (dnft::index_t d = 0; d < 4; ++d)
          for (double x0 : {-2.0, 0.3, 1.7}) {
            const int steps = 4000;
            const double h = (b - a) / steps;
            double x = x0, t = a;
            for (int k = 0; k < steps; ++k) {
              const double k1 = f.velocity(x, t, c, d);
              const double k2 = f.velocity(x + 0.5 * h * k1, t + 0.5 * h, c, d);
              const double k3 = f.velocity(x + 0.5 * h * k2, t + 0.5 * h, c, d);
              const double k4 = f.velocity(x + h * k3, t + h, c, d);
              x += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
              t = a + (k + 1) * h;
            }
            CHECK(x == doctest::Approx(f.flow(x0, a, b, c, d)).epsilon(1e-10));
          }
  }

  TEST_CASE("gaussian_field: the flow from t = 1 maps N(0, 1) onto the data distribution N(mu, s^2)") {
    const auto f = gaussian_field<double>::make(3, 1, 8);
    for (dnft::index_t d = 0; d < 3; ++d) {
      // affine: phi(x1) = mu + s x1
      CHECK(f.flow(0.0, 1.0, 0.0, 0, d) == doctest::Approx(f.mean(0, d)).epsilon(1e-14));
      CHECK(f.flow(1.0, 1.0, 0.0, 0, d) - f.flow(0.0, 1.0, 0.0, 0, d) ==
            doctest::Approx(f.stddev[std::size_t(d)]).epsilon(1e-14));
    }
  }
}
