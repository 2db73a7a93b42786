// SPDX-License-Identifier: Apache-2.0
// Random training times: reproducibility, independence of seeds and streams, the moments of the
// uniform and logit-normal distributions (the latter against a numerical integral), KS tests;
// fill_times; grid permutations and train_time_count.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "support/expect_error.hpp"
#include "dnft/algorithm/fill_times.hpp"
#include "dnft/schedule/time_sampler.hpp"

namespace {

using dnft_test::message_of;

using dnft_test::contains;

std::vector<double> draw(const dnft::time_sampler& ts, std::size_t n) {
  std::vector<double> t(n);
  for (std::size_t k = 0; k < n; ++k) t[k] = ts(k);
  return t;
}

//! E[f(sigmoid(m + s z))], z ~ N(0, 1), by the trapezoid rule on [-12, 12].
double logit_normal_expectation(double m, double s, const std::function<double(double)>& f) {
  const int n = 24000;
  const double a = -12, h = 24.0 / n;
  double acc = 0;
  for (int k = 0; k <= n; ++k) {
    const double z = a + k * h;
    const double w = (k == 0 || k == n) ? 0.5 : 1.0;
    acc += w * f(1.0 / (1.0 + std::exp(-(m + s * z)))) * std::exp(-0.5 * z * z);
  }
  return acc * h / std::sqrt(2 * 3.14159265358979323846);
}

//! sqrt(n) * the Kolmogorov-Smirnov distance of the sample to the CDF.
double ks_statistic(std::vector<double> x, const std::function<double(double)>& cdf) {
  std::sort(x.begin(), x.end());
  const double n = double(x.size());
  double d = 0;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double f = cdf(x[k]);
    d = std::max({d, std::abs(f - double(k) / n), std::abs(double(k + 1) / n - f)});
  }
  return d * std::sqrt(n);
}

}  // namespace

TEST_SUITE("schedule") {
  TEST_CASE("time_sampler is a pure function of (seed, stream, index)") {
    const auto a = dnft::time_sampler::logit_normal(3, 4);
    const auto b = dnft::time_sampler::logit_normal(3, 4);
    for (std::uint64_t k : {0ULL, 1ULL, 99ULL, 1ULL << 40}) CHECK(a(k) == b(k));
    const auto x = draw(a, 1000);
    const auto y = draw(dnft::time_sampler::logit_normal(3, 5), 1000);
    const auto z = draw(dnft::time_sampler::logit_normal(4, 4), 1000);
    CHECK(x != y);
    CHECK(x != z);
    for (double t : x) CHECK((t > 0.0 && t < 1.0));
  }

  TEST_CASE("uniform times: moments and a Kolmogorov-Smirnov test") {
    const std::size_t n = 200000;
    const auto t = draw(dnft::time_sampler::uniform(17, dnft::stream_id(1, 1)), n);
    double m = 0;
    for (double v : t) m += v;
    m /= double(n);
    double var = 0;
    for (double v : t) var += (v - m) * (v - m);
    var /= double(n);
    // SE of the mean sqrt(1/12 / n); of the variance sqrt((1/80 - 1/144) / n).
    CHECK(std::abs(m - 0.5) < 5 * std::sqrt(1.0 / 12 / double(n)));
    CHECK(std::abs(var - 1.0 / 12) < 5 * std::sqrt((1.0 / 80 - 1.0 / 144) / double(n)));
    CHECK(ks_statistic(t, [](double x) { return x; }) < 1.949);  // significance 0.001
    CHECK(std::count_if(t.begin(), t.end(), [](double v) { return !(v > 0.0 && v < 1.0); }) == 0);
  }

  TEST_CASE("logit-normal times: moments against the numerical integral, KS on the logit") {
    const std::size_t n = 200000;
    for (auto [m, s] : {std::pair{0.0, 1.0}, std::pair{0.5, 0.7}, std::pair{-1.0, 2.0}}) {
      CAPTURE(m);
      CAPTURE(s);
      const auto t = draw(dnft::time_sampler::logit_normal(23, 9, m, s), n);
      const double e1 = logit_normal_expectation(m, s, [](double x) { return x; });
      const double e2 = logit_normal_expectation(m, s, [](double x) { return x * x; });
      const double e4 = logit_normal_expectation(m, s, [](double x) { return x * x * x * x; });
      const double var = e2 - e1 * e1;
      double mean = 0, second = 0;
      for (double v : t) {
        mean += v;
        second += v * v;
      }
      mean /= double(n);
      second /= double(n);
      CHECK(std::abs(mean - e1) < 5 * std::sqrt(var / double(n)));
      CHECK(std::abs(second - e2) < 5 * std::sqrt((e4 - e2 * e2) / double(n)));
      if (m == 0.0 && s == 1.0) CHECK(e1 == doctest::Approx(0.5).epsilon(1e-12));  // symmetric
      // The logit of t is m + s n, so (logit(t) - m) / s must be standard normal.
      std::vector<double> z(n);
      for (std::size_t k = 0; k < n; ++k) z[k] = (std::log(t[k] / (1 - t[k])) - m) / s;
      CHECK(ks_statistic(z, [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }) < 1.949);
    }
  }

  TEST_CASE("logit-normal with s = 0 is the constant sigmoid(m); times and noise are independent") {
    const auto c = dnft::time_sampler::logit_normal(1, 2, 0.3, 0.0);
    for (std::uint64_t k = 0; k < 10; ++k) CHECK(c(k) == doctest::Approx(1 / (1 + std::exp(-0.3))).epsilon(1e-15));
    // Same seed and stream as a philox_normal: the uniform times must not be a function of its normals.
    const dnft::philox_normal g{.seed = 5, .stream = 6};
    const auto u = dnft::time_sampler::uniform(5, 6);
    const std::size_t n = 100000;
    std::vector<double> a(n), b(n);
    for (std::size_t k = 0; k < n; ++k) {
      a[k] = u(k);
      b[k] = std::abs(double(g(k, 0)));
    }
    double ma = 0, mb = 0;
    for (std::size_t k = 0; k < n; ++k) {
      ma += a[k];
      mb += b[k];
    }
    ma /= double(n);
    mb /= double(n);
    double sab = 0, saa = 0, sbb = 0;
    for (std::size_t k = 0; k < n; ++k) {
      sab += (a[k] - ma) * (b[k] - mb);
      saa += (a[k] - ma) * (a[k] - ma);
      sbb += (b[k] - mb) * (b[k] - mb);
    }
    CHECK(std::abs(sab / std::sqrt(saa * sbb)) < 5 / std::sqrt(double(n)));
  }

  TEST_CASE_TEMPLATE("fill_times writes sampler(first + i), for any thread count", T, float, double) {
    const auto ts = dnft::time_sampler::logit_normal(8, 1);
    std::vector<T> a(1000), b(1000);
    dnft::fill_times(dnft::host_executor{1}, a, ts, 500);
    dnft::host_executor three{3};
    three.min_parallel_work = 1;
    dnft::fill_times(three, b, ts, 500);
    CHECK(a == b);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == T(ts(500 + i)));
    // strided output
    std::vector<double> s(10, -1.0);
    dnft::fill_times(dnft::host, dnft::make_view(s.data(), {5}, {2}), dnft::time_sampler::uniform(1));
    for (int i = 0; i < 5; ++i) {
      CHECK(s[std::size_t(2 * i)] == dnft::time_sampler::uniform(1)(std::uint64_t(i)));
      CHECK(s[std::size_t(2 * i + 1)] == -1.0);
    }
  }

  TEST_CASE("fill_times: bad samplers and outputs") {
    std::vector<double> t(4);
    auto bad = dnft::time_sampler::logit_normal(1, 1, 0.0, -1.0);
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::fill_times(dnft::host, t, bad); }),
                   "dnft::fill_times: logit_std: expected a finite value >= 0, got -1"));
    bad = dnft::time_sampler::logit_normal(1, 1, std::nan(""), 1.0);
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::fill_times(dnft::host, t, bad); }),
                   "dnft::fill_times: logit_mean: expected a finite value, got nan"));
    bad = dnft::time_sampler{};
    bad.distribution = static_cast<dnft::time_distribution>(7);
    CHECK(contains(message_of<dnft::value_error>([&] { dnft::fill_times(dnft::host, t, bad); }),
                   "dnft::fill_times: distribution: expected a dnft::time_distribution enumerator, got 7"));
    std::vector<double> empty;
    CHECK(contains(
        message_of<dnft::shape_error>([&] { dnft::fill_times(dnft::host, empty, dnft::time_sampler::uniform(1)); }),
        "dnft::fill_times: out: expected at least one time, got 0"));
    CHECK(contains(message_of<dnft::layout_error>([&] {
                     dnft::fill_times(dnft::host, dnft::make_view(t.data(), {4}, {0}), dnft::time_sampler::uniform(1));
                   }),
                   "dnft::fill_times: out"));
    std::vector<double> m(6);
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::fill_times(dnft::host, dnft::make_view(m.data(), {2, 3}), dnft::time_sampler::uniform(1));
                   }),
                   "dnft::fill_times: out: expected a rank-1 tensor"));
  }

  TEST_CASE("grid_time_permutation: a deterministic, uniformly random permutation per sample") {
    for (dnft::index_t n : {1, 2, 5, 10, 40}) {
      const auto p = dnft::grid_time_permutation(n, 1, 2, 3);
      auto sorted = p;
      std::sort(sorted.begin(), sorted.end());
      std::vector<dnft::index_t> iota(static_cast<std::size_t>(n));
      std::iota(iota.begin(), iota.end(), dnft::index_t{0});
      CHECK(sorted == iota);
      CHECK(p == dnft::grid_time_permutation(n, 1, 2, 3));
    }
    CHECK(dnft::grid_time_permutation(10, 1, 2, 3) != dnft::grid_time_permutation(10, 1, 2, 4));
    CHECK(dnft::grid_time_permutation(10, 1, 2, 3) != dnft::grid_time_permutation(10, 1, 3, 3));
    CHECK(dnft::grid_time_permutation(10, 1, 2, 3) != dnft::grid_time_permutation(10, 2, 2, 3));
    // All 24 permutations of 4 elements equally likely: chi-square with 23 degrees of freedom
    // exceeds 49.7 with probability 0.001.
    std::map<std::vector<dnft::index_t>, int> count;
    const int samples = 24000;
    for (int s = 0; s < samples; ++s) ++count[dnft::grid_time_permutation(4, 77, 5, std::uint64_t(s))];
    CHECK(count.size() == 24);
    double chi2 = 0;
    for (const auto& [perm, c] : count) chi2 += (c - 1000.0) * (c - 1000.0) / 1000.0;
    CHECK(chi2 < 49.7);
    // Each of 10 grid times is dropped (last position) equally often: 9 degrees of freedom, 27.9.
    std::vector<int> last(10, 0);
    for (int s = 0; s < 20000; ++s) ++last[std::size_t(dnft::grid_time_permutation(10, 3, 0, std::uint64_t(s)).back())];
    chi2 = 0;
    for (int c : last) chi2 += (c - 2000.0) * (c - 2000.0) / 2000.0;
    CHECK(chi2 < 27.9);
  }

  TEST_CASE("train_time_count is Python's int(n * fraction)") {
    CHECK(dnft::train_time_count(10) == 9);
    CHECK(dnft::train_time_count(40) == 39);
    CHECK(dnft::train_time_count(50) == 49);
    CHECK(dnft::train_time_count(100) == 99);
    CHECK(dnft::train_time_count(1000) == 990);
    CHECK(dnft::train_time_count(10, 1.0) == 10);
    CHECK(dnft::train_time_count(10, 0.5) == 5);
    CHECK(contains(message_of<dnft::value_error>([] { dnft::train_time_count(1); }),
                   "dnft::train_time_count: fraction: int(1 * 0.99) is 0"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::train_time_count(10, 1.5); }),
                   "dnft::train_time_count: fraction: expected a value in (0, 1], got 1.5"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::train_time_count(0); }),
                   "dnft::train_time_count: n: expected at least 1 grid time, got 0"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::grid_time_permutation(0, 1, 1, 1); }),
                   "dnft::grid_time_permutation: n: expected 1 <= n < 2^32, got 0"));
  }
}
