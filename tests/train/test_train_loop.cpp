// SPDX-License-Identifier: Apache-2.0
// dnft::train: the callback sees every iteration's statistics in order and a callback returning
// false stops the run (metrics_log with a real trainer: tests/train/test_trainers.cpp).
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "dnft/train/common.hpp"

namespace {

//! The least a trainer needs for train(): step() returning statistics with row().
struct counting_trainer {
  struct stats {
    std::int64_t iteration = 0;
    dnft::io::metric_row row() const { return {{"iteration", double(iteration)}}; }
  };
  std::int64_t n = 0;
  stats step() { return {++n}; }
};

}  // namespace

TEST_SUITE("train") {
  TEST_CASE("train() calls back once per iteration, in order, and stops when the callback returns false") {
    counting_trainer t;
    std::vector<std::int64_t> seen;
    CHECK(dnft::train(t, 5, [&](const counting_trainer::stats& s) { seen.push_back(s.iteration); }) == 5);
    CHECK(seen == std::vector<std::int64_t>{1, 2, 3, 4, 5});

    seen.clear();
    const auto ran = dnft::train(t, 10, [&](const counting_trainer::stats& s) {
      seen.push_back(s.iteration);
      return s.iteration < 8;  // the iteration that returns false is the last one run
    });
    CHECK(ran == 3);
    CHECK(seen == std::vector<std::int64_t>{6, 7, 8});
    CHECK(t.n == 8);

    CHECK(dnft::train(t, 0, [](const counting_trainer::stats&) { FAIL("no iteration expected"); }) == 0);
    CHECK_THROWS_WITH_AS(dnft::train(t, -1, [](const counting_trainer::stats&) {}),
                         "dnft::train: iterations: expected >= 0, got -1", dnft::value_error);
  }
}
