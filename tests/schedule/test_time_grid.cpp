// SPDX-License-Identifier: Apache-2.0
// The SD3 shifted sigma grid against ALGORITHM.md's listed values and a direct evaluation of its
// definition; the linear grid; argument checks.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/expect_error.hpp"
#include "dnft/schedule/time_grid.hpp"

namespace {

using dnft_test::message_of;

using dnft_test::contains;

}  // namespace

TEST_SUITE("schedule") {
  TEST_CASE("shifted_sigma_grid(10) has the values ALGORITHM.md lists") {
    const std::vector<double> listed = {1.0, .9601, .9133, .8577, .7904, .7073, .6022, .4649, .2780, .0089, 0.0};
    const auto g = dnft::shifted_sigma_grid(10);
    REQUIRE(g.size() == listed.size());
    for (std::size_t k = 0; k < g.size(); ++k) {
      CAPTURE(k);
      CHECK(std::abs(g[k] - listed[k]) <= 0.5e-4);  // listed to 4 decimals
    }
    CHECK(g.front() == 1.0);
    CHECK(g.back() == 0.0);
  }

  TEST_CASE("shifted_sigma_grid follows its definition for several N, shifts and training lengths") {
    for (int n : {1, 2, 3, 10, 40, 1000})
      for (double shift : {0.5, 1.0, 3.0, 7.5})
        for (int train : {2, 1000}) {
          CAPTURE(n);
          CAPTURE(shift);
          CAPTURE(train);
          const auto g = dnft::shifted_sigma_grid(n, shift, train);
          REQUIRE(g.size() == std::size_t(n) + 1);
          // Direct evaluation: sigma_min = S(1 / train); s_k = 1 + k (sigma_min - 1) / (n - 1); S(s_k); then 0.
          auto S = [&](double s) { return shift * s / (1 + (shift - 1) * s); };
          const double sigma_min = S(1.0 / train);
          for (int k = 0; k < n; ++k) {
            const double s = n == 1 ? 1.0 : 1.0 + k * (sigma_min - 1.0) / (n - 1);
            CHECK(g[std::size_t(k)] == doctest::Approx(S(s)).epsilon(1e-14));
          }
          CHECK(g.back() == 0.0);
          CHECK(g.front() == 1.0);
          for (std::size_t k = 0; k + 1 < g.size(); ++k) CHECK(g[k] > g[k + 1]);
          if (n > 1) CHECK(g[std::size_t(n - 1)] == doctest::Approx(S(sigma_min)).epsilon(1e-14));
        }
  }

  TEST_CASE("shift 1 gives the linear grid from 1 to 1/train_steps; shift_sigma fixes 0 and 1") {
    const auto g = dnft::shifted_sigma_grid(4, 1.0, 1000);
    const double expect[] = {1.0, 1.0 - 0.999 / 3, 1.0 - 2 * 0.999 / 3, 0.001, 0.0};
    for (int k = 0; k < 5; ++k) CHECK(g[std::size_t(k)] == doctest::Approx(expect[k]).epsilon(1e-14));
    for (double shift : {0.3, 1.0, 3.0}) {
      CHECK(dnft::shift_sigma(0.0, shift) == 0.0);
      CHECK(dnft::shift_sigma(1.0, shift) == doctest::Approx(1.0).epsilon(1e-15));
    }
    CHECK(dnft::shift_sigma(0.5, 3.0) == doctest::Approx(0.75));  // 1.5 / 2
    static_assert(dnft::shift_sigma(0.25, 3.0) == 0.5);           // 0.75 / 1.5
  }

  TEST_CASE("linear_grid") {
    const auto g = dnft::linear_grid(4);
    CHECK(g == std::vector<double>{1.0, 0.75, 0.5, 0.25, 0.0});
    const auto one = dnft::linear_grid(1);
    CHECK(one == std::vector<double>{1.0, 0.0});
    const auto big = dnft::linear_grid(40);
    REQUIRE(big.size() == 41);
    for (int k = 0; k <= 40; ++k) CHECK(big[std::size_t(k)] == doctest::Approx(1.0 - k / 40.0).epsilon(1e-15));
  }

  TEST_CASE("time grids: bad arguments") {
    CHECK(contains(message_of<dnft::value_error>([] { dnft::shifted_sigma_grid(0); }),
                   "dnft::shifted_sigma_grid: steps: expected at least 1 step, got 0"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::shifted_sigma_grid(10, 0.0); }),
                   "dnft::shifted_sigma_grid: shift: expected a finite value > 0, got 0"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::shifted_sigma_grid(10, std::nan("")); }),
                   "dnft::shifted_sigma_grid: shift: expected a finite value > 0, got nan"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::shifted_sigma_grid(10, 3.0, 1); }),
                   "dnft::shifted_sigma_grid: train_steps: expected at least 2, got 1"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::linear_grid(-3); }),
                   "dnft::linear_grid: steps: expected at least 1 step, got -3"));
  }
}
