// SPDX-License-Identifier: Apache-2.0
// guided_field: classifier-free guidance against a hand computation, its special scales, use
// inside a solver, and its errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "dnft/solvers/solvers.hpp"
#include "solvers/solver_problem.hpp"
#include "support/expect_error.hpp"
#include "support/gaussian_field.hpp"
#include "support/grids.hpp"

using dnft_test::contains;
using dnft_test::gaussian_field;
using dnft_test::message_of;

static_assert(dnft::velocity_field<dnft::guided_field<gaussian_field<float>>>);
static_assert(dnft::guidable_field<dnft::guided_field<gaussian_field<double>>>);
static_assert(dnft::solver<dnft::dpm_solver<>, dnft::guided_field<gaussian_field<double>>>);

TEST_SUITE("solvers") {
  TEST_CASE_TEMPLATE("guided_field: v = v_u + w (v_c - v_u) with v_u at the null condition", T, float, double) {
    auto f = gaussian_field<T>::make(5, 3, 12);
    const int B = 4, D = 5;
    const std::vector<double> xd = dnft_test::normal_data(20, 3);
    const std::vector<T> x(xd.begin(), xd.end());
    const std::vector<T> t{T(0.9), T(0.5), T(0.1), T(0.5)};
    const std::vector<int> c{2, 0, 1, 0};
    for (double w : {4.5, 1.0, 0.0, -1.0, 7.25}) {
      dnft::guided_field guided(f, w);
      std::vector<T> v(20);
      f.evaluations = 0;
      guided.predict(dnft::make_view(x.data(), {B, D}), dnft::make_view(t.data(), {B}), c, dnft::make_view(v.data(), {B, D}));
      CHECK(f.evaluations == (w == 1.0 ? 1u : 2u));
      for (int i = 0; i < B; ++i)
        for (int d = 0; d < D; ++d) {
          const double xi = double(x[std::size_t(i * D + d)]), ti = double(t[std::size_t(i)]);
          const double vc = f.velocity(xi, ti, c[std::size_t(i)], d), vu = f.velocity(xi, ti, -1, d);
          const double want = vu + w * (vc - vu);
          CAPTURE(w);
          CHECK(double(v[std::size_t(i * D + d)]) ==
                doctest::Approx(want).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-13).scale(1));
        }
    }
  }

  TEST_CASE("guided_field with w = 1 is the field itself, bit for bit") {
    dnft_test::solver_problem p;
    const auto g = dnft_test::shifted_grid(10);
    std::vector<double> x = p.x1, y = p.x1;
    dnft::guided_field guided(p.f, 1.0);
    dnft::dpm_solver<>{}.sample(guided, dnft::make_view(x.data(), {p.B, p.D}), p.c, g);
    dnft::dpm_solver<>{}.sample(p.f, dnft::make_view(y.data(), {p.B, p.D}), p.c, g);
    CHECK(x == y);
  }

  TEST_CASE("guided sampling: Euler on the guided field against a hand-written guided Euler loop") {
    dnft_test::solver_problem p;
    const auto g = dnft_test::linear_grid(12);
    const double w = 3.0;
    std::vector<double> x = p.x1, y = p.x1;
    dnft::guided_field guided(p.f, w);
    dnft::euler_solver<>{}.sample(guided, dnft::make_view(x.data(), {p.B, p.D}), p.c, g);
    for (std::size_t k = 0; k + 1 < g.size(); ++k)
      for (int i = 0; i < p.B; ++i)
        for (int d = 0; d < p.D; ++d) {
          double& yi = y[std::size_t(i * p.D + d)];
          const double vc = p.f.velocity(yi, g[k], p.c[std::size_t(i)], d), vu = p.f.velocity(yi, g[k], -1, d);
          yi += (g[k + 1] - g[k]) * (vu + w * (vc - vu));
        }
    for (std::size_t k = 0; k < x.size(); ++k) CHECK(x[k] == doctest::Approx(y[k]).epsilon(1e-12));
  }

  TEST_CASE("guided_field: errors") {
    auto f = gaussian_field<double>::make(5, 2, 1);
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::guided_field gf(f, std::nan("")); }),
                   "dnft::guided_field: scale: expected a finite value, got nan"));
    dnft::guided_field gf(f, 2.0);
    CHECK(contains(message_of<dnft::value_error>([&] { gf.set_scale(std::numeric_limits<double>::infinity()); }), "dnft::guided_field: scale"));
    std::vector<double> x(12), v(12), v_bad(15), t{0.5, 0.5}, t_bad{0.5};
    std::vector<int> c{0, 1}, c_bad{0};
    auto X = [](std::vector<double>& a, int b, int d) {
      return dnft::make_view(static_cast<const double*>(a.data()), {b, d});
    };
    auto V = [](std::vector<double>& a, int b, int d) { return dnft::make_view(a.data(), {b, d}); };
    auto T = [](std::vector<double>& a) { return dnft::make_view(static_cast<const double*>(a.data()), {dnft::index_t(a.size())}); };
    CHECK(contains(message_of<dnft::shape_error>([&] { gf.predict(X(x, 2, 6), T(t), c, V(v, 2, 6)); }),
                   "dnft::guided_field: x: expected 5 elements per sample (the field's dim()), got 6"));
    CHECK(contains(message_of<dnft::shape_error>([&] { gf.predict(X(x, 2, 5), T(t), c, V(v_bad, 3, 5)); }),
                   "dnft::guided_field: v: expected the shape of x (2, 5)"));
    CHECK(contains(message_of<dnft::shape_error>([&] { gf.predict(X(x, 2, 5), T(t_bad), c, V(v, 2, 5)); }),
                   "dnft::guided_field: t: expected one time per sample (2), got 1"));
    CHECK(contains(message_of<dnft::shape_error>([&] { gf.predict(X(x, 2, 5), T(t), c_bad, V(v, 2, 5)); }),
                   "dnft::guided_field: c: expected one condition per sample (2), got 1"));
  }
}
