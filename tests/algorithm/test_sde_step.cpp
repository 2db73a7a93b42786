// SPDX-License-Identifier: Apache-2.0
// sde_step and transition_log_prob against a naive double reference (Philox noise, the
// FlowGRPO log-density), finite differences of the gradient, deterministic steps, other
// layouts, thread-count invariance, and their errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <vector>

#include "dnft/algorithm/sde_step.hpp"
#include "support/expect_error.hpp"
#include "support/random_data.hpp"

using dnft_test::contains;
using dnft_test::message_of;

namespace {

dnft::gaussian_transition kernel(double cx, double cv, double scale) {
  dnft::gaussian_transition t;
  t.cx = cx;
  t.cv = cv;
  t.scale = scale;
  return t;
}

//! log N(y; m, s^2) averaged over a sample, in double.
double ref_logp(const std::vector<double>& y, const std::vector<double>& m, double s, int i, int D) {
  double acc = 0;
  for (int d = 0; d < D; ++d) {
    const double e = y[std::size_t(i * D + d)] - m[std::size_t(i * D + d)];
    acc += -0.5 * std::log(2 * std::numbers::pi * s * s) - e * e / (2 * s * s);
  }
  return acc / D;
}

}  // namespace

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("sde_step: x' = cx x + cv v + scale xi with Philox xi, and the FlowGRPO log-density", T, float,
                     double) {
    const int B = 3, D = 2500;  // D spans three noise chunks
    const auto xd = dnft_test::normal_data(std::size_t(B * D), 1), vd = dnft_test::normal_data(std::size_t(B * D), 2);
    const std::vector<T> x = dnft_test::cast<T>(xd), v = dnft_test::cast<T>(vd);
    const auto tr = kernel(0.93, -0.21, 0.37);
    const dnft::philox_normal noise{11, 4};
    std::vector<T> xn(x.size());
    std::vector<double> lp(B);
    std::vector<float> lpf(B);
    dnft::sde_step(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                   dnft::make_view(xn.data(), {B, D}), noise, lp);
    std::vector<double> mean(x.size()), y(x.size());
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d) {
        const std::size_t j = std::size_t(i * D + d);
        mean[j] = tr.cx * double(x[j]) + tr.cv * double(v[j]);
        const double want = mean[j] + tr.scale * double(noise(std::uint64_t(i), std::uint64_t(d)));
        CHECK(double(xn[j]) == doctest::Approx(want).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-14));
        y[j] = double(xn[j]);
      }
    for (int i = 0; i < B; ++i) CHECK(lp[std::size_t(i)] == doctest::Approx(ref_logp(y, mean, tr.scale, i, D)).epsilon(1e-12));
    // float log-probabilities, no log-probabilities: same x'
    std::vector<T> xn2(x.size()), xn3(x.size());
    dnft::sde_step(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                   dnft::make_view(xn2.data(), {B, D}), noise, lpf);
    dnft::sde_step(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                   dnft::make_view(xn3.data(), {B, D}), noise, dnft::none);
    CHECK(xn2 == xn);
    CHECK(xn3 == xn);
    for (int i = 0; i < B; ++i) CHECK(lpf[std::size_t(i)] == float(lp[std::size_t(i)]));
    // in place: x_next = x
    std::vector<T> xi = x;
    dnft::sde_step(dnft::host, tr, dnft::make_view(xi.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                   dnft::make_view(xi.data(), {B, D}), noise, dnft::none);
    CHECK(xi == xn);
  }

  TEST_CASE("sde_step: strided tensors (column-major and padded) give the same result") {
    const int B = 3, D = 8;
    const auto x = dnft_test::normal_data(24, 3), v = dnft_test::normal_data(24, 4);
    const auto tr = kernel(1.1, 0.3, 0.2);
    const dnft::philox_normal noise{1, 2};
    std::vector<double> want(24), lp1(3), lp2(3);
    dnft::sde_step(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                   dnft::make_view(want.data(), {B, D}), noise, lp1);
    std::vector<double> xc(24), out(3 * 10, -1.0);  // x column-major; out rows padded to 10
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d) xc[std::size_t(d * B + i)] = x[std::size_t(i * D + d)];
    dnft::sde_step(dnft::host, tr, dnft::make_view(xc.data(), {B, D}, {1, B}), dnft::make_view(v.data(), {B, D}),
                   dnft::make_view(out.data(), {B, D}, {10, 1}), noise, lp2);
    for (int i = 0; i < B; ++i) {
      CHECK(lp1[std::size_t(i)] == lp2[std::size_t(i)]);
      for (int d = 0; d < D; ++d) CHECK(out[std::size_t(i * 10 + d)] == want[std::size_t(i * D + d)]);
      CHECK(out[std::size_t(i * 10 + 8)] == -1.0);
    }
  }

  TEST_CASE("transition_log_prob: reproduces sde_step, the reference density, and d logp / d v by finite differences") {
    const int B = 2, D = 7;
    const auto x = dnft_test::normal_data(14, 5), v = dnft_test::normal_data(14, 6);
    const auto tr = kernel(0.8, -0.4, 0.15);
    std::vector<double> xn(14), lp(2), lp2(2), grad(14);
    dnft::sde_step(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                   dnft::make_view(xn.data(), {B, D}), dnft::philox_normal{3, 3}, lp);
    dnft::transition_log_prob(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(xn.data(), {B, D}),
                              dnft::make_view(v.data(), {B, D}), lp2, dnft::none);
    for (int i = 0; i < B; ++i) CHECK(lp2[std::size_t(i)] == doctest::Approx(lp[std::size_t(i)]).epsilon(1e-14));
    auto w = dnft_test::normal_data(14, 7);
    auto logp_of = [&](const std::vector<double>& vv, int i) {
      std::vector<double> m(14);
      for (std::size_t j = 0; j < 14; ++j) m[j] = tr.cx * x[j] + tr.cv * vv[j];
      return ref_logp(xn, m, tr.scale, i, D);
    };
    dnft::transition_log_prob(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(xn.data(), {B, D}),
                              dnft::make_view(w.data(), {B, D}), lp2, dnft::make_view(grad.data(), {B, D}));
    for (int i = 0; i < B; ++i) {
      CHECK(lp2[std::size_t(i)] == doctest::Approx(logp_of(w, i)).epsilon(1e-12));
      for (int d = 0; d < D; ++d) {
        const std::size_t j = std::size_t(i * D + d);
        auto wp = w, wm = w;
        wp[j] += 1e-5;
        wm[j] -= 1e-5;
        CHECK(grad[j] == doctest::Approx((logp_of(wp, i) - logp_of(wm, i)) / 2e-5).epsilon(1e-7).scale(1e-6));
        // the gradient of another sample's log-probability is zero: grad is per sample
        const int o = 1 - i;
        CHECK(logp_of(wp, o) == logp_of(w, o));
      }
    }
    // the gradient may overwrite v
    auto w2 = w;
    dnft::transition_log_prob(dnft::host, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(xn.data(), {B, D}),
                              dnft::make_view(w2.data(), {B, D}), lp2, dnft::make_view(w2.data(), {B, D}));
    CHECK(w2 == grad);
  }

  TEST_CASE("a deterministic step (scale 0): x' is the mean, log-probability 0, gradient 0") {
    const auto x = dnft_test::normal_data(6, 8), v = dnft_test::normal_data(6, 9);
    const auto tr = kernel(1.0, -0.5, 0.0);
    std::vector<double> xn(6), lp(2, 7.0), grad(6, 7.0);
    dnft::sde_step(dnft::host, tr, dnft::make_view(x.data(), {2, 3}), dnft::make_view(v.data(), {2, 3}),
                   dnft::make_view(xn.data(), {2, 3}), dnft::philox_normal{}, lp);
    for (std::size_t j = 0; j < 6; ++j) CHECK(xn[j] == doctest::Approx(x[j] - 0.5 * v[j]).epsilon(1e-15));
    CHECK(lp == std::vector<double>{0.0, 0.0});
    dnft::transition_log_prob(dnft::host, tr, dnft::make_view(x.data(), {2, 3}), dnft::make_view(xn.data(), {2, 3}),
                              dnft::make_view(v.data(), {2, 3}), lp, dnft::make_view(grad.data(), {2, 3}));
    CHECK(lp == std::vector<double>{0.0, 0.0});
    CHECK(grad == std::vector<double>(6, 0.0));
  }

  TEST_CASE_TEMPLATE("sde_step and transition_log_prob do not depend on the thread count", T, float, double) {
    const int B = 6, D = 2100;
    const auto x = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 10));
    const auto v = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 11));
    const auto tr = kernel(0.9, -0.1, 0.3);
    auto run = [&](const dnft::host_executor& ex, std::vector<T>& xn, std::vector<double>& lp, std::vector<double>& lp2,
                   std::vector<T>& g) {
      dnft::sde_step(ex, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                     dnft::make_view(xn.data(), {B, D}), dnft::philox_normal{5, 6}, lp);
      dnft::transition_log_prob(ex, tr, dnft::make_view(x.data(), {B, D}), dnft::make_view(xn.data(), {B, D}),
                                dnft::make_view(x.data(), {B, D}), lp2, dnft::make_view(g.data(), {B, D}));
    };
    std::vector<T> xa(x.size()), xb(x.size()), ga(x.size()), gb(x.size());
    std::vector<double> la(B), lb(B), la2(B), lb2(B);
    run(dnft::host_executor{1}, xa, la, la2, ga);
    run(dnft::host_executor{4, 1}, xb, lb, lb2, gb);
    CHECK(xa == xb);
    CHECK(la == lb);
    CHECK(la2 == lb2);
    CHECK(ga == gb);
  }

  TEST_CASE("sde_step and transition_log_prob: errors name the function, the argument, sample and element") {
    std::vector<double> x(12, 0.1), v(12, 0.2), xn(12), lp(3), g(12), v_bad(16), lp_bad(4);
    auto V = [](std::vector<double>& a, int r, int c) { return dnft::make_view(a.data(), {r, c}); };
    const auto ok = kernel(1.0, -0.1, 0.1);
    auto step = [&](const dnft::gaussian_transition& tr) {
      dnft::sde_step(dnft::host, tr, V(x, 3, 4), V(v, 3, 4), V(xn, 3, 4), dnft::philox_normal{}, lp);
    };
    CHECK_NOTHROW(step(ok));
    CHECK(contains(message_of<dnft::value_error>([&] { step(kernel(std::nan(""), 0, 1)); }),
                   "dnft::sde_step: transition: expected finite coefficients, got cx = nan, cv = 0"));
    CHECK(contains(message_of<dnft::value_error>([&] { step(kernel(1, 0, -1)); }),
                   "dnft::sde_step: transition: expected a finite scale >= 0, got -1"));
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::sde_step(dnft::host, ok, V(x, 3, 4), V(v_bad, 4, 4), V(xn, 3, 4), dnft::philox_normal{}, lp);
                   }),
                   "dnft::sde_step: v: expected the shape of x (3, 4) (batch, elements per sample), got (4, 4)"));
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::sde_step(dnft::host, ok, V(x, 3, 4), V(v, 3, 4), V(v_bad, 3, 5), dnft::philox_normal{}, lp);
                   }),
                   "dnft::sde_step: x_next: expected the shape of x (3, 4)"));
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::sde_step(dnft::host, ok, V(x, 3, 4), V(v, 3, 4), V(xn, 3, 4), dnft::philox_normal{}, lp_bad);
                   }),
                   "dnft::sde_step: log_prob: expected one value per sample (3), got 4"));
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::sde_step(dnft::host, ok, V(x, 0, 4), V(v, 0, 4), V(xn, 0, 4), dnft::philox_normal{}, dnft::none);
                   }),
                   "dnft::sde_step: x: expected a non-empty batch"));
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::sde_step(dnft::host, ok, V(x, 3, 0), V(v, 3, 0), V(xn, 3, 0), dnft::philox_normal{}, dnft::none);
                   }),
                   "dnft::sde_step: x: expected at least one element per sample"));
    x[6] = std::numeric_limits<double>::infinity();  // sample 1, element 2
    CHECK(contains(message_of<dnft::value_error>([&] { step(ok); }),
                   "dnft::sde_step: x: non-finite value inf at sample 1, element 2"));
    x[6] = 0.1;
    v[11] = std::nan("");
    CHECK(contains(message_of<dnft::value_error>([&] { step(ok); }),
                   "dnft::sde_step: v: non-finite value nan at sample 2, element 3"));
    v[11] = 0.2;
    xn.assign(12, 0.0);  // the failed step wrote NaN into sample 2
    xn[0] = std::nan("");
    auto tlp = [&](auto&& grad) {
      dnft::transition_log_prob(dnft::host, ok, V(x, 3, 4), V(xn, 3, 4), V(v, 3, 4), lp, grad);
    };
    CHECK(contains(message_of<dnft::value_error>([&] { tlp(dnft::none); }),
                   "dnft::transition_log_prob: x_next: non-finite value nan at sample 0, element 0"));
    xn[0] = 0.0;
    CHECK_NOTHROW(tlp(V(g, 3, 4)));
    CHECK(contains(message_of<dnft::shape_error>([&] { tlp(V(v_bad, 4, 4)); }),
                   "dnft::transition_log_prob: dlogp_dv: expected the shape of x (3, 4)"));
    CHECK(contains(message_of<dnft::layout_error>([&] { tlp(dnft::make_view(g.data(), {3, 4}, {4, 0})); }),
                   "dnft::transition_log_prob: dlogp_dv"));
    CHECK(contains(message_of<dnft::layout_error>([&] {
                     dnft::transition_log_prob(dnft::host, ok, V(x, 3, 4), V(xn, 3, 4), V(v, 3, 4),
                                               dnft::make_view(lp.data(), {3}, {0}), dnft::none);
                   }),
                   "dnft::transition_log_prob: log_prob"));
  }
}
