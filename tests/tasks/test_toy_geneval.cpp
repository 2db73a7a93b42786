// SPDX-License-Identifier: Apache-2.0
// toy-GenEval: geometry, pre-training label statistics, rewards and metrics.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dnft/rewards/weighted_sum.hpp"
#include "dnft/tasks/toy_geneval.hpp"

namespace {

// P(chi^2_d <= x) by Simpson integration of the density (independent of the library's quantile).
double chi2_cdf(int d, double x) {
  const int n = 20000;
  const double h = x / n;
  auto pdf = [d](double y) {
    if (y <= 0) return d == 2 ? 0.5 : 0.0;
    return std::exp((d / 2.0 - 1) * std::log(y) - y / 2 - (d / 2.0) * std::log(2.0) - std::lgamma(d / 2.0));
  };
  double s = pdf(0) + pdf(x);
  for (int i = 1; i < n; ++i) s += (i % 2 ? 4 : 2) * pdf(i * h);
  return s * h / 3;
}

}  // namespace

TEST_SUITE("tasks") {
  TEST_CASE("toy-GenEval geometry in D = 2: circle of radius 4, hit radius 3 std") {
    dnft::toy::geneval_task task;
    CHECK(task.modes() == 8);
    CHECK(task.null_prompt() == 8);
    CHECK(task.hit_radius() == doctest::Approx(0.9));
    for (int k = 0; k < 8; ++k) {
      const auto c = task.centre(k);
      CHECK(std::hypot(c[0], c[1]) == doctest::Approx(4.0));
      CHECK(task.mode_of(c.data()) == k);
    }
    const double p = task.own_mode_probability();
    CHECK(p == doctest::Approx((0.25 - 1.0 / 8) / (1 - 1.0 / 8)));
    const double origin[2] = {0, 0};
    CHECK(task.mode_of(origin) == -1);
  }

  TEST_CASE("hit radius keeps the same coverage in higher dimensions") {
    const double q = 1 - std::exp(-4.5);
    for (int d : {3, 8, 16, 64}) {
      const double r = dnft::toy::chi_quantile(d, q);
      CAPTURE(d);
      CHECK(chi2_cdf(d, r * r) == doctest::Approx(q).epsilon(0.01));
    }
    dnft::toy::geneval_config cfg;
    cfg.dim = 16;
    dnft::toy::geneval_task task(cfg);
    for (int k = 0; k < task.modes(); ++k) {
      double n2 = 0;
      for (double v : task.centre(k)) n2 += v * v;
      CHECK(std::sqrt(n2) == doctest::Approx(4.0));
    }
  }

  TEST_CASE("pre-training labels are right a quarter of the time, null 10%") {
    for (int dim : {2, 16}) {
      dnft::toy::geneval_config cfg;
      cfg.dim = dim;
      dnft::toy::geneval_task task(cfg);
      const int B = 4000;
      std::vector<float> x(std::size_t(B * dim));
      std::vector<int> prompts(B);
      int own = 0, labelled = 0, nulls = 0, in_mode = 0;
      for (std::uint64_t batch = 0; batch < 5; ++batch) {
        task.pretraining_batch(batch, dnft::make_view(x.data(), {B, dim}), prompts);
        for (int i = 0; i < B; ++i) {
          const int m = task.mode_of(&x[std::size_t(i * dim)]);
          in_mode += m >= 0;
          if (prompts[std::size_t(i)] == task.null_prompt()) {
            ++nulls;
            continue;
          }
          ++labelled;
          own += m == prompts[std::size_t(i)];
        }
      }
      CAPTURE(dim);
      // binomial standard errors are about 0.003 (own) and 0.002 (null)
      CHECK(double(own) / labelled == doctest::Approx(0.25 * (1 - std::exp(-4.5))).epsilon(0.06));
      CHECK(double(nulls) / (5.0 * B) == doctest::Approx(0.1).epsilon(0.08));
      CHECK(double(in_mode) / (5.0 * B) == doctest::Approx(1 - std::exp(-4.5)).epsilon(0.01));
    }
  }

  TEST_CASE("pre-training batches are deterministic and differ between batches") {
    dnft::toy::geneval_task task;
    std::vector<double> a(64), b(64), c(64);
    std::vector<int> pa(32), pb(32), pc(32);
    task.pretraining_batch(7, dnft::make_view(a.data(), {32, 2}), pa);
    task.pretraining_batch(7, dnft::make_view(b.data(), {32, 2}), pb);
    task.pretraining_batch(8, dnft::make_view(c.data(), {32, 2}), pc);
    CHECK(a == b);
    CHECK(pa == pb);
    CHECK(a != c);
  }

  TEST_CASE("rewards, accuracy and in-any-mode on hand-placed samples") {
    dnft::toy::geneval_task task;
    const auto c0 = task.centre(0), c3 = task.centre(3);
    // sample 0: at mode 0, prompt 0 (hit); 1: at mode 3, prompt 0 (miss); 2: origin (nowhere); 3: null prompt
    std::vector<double> x{c0[0] + 0.5, c0[1], c3[0], c3[1], 0.0, 0.0, c0[0], c0[1]};
    std::vector<int> prompts{0, 0, 2, task.null_prompt()};
    auto xv = dnft::make_view(static_cast<const double*>(x.data()), {4, 2});
    std::vector<double> r(4);
    dnft::toy::hit_reward{&task}(xv, std::span<const int>(prompts), std::span<double>(r));
    CHECK(r == std::vector<double>{1, 0, 0, 0});
    CHECK(task.accuracy(xv, std::span<const int>(prompts)) == 0.25);
    CHECK(task.in_any_mode(xv) == 0.75);
    dnft::toy::distance_reward{&task}(xv, std::span<const int>(prompts), std::span<double>(r));
    CHECK(r[0] == doctest::Approx(-0.5 / 0.3));
    CHECK(r[2] == doctest::Approx(-std::hypot(task.centre(2)[0], task.centre(2)[1]) / 0.3));
    auto both = dnft::weighted_sum(std::pair{dnft::toy::hit_reward{&task}, 2.0}, std::pair{dnft::toy::distance_reward{&task}, 0.5});
    both(xv, std::span<const int>(prompts), std::span<double>(r));
    CHECK(r[0] == doctest::Approx(2.0 - 0.5 * 0.5 / 0.3));
    CHECK(r[1] == doctest::Approx(0.5 * -std::sqrt(task.distance_sq(&x[2], 1, 0)) / 0.3));
  }

  TEST_CASE("bad configurations and shapes are refused") {
    dnft::toy::geneval_config cfg;
    cfg.modes = 1;
    CHECK_THROWS_WITH_AS(dnft::toy::geneval_task{cfg}, doctest::Contains("dnft::toy::geneval_task: modes"), dnft::value_error);
    cfg = {};
    cfg.dim = 1;
    CHECK_THROWS_AS(dnft::toy::geneval_task{cfg}, dnft::value_error);
    dnft::toy::geneval_task task;
    std::vector<double> x(30);
    std::vector<int> p(10);
    CHECK_THROWS_WITH_AS(task.pretraining_batch(0, dnft::make_view(x.data(), {10, 3}), p),
                         doctest::Contains("x0: expected 2 elements per sample, got 3"), dnft::shape_error);
    std::vector<int> p9(9);
    CHECK_THROWS_WITH_AS(task.pretraining_batch(0, dnft::make_view(x.data(), {15, 2}), p9),
                         doctest::Contains("prompts: expected one prompt per sample (15), got 9"), dnft::shape_error);
  }
}
