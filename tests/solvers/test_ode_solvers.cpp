// SPDX-License-Identifier: Apache-2.0
// Euler, Heun and DPM-Solver++ against naive double-precision references written from
// ALGORITHM.md section 4 (explicit lambda, exp(-h), a list of past data predictions), the
// identities DPM-Solver++(1) = DDIM(eta = 0) = Euler for flow matching, evaluation counts,
// grids that start below 1 or end above 0, float states, and tensors of other layouts.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "dnft/adapters/eigen.hpp"
#include "dnft/solvers/solvers.hpp"
#include "solvers/solver_problem.hpp"
#include "support/gaussian_field.hpp"
#include "support/grids.hpp"

using dnft_test::gaussian_field;

namespace {

using field_t = gaussian_field<double>;

//! v at every element (the field's closed form, evaluated by the test itself).
std::vector<double> vel(const field_t& f, const std::vector<double>& x, double t, const std::vector<int>& c, int D) {
  std::vector<double> v(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) v[k] = f.velocity(x[k], t, c[k / std::size_t(D)], dnft::index_t(k % std::size_t(D)));
  return v;
}

std::vector<double> ref_euler(const field_t& f, std::vector<double> x, const std::vector<int>& c, int D,
                              const std::vector<double>& g) {
  for (std::size_t k = 0; k + 1 < g.size(); ++k) {
    const auto v = vel(f, x, g[k], c, D);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] += (g[k + 1] - g[k]) * v[j];
  }
  return x;
}

std::vector<double> ref_heun(const field_t& f, std::vector<double> x, const std::vector<int>& c, int D,
                             const std::vector<double>& g) {
  for (std::size_t k = 0; k + 1 < g.size(); ++k) {
    const double dt = g[k + 1] - g[k];
    const auto v1 = vel(f, x, g[k], c, D);
    if (g[k + 1] == 0) {
      for (std::size_t j = 0; j < x.size(); ++j) x[j] += dt * v1[j];
      continue;
    }
    std::vector<double> xp(x.size());
    for (std::size_t j = 0; j < x.size(); ++j) xp[j] = x[j] + dt * v1[j];
    const auto v2 = vel(f, xp, g[k + 1], c, D);
    for (std::size_t j = 0; j < x.size(); ++j) x[j] += dt * (v1[j] + v2[j]) / 2;
  }
  return x;
}

//! DPM-Solver++ as ALGORITHM.md writes it, with lambda = log(alpha / sigma) and exp(-h).
std::vector<double> ref_dpm(const field_t& f, std::vector<double> x, const std::vector<int>& c, int D,
                            const std::vector<double>& g, int order, bool lower_order_final) {
  auto lambda = [](double s) { return std::log((1 - s) / s); };
  std::vector<std::vector<double>> m;  // data predictions of the steps so far
  const std::size_t N = g.size() - 1;
  std::size_t last_nonzero = N - 1;
  if (g.back() == 0) last_nonzero = N - 2;
  for (std::size_t k = 0; k < N; ++k) {
    const double s = g[k], sn = g[k + 1];
    const auto v = vel(f, x, s, c, D);
    std::vector<double> mk(x.size());
    for (std::size_t j = 0; j < x.size(); ++j) mk[j] = x[j] - s * v[j];
    m.push_back(mk);
    if (s == 1.0 || sn == 0.0) {  // lambda infinite: Euler
      for (std::size_t j = 0; j < x.size(); ++j) x[j] += (sn - s) * v[j];
      continue;
    }
    const double h = lambda(sn) - lambda(s);
    const double an = 1 - sn;
    const bool second = order == 2 && k >= 1 && g[k - 1] != 1.0 && !(lower_order_final && k == last_nonzero);
    for (std::size_t j = 0; j < x.size(); ++j) {
      double dpred = mk[j];
      if (second) {
        const double r0 = (lambda(s) - lambda(g[k - 1])) / h;
        dpred = (1 + 1 / (2 * r0)) * mk[j] - 1 / (2 * r0) * m[k - 1][j];
      }
      x[j] = (sn / s) * x[j] - an * (std::exp(-h) - 1) * dpred;
    }
  }
  return x;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double e = 0;
  for (std::size_t k = 0; k < a.size(); ++k) e = std::max(e, std::abs(a[k] - b[k]));
  return e;
}

std::vector<std::vector<double>> test_grids() {
  return {dnft_test::linear_grid(10), dnft_test::shifted_grid(10), dnft_test::shifted_grid(4), dnft_test::linear_grid(1),
          dnft_test::linear_grid(2), {0.8, 0.6, 0.45, 0.3, 0.2, 0.1}, {1.0, 0.7, 0.5, 0.35, 0.2},
          {0.9, 0.5, 0.25, 0.1, 0.0}};
}

template <class S>
std::vector<double> run(S s, dnft_test::solver_problem& p, const std::vector<double>& g) {
  std::vector<double> x = p.x1;
  s.sample(p.f, dnft::make_view(x.data(), {p.B, p.D}), p.c, g);
  return x;
}

}  // namespace

TEST_SUITE("solvers") {
  TEST_CASE("euler, heun and dpm_solver match naive references on many grids") {
    dnft_test::solver_problem p;
    for (const auto& g : test_grids()) {
      CAPTURE(g.size());
      CAPTURE(g.front());
      CAPTURE(g.back());
      CHECK(max_diff(run(dnft::euler_solver<>{}, p, g), ref_euler(p.f, p.x1, p.c, p.D, g)) < 1e-13);
      CHECK(max_diff(run(dnft::heun_solver<>{}, p, g), ref_heun(p.f, p.x1, p.c, p.D, g)) < 1e-13);
      for (int order : {1, 2})
        for (bool lof : {false, true}) {
          CAPTURE(order);
          CAPTURE(lof);
          CHECK(max_diff(run(dnft::dpm_solver<>{.order = order, .lower_order_final = lof}, p, g),
                         ref_dpm(p.f, p.x1, p.c, p.D, g, order, lof)) < 1e-12);
        }
    }
  }

  TEST_CASE("for flow matching DPM-Solver++(1) and DDIM with eta = 0 are the Euler step") {
    // (1 - s') (x - s v) + s' (x + (1 - s) v) = x + (s' - s) v, and
    // (s'/s) x - a' (e^{-h} - 1)(x - s v) with e^{-h} = s' a / (s a') gives the same.
    dnft_test::solver_problem p;
    for (const auto& g : test_grids()) {
      const auto e = run(dnft::euler_solver<>{}, p, g);
      CHECK(max_diff(run(dnft::dpm_solver<>{.order = 1}, p, g), e) < 1e-13);
      CHECK(max_diff(run(dnft::ddim_solver<>{.eta = 0.0}, p, g), e) < 1e-13);
    }
  }

  TEST_CASE("field evaluations per call: Euler N, Heun 2N (2N - 1 into sigma = 0), DPM N") {
    dnft_test::solver_problem p;
    auto count = [&](auto s, const std::vector<double>& g) {
      p.f.evaluations = 0;
      run(s, p, g);
      return p.f.evaluations;
    };
    const auto g0 = dnft_test::linear_grid(10);
    const std::vector<double> g1{1.0, 0.75, 0.5, 0.25};
    CHECK(count(dnft::euler_solver<>{}, g0) == 10);
    CHECK(count(dnft::heun_solver<>{}, g0) == 19);
    CHECK(count(dnft::heun_solver<>{}, g1) == 6);
    CHECK(count(dnft::dpm_solver<>{}, g0) == 10);
    CHECK(count(dnft::flow_sde_solver<>{}, g0) == 10);
    CHECK(count(dnft::ddim_solver<>{}, g0) == 10);
  }

  TEST_CASE_TEMPLATE("float states follow the double solution to float accuracy", T, float, double) {
    dnft_test::solver_problem p;
    auto ff = gaussian_field<T>::make(p.D, 3, 1);  // same means and scales as p.f
    const auto g = dnft_test::shifted_grid(10);
    std::vector<T> x(p.x1.begin(), p.x1.end());
    auto check = [&](auto solver) {
      std::vector<T> xs = x;
      solver.sample(ff, dnft::make_view(xs.data(), {p.B, p.D}), p.c, g);
      std::vector<double> xd = p.x1;
      solver.sample(p.f, dnft::make_view(xd.data(), {p.B, p.D}), p.c, g);
      double e = 0;
      for (std::size_t k = 0; k < xd.size(); ++k) e = std::max(e, std::abs(double(xs[k]) - xd[k]));
      CHECK(e < (std::is_same_v<T, float> ? 2e-5 : 1e-14));
    };
    check(dnft::euler_solver<>{});
    check(dnft::heun_solver<>{});
    check(dnft::dpm_solver<>{});
  }

  TEST_CASE("states of other layouts: strided rows, column-major Eigen, (B, 2, 3) tensors") {
    dnft_test::solver_problem p;
    const auto g = dnft_test::shifted_grid(8);
    const auto expect = run(dnft::dpm_solver<>{}, p, g);
    // rows with padding: (4, 6) inside a (4, 10) buffer
    std::vector<double> padded(4 * 10, -7.0);
    for (int i = 0; i < 4; ++i)
      for (int d = 0; d < 6; ++d) padded[std::size_t(i * 10 + d)] = p.x1[std::size_t(i * 6 + d)];
    dnft::dpm_solver<>{}.sample(p.f, dnft::make_view(padded.data(), {4, 6}, {10, 1}), p.c, g);
    // column-major Eigen: element stride 4
    Eigen::MatrixXd m(4, 6);
    for (int i = 0; i < 4; ++i)
      for (int d = 0; d < 6; ++d) m(i, d) = p.x1[std::size_t(i * 6 + d)];
    dnft::dpm_solver<>{}.sample(p.f, m, p.c, g);
    // rank 3
    std::vector<double> r3 = p.x1;
    dnft::dpm_solver<>{}.sample(p.f, dnft::make_view(r3.data(), {4, 2, 3}), p.c, g);
    double e = 0;
    for (int i = 0; i < 4; ++i)
      for (int d = 0; d < 6; ++d) {
        const double want = expect[std::size_t(i * 6 + d)];
        e = std::max({e, std::abs(padded[std::size_t(i * 10 + d)] - want), std::abs(m(i, d) - want),
                      std::abs(r3[std::size_t(i * 6 + d)] - want)});
      }
    CHECK(e == 0.0);
    for (int i = 0; i < 4; ++i)
      for (int d = 6; d < 10; ++d) CHECK(padded[std::size_t(i * 10 + d)] == -7.0);  // padding untouched
  }
}
