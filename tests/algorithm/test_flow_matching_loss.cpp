// SPDX-License-Identifier: Apache-2.0
// flow_matching_loss against a naive double reference (explicit x_t and u), central finite
// differences of its gradient, float against double, thread counts, Philox noise and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/algorithm/flow_matching_loss.hpp"
#include "support/expect_error.hpp"
#include "support/random_data.hpp"

using dnft_test::cast;
using dnft_test::contains;
using dnft_test::message_of;

namespace {

const dnft::time_weighting all_weightings[] = {dnft::time_weighting::uniform, dnft::time_weighting::time,
                                               dnft::time_weighting::one_minus_time, dnft::time_weighting::cosmap,
                                               dnft::time_weighting::sigma_sqrt};

double ref_weight(double t, dnft::time_weighting w) {
  switch (w) {
    case dnft::time_weighting::time:
      return t;
    case dnft::time_weighting::one_minus_time:
      return 1 - t;
    case dnft::time_weighting::cosmap:
      return 2 / (std::numbers::pi * (1 - 2 * t + 2 * t * t));
    case dnft::time_weighting::sigma_sqrt:
      return 1 / (t * t);
    default:
      return 1;
  }
}

//! mean_i w(t_i) mean_d (v - u)^2 written from the definition (x_t formed, u = (x_t - x0) / t
//! avoided: u = eps - x0 directly).
double ref_loss(int B, int D, const std::vector<double>& x0, const std::vector<double>& eps,
                const std::vector<double>& t, const std::vector<double>& v, dnft::time_weighting w,
                double* mse = nullptr) {
  double loss = 0, m = 0;
  for (int i = 0; i < B; ++i) {
    double s = 0;
    for (int d = 0; d < D; ++d) {
      const std::size_t k = std::size_t(i * D + d);
      const double u = eps[k] - x0[k];
      s += (v[k] - u) * (v[k] - u);
    }
    loss += ref_weight(t[std::size_t(i)], w) * s / D;
    m += s / D;
  }
  if (mse) *mse = m / B;
  return loss / B;
}

struct problem {
  int B, D;
  std::vector<double> x0, eps, t, v;
  problem(int b, int d, std::uint64_t seed) : B(b), D(d) {
    const auto n = std::size_t(b * d);
    x0 = dnft_test::normal_data(n, seed + 1);
    eps = dnft_test::normal_data(n, seed + 2);
    t = dnft_test::uniform_data(std::size_t(b), seed + 3, 0.05, 1.0);
    v = dnft_test::normal_data(n, seed + 4, 0.5);
    for (std::size_t k = 0; k < n; ++k) v[k] += eps[k] - x0[k];
    t[0] = 1.0;
  }
};

}  // namespace

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("flow_matching_loss matches the naive double reference for every weighting", T, float, double) {
    const problem pr(11, 1500, 100);
    auto x0 = cast<T>(pr.x0), eps = cast<T>(pr.eps), v = cast<T>(pr.v);
    const auto rx0 = dnft_test::rounded<T>(pr.x0), reps = dnft_test::rounded<T>(pr.eps),
               rv = dnft_test::rounded<T>(pr.v);
    auto view = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
    for (auto w : all_weightings) {
      CAPTURE(int(w));
      std::vector<T> g(x0.size());
      const auto st = dnft::flow_matching_loss(dnft::host, view(x0), view(eps), pr.t, view(v), view(g), {w});
      double mse = 0;
      const double ref = ref_loss(pr.B, pr.D, rx0, reps, pr.t, rv, w, &mse);
      CHECK(st.loss == doctest::Approx(ref).epsilon(tol));
      CHECK(st.mse == doctest::Approx(mse).epsilon(tol));
      double mw = 0;
      for (double ti : pr.t) mw += ref_weight(ti, w);
      CHECK(st.mean_weight == doctest::Approx(mw / pr.B).epsilon(1e-14));
      CHECK(st.batch == pr.B);
      CHECK(st.elements == pr.D);
      // gradient 2 w (v - u) / (B D), elementwise
      for (int i = 0; i < pr.B; ++i)
        for (int d = 0; d < pr.D; ++d) {
          const std::size_t k = std::size_t(i * pr.D + d);
          const double coef = 2 * ref_weight(pr.t[std::size_t(i)], w) / (pr.B * pr.D);
          const double expect = coef * (rv[k] - (reps[k] - rx0[k]));
          // T rounding of the three-term residual: a few ulps of its largest term.
          const double ulp = std::is_same_v<T, float> ? 6e-8 : 1.2e-16;
          REQUIRE(std::abs(double(g[k]) - expect) <=
                  4 * ulp * coef * (std::abs(rv[k]) + std::abs(reps[k]) + std::abs(rx0[k])));
        }
      // The value without a gradient is the same.
      const auto st2 = dnft::flow_matching_loss(dnft::host, view(x0), view(eps), pr.t, view(v), dnft::none, {w});
      CHECK(st2.loss == st.loss);
    }
  }

  TEST_CASE("flow_matching_loss gradient matches central finite differences (double)") {
    const problem pr(4, 9, 200);
    for (auto w : all_weightings) {
      CAPTURE(int(w));
      auto x0 = pr.x0, eps = pr.eps, v = pr.v;
      std::vector<double> g(v.size());
      dnft::flow_matching_loss(dnft::host, dnft::make_view(x0.data(), {pr.B, pr.D}),
                               dnft::make_view(eps.data(), {pr.B, pr.D}), pr.t, dnft::make_view(v.data(), {pr.B, pr.D}),
                               dnft::make_view(g.data(), {pr.B, pr.D}), {w});
      const double h = 1e-6;
      for (std::size_t k = 0; k < v.size(); ++k) {
        auto vp = v, vm = v;
        vp[k] += h;
        vm[k] -= h;
        const double fd =
            (ref_loss(pr.B, pr.D, x0, eps, pr.t, vp, w) - ref_loss(pr.B, pr.D, x0, eps, pr.t, vm, w)) / (2 * h);
        CAPTURE(k);
        CHECK(g[k] == doctest::Approx(fd).epsilon(1e-6).scale(1e-4));
      }
    }
  }

  TEST_CASE("flow_matching_loss: float agrees with double; the exact velocity gives zero") {
    const problem pr(6, 700, 300);
    auto xf = cast<float>(pr.x0), ef = cast<float>(pr.eps), vf = cast<float>(pr.v);
    auto xd = pr.x0, ed = pr.eps, vd = pr.v;
    std::vector<float> gf(xf.size());
    std::vector<double> gd(xd.size());
    const auto sf = dnft::flow_matching_loss(
        dnft::host, dnft::make_view(xf.data(), {pr.B, pr.D}), dnft::make_view(ef.data(), {pr.B, pr.D}), pr.t,
        dnft::make_view(vf.data(), {pr.B, pr.D}), dnft::make_view(gf.data(), {pr.B, pr.D}));
    const auto sd = dnft::flow_matching_loss(
        dnft::host, dnft::make_view(xd.data(), {pr.B, pr.D}), dnft::make_view(ed.data(), {pr.B, pr.D}), pr.t,
        dnft::make_view(vd.data(), {pr.B, pr.D}), dnft::make_view(gd.data(), {pr.B, pr.D}));
    CHECK(sf.loss == doctest::Approx(sd.loss).epsilon(1e-5));
    for (int i = 0; i < pr.B; ++i) {
      const double coef = 2.0 / (pr.B * pr.D);  // uniform weighting
      for (int d = 0; d < pr.D; ++d) {
        const std::size_t k = std::size_t(i * pr.D + d);
        // float rounding of the inputs and of the residual: a few float ulps of the largest term
        REQUIRE(std::abs(double(gf[k]) - gd[k]) <=
                4 * 6e-8 * coef * (std::abs(vd[k]) + std::abs(ed[k]) + std::abs(xd[k])));
      }
    }
    std::vector<double> u(xd.size()), g(xd.size(), 1.0);
    for (std::size_t k = 0; k < u.size(); ++k) u[k] = ed[k] - xd[k];
    const auto s0 = dnft::flow_matching_loss(
        dnft::host, dnft::make_view(xd.data(), {pr.B, pr.D}), dnft::make_view(ed.data(), {pr.B, pr.D}), pr.t,
        dnft::make_view(u.data(), {pr.B, pr.D}), dnft::make_view(g.data(), {pr.B, pr.D}));
    CHECK(s0.loss == 0.0);
    for (double x : g) REQUIRE(x == 0.0);
  }

  TEST_CASE("flow_matching_loss: Philox noise equals the same noise stored; grad may alias v; strided") {
    const problem pr(5, 1300, 400);
    const dnft::philox_normal gen{.seed = 77, .stream = 5};
    auto x0 = cast<float>(pr.x0), v = cast<float>(pr.v);
    std::vector<float> eps(x0.size()), g1(x0.size()), g2(x0.size());
    auto view = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    dnft::fill_normal(dnft::host, view(eps), gen);
    const auto s1 = dnft::flow_matching_loss(dnft::host, view(x0), view(eps), pr.t, view(v), view(g1));
    const auto s2 = dnft::flow_matching_loss(dnft::host, view(x0), gen, pr.t, view(v), view(g2));
    CHECK(s1.loss == s2.loss);
    CHECK(g1 == g2);
    auto inplace = v;
    const auto s3 = dnft::flow_matching_loss(dnft::host, view(x0), gen, pr.t, view(inplace), view(inplace));
    CHECK(s3.loss == s1.loss);
    CHECK(inplace == g1);
    // column-major copies
    auto tr = [&](const std::vector<float>& a) {
      std::vector<float> r(a.size());
      for (int i = 0; i < pr.B; ++i)
        for (int d = 0; d < pr.D; ++d) r[std::size_t(d * pr.B + i)] = a[std::size_t(i * pr.D + d)];
      return r;
    };
    auto cx = tr(x0), cv = tr(v);
    std::vector<float> cg(x0.size());
    auto col = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}, {1, pr.B}); };
    const auto s4 = dnft::flow_matching_loss(dnft::host, col(cx), gen, pr.t, col(cv), col(cg));
    CHECK(s4.loss == doctest::Approx(s1.loss).epsilon(1e-12));
    CHECK(cg == tr(g1));
  }

  TEST_CASE_TEMPLATE("flow_matching_loss is bit-identical for 1, 2 and 3 threads", T, float, double) {
    const problem pr(10, 3000, 500);
    auto x0 = cast<T>(pr.x0), eps = cast<T>(pr.eps), v = cast<T>(pr.v);
    auto view = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    std::vector<T> g1(x0.size()), g2(x0.size()), g3(x0.size());
    dnft::host_executor one{1}, two{2}, three{3};
    two.min_parallel_work = three.min_parallel_work = 1;
    const auto s1 =
        dnft::flow_matching_loss(one, view(x0), view(eps), pr.t, view(v), view(g1), {dnft::time_weighting::cosmap});
    const auto s2 =
        dnft::flow_matching_loss(two, view(x0), view(eps), pr.t, view(v), view(g2), {dnft::time_weighting::cosmap});
    const auto s3 =
        dnft::flow_matching_loss(three, view(x0), view(eps), pr.t, view(v), view(g3), {dnft::time_weighting::cosmap});
    CHECK(s1.loss == s2.loss);
    CHECK(s1.loss == s3.loss);
    CHECK(g1 == g2);
    CHECK(g1 == g3);
  }

  TEST_CASE("flow_matching_loss: bad input") {
    const int B = 3, D = 8;
    std::vector<float> x0(24, 0.5f), eps(24, 0.25f), v(24, 0.1f), g(24);
    std::vector<double> t = {0.1, 0.5, 0.9};
    auto vw = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {B, int(a.size()) / B}); };
    const std::string fn = "dnft::flow_matching_loss: ";
    for (double bad : {-0.01, 1.01, std::nan(""), std::numeric_limits<double>::infinity()}) {
      auto tb = t;
      tb[1] = bad;
      const auto msg = message_of<dnft::value_error>(
          [&] { dnft::flow_matching_loss(dnft::host, vw(x0), vw(eps), tb, vw(v), vw(g)); });
      CAPTURE(msg);
      CHECK(contains(msg, fn + "t: expected values in [0, 1]"));
      CHECK(contains(msg, "at sample 1"));
    }
    {
      auto tb = t;
      tb[2] = 0.0;
      CHECK_NOTHROW(dnft::flow_matching_loss(dnft::host, vw(x0), vw(eps), tb, vw(v), vw(g)));
      const auto msg = message_of<dnft::value_error>([&] {
        dnft::flow_matching_loss(dnft::host, vw(x0), vw(eps), tb, vw(v), vw(g), {dnft::time_weighting::sigma_sqrt});
      });
      CHECK(contains(msg, fn + "t: expected values in (0, 1] with time_weighting::sigma_sqrt"));
      CHECK(contains(msg, "got 0 at sample 2"));
    }
    CHECK(contains(message_of<dnft::value_error>([&] {
                     dnft::flow_matching_loss(dnft::host, vw(x0), vw(eps), t, vw(v), vw(g),
                                              {static_cast<dnft::time_weighting>(42)});
                   }),
                   fn + "weighting: expected a dnft::time_weighting enumerator, got 42"));
    for (const char* name : {"x0", "noise", "v"}) {
      for (float bad : {std::nanf(""), -std::numeric_limits<float>::infinity()}) {
        auto bx = x0, be = eps, bv = v;
        const std::string n = name;
        (n == "x0" ? bx : n == "noise" ? be : bv)[std::size_t(2 * D + 3)] = bad;
        const auto msg = message_of<dnft::value_error>(
            [&] { dnft::flow_matching_loss(dnft::host, vw(bx), vw(be), t, vw(bv), vw(g)); });
        CAPTURE(msg);
        CHECK(contains(msg, fn + name + ": non-finite value"));
        CHECK(contains(msg, "at sample 2, element 3"));
      }
    }
    for (const char* name : {"noise", "v", "grad"}) {
      std::vector<float> wrong(27);
      const std::string n = name;
      const auto msg = message_of<dnft::shape_error>([&] {
        dnft::flow_matching_loss(dnft::host, vw(x0), n == "noise" ? vw(wrong) : vw(eps), t,
                                 n == "v" ? vw(wrong) : vw(v), n == "grad" ? vw(wrong) : vw(g));
      });
      CAPTURE(msg);
      CHECK(contains(msg, fn + name + ": expected the shape of x0 (3, 8)"));
    }
    std::vector<double> t2 = {0.5, 0.5};
    CHECK(contains(message_of<dnft::shape_error>(
                       [&] { dnft::flow_matching_loss(dnft::host, vw(x0), vw(eps), t2, vw(v), dnft::none); }),
                   fn + "t: expected one value per sample (3), got 2"));
    CHECK(contains(
        message_of<dnft::layout_error>([&] {
          dnft::flow_matching_loss(dnft::host, vw(x0), vw(eps), t, vw(v), dnft::make_view(g.data(), {B, D}, {0, 1}));
        }),
        fn + "grad"));
  }
}
