// SPDX-License-Identifier: Apache-2.0
// forward_noise against a naive double evaluation of x_t = (1 - t) x0 + t eps, u = eps - x0; Philox
// noise against fill_normal; layouts, aliasing, thread counts and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/algorithm/forward_noise.hpp"
#include "support/expect_error.hpp"
#include "support/random_data.hpp"

using dnft_test::cast;
using dnft_test::contains;
using dnft_test::message_of;

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("forward_noise matches the naive formula (stored noise)", T, float, double) {
    const int B = 6, D = 1100;  // more than one host chunk
    auto x0d = dnft_test::normal_data(std::size_t(B * D), 1);
    auto epsd = dnft_test::normal_data(std::size_t(B * D), 2);
    auto t = dnft_test::uniform_data(std::size_t(B), 3, 0.0, 1.0);
    t[0] = 0.0;
    t[1] = 1.0;
    auto x0 = cast<T>(x0d), eps = cast<T>(epsd);
    std::vector<T> xt(x0.size()), eo(x0.size()), u(x0.size());
    auto v = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {B, D}); };
    dnft::forward_noise(dnft::host, v(x0), v(eps), t, v(xt), v(eo), v(u));
    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-15;
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d) {
        const std::size_t k = std::size_t(i * D + d);
        const double a = double(x0[k]), e = double(eps[k]);
        REQUIRE(double(xt[k]) ==
                doctest::Approx((1 - t[std::size_t(i)]) * a + t[std::size_t(i)] * e).epsilon(tol).scale(1));
        REQUIRE(eo[k] == eps[k]);
        REQUIRE(double(u[k]) == doctest::Approx(e - a).epsilon(tol).scale(1));
      }
    // The end points are exact: t = 0 gives x0, t = 1 gives eps.
    for (int d = 0; d < D; ++d) {
      CHECK(xt[std::size_t(d)] == x0[std::size_t(d)]);
      CHECK(xt[std::size_t(D + d)] == eps[std::size_t(D + d)]);
    }
  }

  TEST_CASE("forward_noise: x_t - x0 = t u (double)") {
    const int B = 4, D = 50;
    auto x0 = dnft_test::normal_data(std::size_t(B * D), 4), eps = dnft_test::normal_data(std::size_t(B * D), 5);
    const auto t = dnft_test::uniform_data(std::size_t(B), 6, 0.0, 1.0);
    std::vector<double> xt(x0.size()), u(x0.size());
    auto v = [&](std::vector<double>& a) { return dnft::make_view(a.data(), {B, D}); };
    dnft::forward_noise(dnft::host, v(x0), v(eps), t, v(xt), dnft::none, v(u));
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d) {
        const std::size_t k = std::size_t(i * D + d);
        CHECK(xt[k] - x0[k] == doctest::Approx(t[std::size_t(i)] * u[k]).epsilon(1e-13).scale(1));
      }
  }

  TEST_CASE_TEMPLATE("forward_noise with Philox noise uses exactly fill_normal's eps", T, float, double) {
    const int B = 5, D = 2049;
    const dnft::philox_normal gen{.seed = 31, .stream = dnft::stream_id(9, 2)};
    auto x0 = cast<T>(dnft_test::normal_data(std::size_t(B * D), 7));
    const auto t = dnft_test::uniform_data(std::size_t(B), 8, 0.0, 1.0);
    std::vector<T> eps(x0.size()), xt1(x0.size()), xt2(x0.size()), eo(x0.size()), u1(x0.size()), u2(x0.size());
    auto v = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {B, D}); };
    dnft::fill_normal(dnft::host, v(eps), gen);
    dnft::forward_noise(dnft::host, v(x0), v(eps), t, v(xt1), dnft::none, v(u1));
    dnft::forward_noise(dnft::host, v(x0), gen, t, v(xt2), v(eo), v(u2));
    CHECK(xt1 == xt2);
    CHECK(u1 == u2);
    CHECK(eo == eps);
  }

  TEST_CASE("forward_noise: rank-4 tensors, column-major layouts and x_t aliasing x0") {
    const int B = 3, C = 2, H = 4, W = 5, D = C * H * W;
    auto x0 = dnft_test::normal_data(std::size_t(B * D), 9), eps = dnft_test::normal_data(std::size_t(B * D), 10);
    const std::vector<double> t = {0.25, 0.5, 0.9};
    std::vector<double> ref(x0.size());
    dnft::forward_noise(dnft::host, dnft::make_view(x0.data(), {B, D}), dnft::make_view(eps.data(), {B, D}), t,
                        dnft::make_view(ref.data(), {B, D}));
    std::vector<double> r4(x0.size());
    dnft::forward_noise(dnft::host, dnft::make_view(x0.data(), {B, C, H, W}), dnft::make_view(eps.data(), {B, C, H, W}),
                        t, dnft::make_view(r4.data(), {B, C, H, W}));
    CHECK(r4 == ref);
    // Column-major (sample stride 1, element stride B), with Philox noise too.
    auto tr = [&](const std::vector<double>& a) {
      std::vector<double> r(a.size());
      for (int i = 0; i < B; ++i)
        for (int d = 0; d < D; ++d) r[std::size_t(d * B + i)] = a[std::size_t(i * D + d)];
      return r;
    };
    auto cx0 = tr(x0), ceps = tr(eps);
    std::vector<double> cxt(x0.size()), cu(x0.size());
    auto cv = [&](std::vector<double>& a) { return dnft::make_view(a.data(), {B, D}, {1, B}); };
    dnft::forward_noise(dnft::host, cv(cx0), cv(ceps), t, cv(cxt), dnft::none, cv(cu));
    CHECK(cxt == tr(ref));
    const dnft::philox_normal gen{.seed = 1};
    std::vector<double> p1(x0.size()), p2(x0.size()), e1(x0.size());
    dnft::forward_noise(dnft::host, dnft::make_view(x0.data(), {B, D}), gen, t, dnft::make_view(p1.data(), {B, D}),
                        dnft::make_view(e1.data(), {B, D}), dnft::none);
    dnft::forward_noise(dnft::host, cv(cx0), gen, t, cv(p2));
    CHECK(p2 == tr(p1));
    // In place: x_t written over x0.
    auto inplace = x0;
    dnft::forward_noise(dnft::host, dnft::make_view(inplace.data(), {B, D}), dnft::make_view(eps.data(), {B, D}), t,
                        dnft::make_view(inplace.data(), {B, D}));
    CHECK(inplace == ref);
  }

  TEST_CASE("forward_noise is bit-identical for 1, 2 and 3 threads") {
    const int B = 9, D = 4000;
    auto x0 = cast<float>(dnft_test::normal_data(std::size_t(B * D), 11));
    const auto t = dnft_test::uniform_data(std::size_t(B), 12, 0.0, 1.0);
    const dnft::philox_normal gen{.seed = 2, .stream = 3};
    std::vector<float> a(x0.size()), b(x0.size()), c(x0.size());
    dnft::host_executor one{1}, two{2}, three{3};
    two.min_parallel_work = three.min_parallel_work = 1;
    auto v = [&](std::vector<float>& z) { return dnft::make_view(z.data(), {B, D}); };
    dnft::forward_noise(one, v(x0), gen, t, v(a));
    dnft::forward_noise(two, v(x0), gen, t, v(b));
    dnft::forward_noise(three, v(x0), gen, t, v(c));
    CHECK(a == b);
    CHECK(a == c);
  }

  TEST_CASE("forward_noise: bad input") {
    const int B = 3, D = 8;
    std::vector<float> x0(24, 0.5f), eps(24, 0.25f), xt(24), u(24);
    std::vector<double> t = {0.1, 0.5, 0.9};
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {B, int(a.size()) / B}); };
    const std::string fn = "dnft::forward_noise: ";
    for (double bad : {-0.5, 1.5, std::nan("")}) {
      auto tb = t;
      tb[2] = bad;
      const auto msg =
          message_of<dnft::value_error>([&] { dnft::forward_noise(dnft::host, v(x0), v(eps), tb, v(xt)); });
      CAPTURE(msg);
      CHECK(contains(msg, fn + "t: expected values in [0, 1]"));
      CHECK(contains(msg, "at sample 2"));
    }
    {
      std::vector<double> t4 = {0.1, 0.2, 0.3, 0.4};
      CHECK(contains(message_of<dnft::shape_error>([&] { dnft::forward_noise(dnft::host, v(x0), v(eps), t4, v(xt)); }),
                     fn + "t: expected one value per sample (3), got 4"));
    }
    for (const char* name : {"x0", "noise"}) {
      for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
        auto bx = x0, be = eps;
        (std::string(name) == "x0" ? bx : be)[std::size_t(1 * D + 6)] = bad;
        const auto msg = message_of<dnft::value_error>(
            [&] { dnft::forward_noise(dnft::host, v(bx), v(be), t, v(xt), dnft::none, v(u)); });
        CAPTURE(msg);
        CHECK(contains(msg, fn + name + ": non-finite value"));
        CHECK(contains(msg, "at sample 1, element 6"));
      }
    }
    for (const char* name : {"noise", "x_t", "eps_out", "u_out"}) {
      std::vector<float> wrong(27);  // (3, 9)
      const std::string n = name;
      const auto msg = message_of<dnft::shape_error>([&] {
        dnft::forward_noise(dnft::host, v(x0), n == "noise" ? v(wrong) : v(eps), t, n == "x_t" ? v(wrong) : v(xt),
                            n == "eps_out" ? v(wrong) : v(u), n == "u_out" ? v(wrong) : v(u));
      });
      CAPTURE(msg);
      CHECK(contains(msg, fn + name + ": expected the shape of x0 (3, 8)"));
      CHECK(contains(msg, "got (3, 9)"));
    }
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::forward_noise(dnft::host, dnft::make_view(x0.data(), {0, 8}), dnft::philox_normal{},
                                         std::vector<double>{}, dnft::make_view(xt.data(), {0, 8}));
                   }),
                   fn + "x0: expected a non-empty batch"));
    CHECK(contains(message_of<dnft::layout_error>([&] {
                     dnft::forward_noise(dnft::host, v(x0), v(eps), t, dnft::make_view(xt.data(), {B, D}, {0, 1}));
                   }),
                   fn + "x_t: an output tensor has overlapping elements"));
  }
}
