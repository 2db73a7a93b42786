// SPDX-License-Identifier: Apache-2.0
// Flat parameter-buffer operations against naive double references: soft update and its decay
// schedules, EMA, gradient-norm clipping (thread-count invariant), AdamW (hand-computed steps and a
// PyTorch-order reference); their errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "dnft/algorithm/optim.hpp"
#include "support/expect_error.hpp"
#include "support/random_data.hpp"

using dnft_test::cast;
using dnft_test::contains;
using dnft_test::message_of;

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("soft_update: old <- d old + (1 - d) theta", T, float, double) {
    const std::size_t n = 50000;
    const auto od = dnft_test::normal_data(n, 1), td = dnft_test::normal_data(n, 2);
    for (double d : {0.0, 0.001, 0.37, 0.5, 0.999, 1.0}) {
      CAPTURE(d);
      auto old = cast<T>(od);
      const auto theta = cast<T>(td);
      dnft::soft_update(dnft::host, old, theta, d);
      const double tol = std::is_same_v<T, float> ? 1.2e-7 : 2.3e-16;
      for (std::size_t k = 0; k < n; ++k) {
        const double a = double(T(od[k])), b = double(T(td[k]));
        const double expect = d * a + (1 - d) * b;
        REQUIRE(std::abs(double(old[k]) - expect) <= 2 * tol * (std::abs(a) + std::abs(b)));
      }
      if (d == 0.0) CHECK(old == theta);        // on-policy: an exact copy
      if (d == 1.0) CHECK(old == cast<T>(od));  // nothing moves
    }
  }

  TEST_CASE("soft_update: strided buffers; thread counts give the same result") {
    std::vector<double> old(20, 1.0), theta(10);
    for (int k = 0; k < 10; ++k) theta[std::size_t(k)] = k;
    dnft::soft_update(dnft::host, dnft::make_view(old.data(), {10}, {2}), theta, 0.25);
    for (int k = 0; k < 10; ++k) {
      CHECK(old[std::size_t(2 * k)] == doctest::Approx(0.25 + 0.75 * k));
      CHECK(old[std::size_t(2 * k + 1)] == 1.0);
    }
    const auto od = cast<float>(dnft_test::normal_data(300000, 3)), td = cast<float>(dnft_test::normal_data(300000, 4));
    auto a = od, b = od;
    dnft::host_executor three{3};
    three.min_parallel_work = 1;
    dnft::soft_update(dnft::host_executor{1}, a, td, 0.3);
    dnft::soft_update(three, b, td, 0.3);
    CHECK(a == b);
  }

  TEST_CASE("decay schedules: types 0, 1, 2 and user schedules") {
    const auto t0 = dnft::decay_schedule::of_type(0), t1 = dnft::decay_schedule::of_type(1),
               t2 = dnft::decay_schedule::of_type(2);
    for (std::int64_t s : {0, 1, 10, 1000000}) CHECK(t0(s) == 0.0);
    CHECK(t1(0) == 0.0);
    CHECK(t1(1) == doctest::Approx(0.001));
    CHECK(t1(250) == doctest::Approx(0.25));
    CHECK(t1(500) == doctest::Approx(0.5));
    CHECK(t1(501) == 0.5);
    CHECK(t1(100000) == 0.5);
    CHECK(t2(0) == 0.0);
    CHECK(t2(74) == 0.0);
    CHECK(t2(75) == 0.0);
    CHECK(t2(76) == doctest::Approx(0.0075));
    CHECK(t2(175) == doctest::Approx(0.75));
    CHECK(t2(208) == doctest::Approx(0.9975));
    CHECK(t2(209) == 0.999);
    CHECK(dnft::decay_schedule{}(100) == t1(100));  // the default is type 1
    // A user schedule as a struct and as callables.
    const dnft::decay_schedule mine{.flat = 10, .rate = 0.1, .max = 0.9};
    CHECK(dnft::decay_at(mine, 5) == 0.0);
    CHECK(dnft::decay_at(mine, 13) == doctest::Approx(0.3));
    CHECK(dnft::decay_at(mine, 100) == 0.9);
    const std::function<double(std::int64_t)> f = [](std::int64_t s) { return s < 3 ? 0.0 : 0.8; };
    CHECK(dnft::decay_at(f, 2) == 0.0);
    CHECK(dnft::decay_at(f, 3) == 0.8);
    std::vector<double> old = {1, 2}, theta = {3, 4};
    CHECK(dnft::soft_update(
              dnft::host, old, theta, [](std::int64_t) { return 0.75; }, 0) == 0.75);
    CHECK(old[0] == 1.5);
    CHECK(old[1] == 2.5);
    CHECK(dnft::soft_update(dnft::host, old, theta, t1, 500) == 0.5);
    CHECK(old[0] == 2.25);
  }

  TEST_CASE("ema: warm-up decay min((1 + s) / (10 + s), 0.9) and the fixed-decay variant") {
    CHECK(dnft::ema_decay(0) == doctest::Approx(0.1));
    CHECK(dnft::ema_decay(8) == doctest::Approx(0.5));
    CHECK(dnft::ema_decay(79) == doctest::Approx(80.0 / 89));
    CHECK(dnft::ema_decay(80) == 0.9);
    CHECK(dnft::ema_decay(100000) == 0.9);
    CHECK(dnft::ema_decay(1000, {.max_decay = 0.999}) == doctest::Approx(1001.0 / 1010));
    CHECK(dnft::ema_decay(0, {.max_decay = 0.999, .warmup = false}) == 0.999);
    const auto td = dnft_test::normal_data(1000, 5);
    std::vector<double> ema(1000, 0.0);
    double ref_scale = 1.0;  // ema = (1 - prod d) theta for a constant theta starting from 0
    for (std::int64_t s = 0; s < 20; ++s) {
      const double d = dnft::ema_update(dnft::host, ema, td, s);
      CHECK(d == doctest::Approx(std::min((1.0 + double(s)) / (10.0 + double(s)), 0.9)));
      ref_scale *= d;
    }
    for (std::size_t k = 0; k < td.size(); ++k)
      CHECK(ema[k] == doctest::Approx((1 - ref_scale) * td[k]).epsilon(1e-13));
    std::vector<float> ef(3, 1.0f), tf = {0.0f, 2.0f, 4.0f};
    CHECK(dnft::ema_update(dnft::host, ef, tf, 0, {.max_decay = 0.75, .warmup = false}) == 0.75);
    CHECK(ef == std::vector<float>{0.75f, 1.25f, 1.75f});
  }

  TEST_CASE("soft update and EMA: bad input") {
    std::vector<double> old(4), theta(4), small(3);
    const std::string fn = "dnft::soft_update: ";
    for (double d : {-0.1, 1.1, std::nan("")}) {
      const auto msg = message_of<dnft::value_error>([&] { dnft::soft_update(dnft::host, old, theta, d); });
      CAPTURE(msg);
      CHECK(contains(msg, fn + "decay: expected a value in [0, 1]"));
    }
    CHECK(contains(message_of<dnft::shape_error>([&] { dnft::soft_update(dnft::host, old, small, 0.5); }),
                   fn + "theta: expected 4 elements (the size of old), got 3"));
    std::vector<double> m(8);
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::soft_update(dnft::host, dnft::make_view(m.data(), {2, 4}), theta, 0.5);
                   }),
                   fn + "old: expected a rank-1 tensor"));
    CHECK(contains(message_of<dnft::layout_error>(
                       [&] { dnft::soft_update(dnft::host, dnft::make_view(old.data(), {4}, {0}), theta, 0.5); }),
                   fn + "old: an output tensor has stride 0"));
    CHECK(contains(message_of<dnft::value_error>([&] {
                     dnft::soft_update(
                         dnft::host, old, theta, [](std::int64_t) { return 1.5; }, 7);
                   }),
                   fn + "schedule: returned 1.5 at step 7, expected a decay in [0, 1]"));
    CHECK(contains(message_of<dnft::value_error>(
                       [&] { dnft::soft_update(dnft::host, old, theta, dnft::decay_schedule{.max = 2.0}, 7); }),
                   fn + "schedule.max: expected a value in [0, 1], got 2"));
    CHECK(contains(message_of<dnft::value_error>(
                       [&] { dnft::soft_update(dnft::host, old, theta, dnft::decay_schedule{.rate = -1.0}, 7); }),
                   fn + "schedule.rate: expected a finite value >= 0, got -1"));
    CHECK(contains(
        message_of<dnft::value_error>([&] { dnft::soft_update(dnft::host, old, theta, dnft::decay_schedule{}, -1); }),
        fn + "step: expected an optimizer step count >= 0, got -1"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::decay_schedule::of_type(3); }),
                   "dnft::decay_schedule::of_type: type: expected 0, 1 or 2, got 3"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::ema_decay(-2); }),
                   "dnft::ema_decay: step: expected an update count >= 0, got -2"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::ema_decay(2, {.max_decay = 1.5}); }),
                   "dnft::ema_decay: max_decay: expected a value in [0, 1], got 1.5"));
    CHECK(contains(message_of<dnft::shape_error>([&] { dnft::ema_update(dnft::host, old, small, 0); }),
                   "dnft::ema_update: theta: expected 4 elements (the size of ema), got 3"));
  }

  TEST_CASE_TEMPLATE("clip_grad_norm: the norm, the scaling, and invariance to the thread count", T, float, double) {
    const std::size_t n = 100003;  // several reduction chunks and a partial one
    const auto gd = dnft_test::normal_data(n, 6, 0.01);
    double ss = 0;
    for (double x : gd) ss += double(T(x)) * double(T(x));
    const double norm = std::sqrt(ss);  // about 3.16
    // below the threshold: unchanged
    auto g = cast<T>(gd);
    CHECK(dnft::clip_grad_norm(dnft::host, g, 10.0) == doctest::Approx(norm).epsilon(1e-12));
    CHECK(g == cast<T>(gd));
    // above: scaled by max_norm / (norm + 1e-6)
    CHECK(dnft::clip_grad_norm(dnft::host, g, 1.0) == doctest::Approx(norm).epsilon(1e-12));
    const double c = 1.0 / (norm + 1e-6);
    for (std::size_t k = 0; k < n; ++k)
      REQUIRE(double(g[k]) == doctest::Approx(double(T(gd[k])) * c).epsilon(std::is_same_v<T, float> ? 2e-7 : 1e-15));
    CHECK(dnft::l2_norm(dnft::host, g) == doctest::Approx(norm * c).epsilon(1e-6));
    // bit-identical norm and result for 1, 2 and 3 threads
    auto a = cast<T>(gd), b = a, d = a;
    dnft::host_executor two{2}, three{3};
    two.min_parallel_work = three.min_parallel_work = 1;
    const double n1 = dnft::clip_grad_norm(dnft::host_executor{1}, a, 1.0);
    const double n2 = dnft::clip_grad_norm(two, b, 1.0);
    const double n3 = dnft::clip_grad_norm(three, d, 1.0);
    CHECK(n1 == n2);
    CHECK(n1 == n3);
    CHECK(a == b);
    CHECK(a == d);
  }

  TEST_CASE("clip_grad_norm: bad input") {
    std::vector<float> g(20000, 0.5f);
    for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
      auto gb = g;
      gb[12345] = bad;
      const auto before = gb;
      const auto msg = message_of<dnft::value_error>([&] { dnft::clip_grad_norm(dnft::host, gb, 1.0); });
      CAPTURE(msg);
      CHECK(contains(msg, "dnft::clip_grad_norm: grads: the gradient norm is not finite: non-finite value"));
      CHECK(contains(msg, "at element 12345"));
      for (std::size_t k = 0; k < g.size(); ++k)
        if (k != 12345) REQUIRE(gb[k] == before[k]);  // unchanged
    }
    std::vector<double> huge = {1e200, 1e200};
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::clip_grad_norm(dnft::host, huge, 1.0); }),
                   "dnft::clip_grad_norm: grads: the gradient norm overflowed"));
    for (double m : {0.0, -1.0, std::nan("")})
      CHECK(contains(message_of<dnft::value_error>([&] { dnft::clip_grad_norm(dnft::host, g, m); }),
                     "dnft::clip_grad_norm: max_norm: expected a finite value > 0"));
    std::vector<float> empty;
    CHECK(dnft::clip_grad_norm(dnft::host, empty, 1.0) == 0.0);
  }

  TEST_CASE("adamw_step: hand-computed steps") {
    // Constant gradient: m_hat = g and v_hat = g^2 exactly, so every step is
    // p <- p (1 - lr wd) - lr g / (|g| + eps).
    const double lr = 0.1, wd = 0.01, eps = 1e-8;
    std::vector<double> p = {1.0, -2.0}, g = {0.5, -3.0}, m(2, 0.0), v(2, 0.0);
    double p0 = 1.0, p1 = -2.0;
    for (std::int64_t step = 1; step <= 5; ++step) {
      dnft::adamw_step(dnft::host, p, g, m, v, step, {.lr = lr, .weight_decay = wd, .eps = eps});
      p0 = p0 * (1 - lr * wd) - lr * 0.5 / (0.5 + eps);
      p1 = p1 * (1 - lr * wd) + lr * 3.0 / (3.0 + eps);
      CAPTURE(step);
      CHECK(p[0] == doctest::Approx(p0).epsilon(1e-14));
      CHECK(p[1] == doctest::Approx(p1).epsilon(1e-14));
    }
    // Step 1 from p = 1 with g = 0.5: 1 * 0.999 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002 (to 1e-9).
    std::vector<double> q = {1.0}, gq = {0.5}, mq = {0.0}, vq = {0.0};
    dnft::adamw_step(dnft::host, q, gq, mq, vq, 1, {.lr = 0.1, .weight_decay = 0.01, .eps = 1e-8});
    CHECK(q[0] == doctest::Approx(0.899000002).epsilon(1e-12));
    CHECK(mq[0] == doctest::Approx(0.05));
    CHECK(vq[0] == doctest::Approx(0.00025));
    // Sign flip: g = +1 then -1, beta1 0.9, beta2 0.999, lr 0.1, no decay, eps 0.
    // step 1: m = 0.1, v = 0.001, update 0.1 * (0.1 / 0.1) / (sqrt(0.001 / 0.001)) = 0.1 -> p = -0.1
    // step 2: m = -0.01, v = 0.001999, bias1 = 0.19, bias2 = 0.001999:
    //         update = 0.1 / 0.19 * (-0.01) / 1 = -0.00526315789... -> p = -0.1 + 0.00526315789...
    std::vector<double> r = {0.0}, mr = {0.0}, vr = {0.0};
    dnft::adamw_step(dnft::host, r, std::vector<double>{1.0}, mr, vr, 1, {.lr = 0.1, .weight_decay = 0.0, .eps = 0.0});
    CHECK(r[0] == doctest::Approx(-0.1).epsilon(1e-14));
    dnft::adamw_step(dnft::host, r, std::vector<double>{-1.0}, mr, vr, 2, {.lr = 0.1, .weight_decay = 0.0, .eps = 0.0});
    CHECK(mr[0] == doctest::Approx(-0.01).epsilon(1e-14));
    CHECK(vr[0] == doctest::Approx(0.001999).epsilon(1e-14));
    CHECK(r[0] == doctest::Approx(-0.1 + 0.1 / 0.19 * 0.01).epsilon(1e-14));
  }

  TEST_CASE_TEMPLATE("adamw_step matches a naive double AdamW over several steps", T, float, double) {
    const std::size_t n = 20011;
    const dnft::adamw_options o{.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.99, .weight_decay = 0.05, .eps = 1e-6};
    auto pd = dnft_test::normal_data(n, 7);
    std::vector<double> md(n, 0.0), vd(n, 0.0);
    auto p = cast<T>(pd);
    std::vector<T> m(n, T(0)), v(n, T(0));
    for (std::int64_t step = 1; step <= 6; ++step) {
      const auto gd = cast<T>(dnft_test::normal_data(n, 100 + std::uint64_t(step), 0.1 * double(step)));
      dnft::adamw_step(dnft::host, p, gd, m, v, step, o);
      // textbook AdamW (Loshchilov & Hutter, as PyTorch documents it), in double
      for (std::size_t k = 0; k < n; ++k) {
        const double gk = double(gd[k]);
        pd[k] -= o.lr * o.weight_decay * pd[k];
        md[k] = o.beta1 * md[k] + (1 - o.beta1) * gk;
        vd[k] = o.beta2 * vd[k] + (1 - o.beta2) * gk * gk;
        const double mh = md[k] / (1 - std::pow(o.beta1, double(step)));
        const double vh = vd[k] / (1 - std::pow(o.beta2, double(step)));
        pd[k] -= o.lr * mh / (std::sqrt(vh) + o.eps);
      }
    }
    const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-13;
    for (std::size_t k = 0; k < n; ++k) {
      REQUIRE(double(p[k]) == doctest::Approx(pd[k]).epsilon(tol).scale(1.0));
      REQUIRE(double(m[k]) == doctest::Approx(md[k]).epsilon(tol).scale(1.0));  // |g| up to about 3
      REQUIRE(double(v[k]) == doctest::Approx(vd[k]).epsilon(tol).scale(1.0));
    }
    // thread counts and a strided layout give the same bits
    auto p2 = cast<T>(dnft_test::normal_data(n, 7));
    std::vector<T> m2(n, T(0)), v2(n, T(0)), p3(2 * n), m3(2 * n, T(0)), v3(2 * n, T(0));
    for (std::size_t k = 0; k < n; ++k) p3[2 * k] = p2[k];
    dnft::host_executor three{3};
    three.min_parallel_work = 1;
    auto strided = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {dnft::index_t(n)}, {2}); };
    for (std::int64_t step = 1; step <= 6; ++step) {
      const auto gd = cast<T>(dnft_test::normal_data(n, 100 + std::uint64_t(step), 0.1 * double(step)));
      dnft::adamw_step(three, p2, gd, m2, v2, step, o);
      dnft::adamw_step(dnft::host_executor{1}, strided(p3), gd, strided(m3), strided(v3), step, o);
    }
    CHECK(p2 == p);
    for (std::size_t k = 0; k < n; ++k) REQUIRE(p3[2 * k] == p[k]);
  }

  TEST_CASE("adamw_step: bad input") {
    const std::string fn = "dnft::adamw_step: ";
    std::vector<float> p(10, 1.0f), g(10, 0.1f), m(10, 0.0f), v(10, 0.0f), small(9);
    CHECK(contains(message_of<dnft::shape_error>([&] { dnft::adamw_step(dnft::host, p, small, m, v, 1); }),
                   fn + "grads: expected 10 elements (the size of params), got 9"));
    CHECK(contains(message_of<dnft::shape_error>([&] { dnft::adamw_step(dnft::host, p, g, small, v, 1); }),
                   fn + "m: expected 10 elements (the size of params), got 9"));
    CHECK(contains(message_of<dnft::shape_error>([&] { dnft::adamw_step(dnft::host, p, g, m, small, 1); }),
                   fn + "v: expected 10 elements (the size of params), got 9"));
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::adamw_step(dnft::host, p, g, m, v, 0); }),
                   fn + "step: expected the 1-based step number (>= 1), got 0"));
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::adamw_step(dnft::host, p, g, m, v, 1, {.lr = -1e-3}); }),
                   fn + "lr: expected a finite value >= 0, got -0.001"));
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::adamw_step(dnft::host, p, g, m, v, 1, {.beta1 = 1.0}); }),
                   fn + "beta1: expected a value in [0, 1), got 1"));
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::adamw_step(dnft::host, p, g, m, v, 1, {.beta2 = -0.5}); }),
                   fn + "beta2: expected a value in [0, 1), got -0.5"));
    CHECK(contains(message_of<dnft::value_error>(
                       [&] { dnft::adamw_step(dnft::host, p, g, m, v, 1, {.weight_decay = std::nan("")}); }),
                   fn + "weight_decay: expected a finite value >= 0, got nan"));
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::adamw_step(dnft::host, p, g, m, v, 1, {.eps = -1.0}); }),
                   fn + "eps: expected a finite value >= 0, got -1"));
    auto gb = g;
    gb[7] = std::nanf("");
    const auto msg = message_of<dnft::value_error>([&] { dnft::adamw_step(dnft::host, p, gb, m, v, 1); });
    CAPTURE(msg);
    CHECK(contains(msg, fn + "grads: non-finite value nan at element 7; nothing was updated"));
    CHECK(p == std::vector<float>(10, 1.0f));
    CHECK(m == std::vector<float>(10, 0.0f));
  }
}
