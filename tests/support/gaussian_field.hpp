// SPDX-License-Identifier: Apache-2.0
// A velocity field with a closed-form solution, for solver tests: Gaussian data, the exact
// flow-matching velocity and the exact ODE flow map.
//
// Data x0 ~ N(mu_c, diag(s^2)) (per-dimension mean mu_c selected by the condition c, per-dimension
// standard deviation s), noise eps ~ N(0, I), x_t = (1 - t) x0 + t eps. Per dimension x_t is
// Gaussian with mean (1 - t) mu and variance
//     var_t = (1 - t)^2 s^2 + t^2,
// and u = eps - x0 has Cov(u, x_t) = t - (1 - t) s^2, so the exact velocity is the regression
//     v(x, t) = E[u | x_t = x] = -mu + (t - (1 - t) s^2) / var_t * (x - (1 - t) mu),
// affine in x. The flow ODE dx/dt = v keeps the standardised coordinate z = (x - (1 - t) mu) /
// sqrt(var_t) constant (d sqrt(var_t)/dt = (t - (1 - t) s^2) / sqrt(var_t)), so its flow map from
// time a to time b is affine too:
//     phi_{a->b}(x) = (1 - b) mu + sqrt(var_b / var_a) (x - (1 - a) mu),
// and from t = 1 (var = 1, mean 0): phi_{1->0}(x1) = mu + s x1. tests/solvers/test_gaussian_field.cpp
// checks both against independent computations (Monte Carlo regression, RK4).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "dnft/concepts/policy.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft_test {

template <class T>
struct gaussian_field {
  using value_type = T;
  using space_type = dnft::host_space;
  using condition_type = int;

  std::vector<std::vector<double>> means;  //!< means[c][d]: the data mean of condition c
  std::vector<double> null_mean;           //!< the data mean of the null condition (-1)
  std::vector<double> stddev;              //!< s[d] > 0
  std::size_t evaluations = 0;             //!< predict() calls so far

  //! D dimensions, `conditions` conditions, means ~ N(0, 1.5^2), s ~ U(s_lo, s_hi).
  static gaussian_field make(dnft::index_t d, int conditions, std::uint64_t seed, double s_lo = 0.4, double s_hi = 1.2) {
    gaussian_field f;
    std::mt19937_64 g(seed);
    std::normal_distribution<double> n(0.0, 1.5);
    std::uniform_real_distribution<double> u(s_lo, s_hi);
    f.means.assign(std::size_t(conditions), std::vector<double>(std::size_t(d)));
    for (auto& m : f.means)
      for (auto& x : m) x = n(g);
    f.null_mean.resize(std::size_t(d));
    for (auto& x : f.null_mean) x = n(g);
    f.stddev.resize(std::size_t(d));
    for (auto& x : f.stddev) x = u(g);
    return f;
  }

  dnft::index_t dim() const { return dnft::index_t(stddev.size()); }
  int null_condition() const { return -1; }

  double mean(int c, dnft::index_t d) const {
    return c < 0 ? null_mean[std::size_t(d)] : means[std::size_t(c)][std::size_t(d)];
  }
  //! var_t of dimension d.
  double variance(double t, dnft::index_t d) const {
    const double s = stddev[std::size_t(d)];
    return (1 - t) * (1 - t) * s * s + t * t;
  }
  //! The exact velocity of dimension d.
  double velocity(double x, double t, int c, dnft::index_t d) const {
    const double mu = mean(c, d), s = stddev[std::size_t(d)];
    return -mu + (t - (1 - t) * s * s) / variance(t, d) * (x - (1 - t) * mu);
  }
  //! The exact flow map from time a to time b of dimension d.
  double flow(double x, double a, double b, int c, dnft::index_t d) const {
    const double mu = mean(c, d);
    return (1 - b) * mu + std::sqrt(variance(b, d) / variance(a, d)) * (x - (1 - a) * mu);
  }

  void predict(dnft::const_state_view_t<gaussian_field> x, dnft::time_view_t<gaussian_field> t,
               dnft::condition_span_t<gaussian_field> c, dnft::state_view_t<gaussian_field> v) {
    ++evaluations;
    for (dnft::index_t i = 0; i < x.extents[0]; ++i)
      for (dnft::index_t d = 0; d < x.extents[1]; ++d)
        v(i, d) = T(velocity(double(x(i, d)), double(t(i)), c[std::size_t(i)], d));
  }
};

}  // namespace dnft_test
