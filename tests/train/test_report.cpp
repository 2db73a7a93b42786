// SPDX-License-Identifier: Apache-2.0
// Run summaries (train/report.hpp) on synthetic evaluation series whose answers are worked out
// by hand: first crossings, the costs at them, final and best values, ratios, bad series.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dnft/train/report.hpp"

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

// An evaluation every 10 iterations of 128 images; 46 model evaluations per image; 0.1 s per
// iteration. Accuracy rises, crosses 0.9 at iteration 30, dips below, reaches 0.95 at 50.
std::vector<dnft::run_point> synthetic() {
  const double acc[] = {0.25, 0.5, 0.88, 0.91, 0.89, 0.96, 0.94, 0.96};
  std::vector<dnft::run_point> s;
  for (int i = 0; i < 8; ++i) {
    const std::int64_t it = 10 * i;
    s.push_back({it, 128 * it, 46 * 128 * it, 0.1 * double(it), acc[i]});
  }
  return s;
}

template <class F>
std::string error_text(F&& f) {
  try {
    f();
  } catch (const dnft::value_error& e) {
    return e.what();
  }
  return "no value_error";
}

}  // namespace

TEST_SUITE("train.report") {
  TEST_CASE("first_reaching finds the first evaluation at or above the threshold, with its costs") {
    const auto s = synthetic();
    const auto p90 = dnft::first_reaching(s, 0.9);
    REQUIRE(p90.has_value());
    CHECK(p90->iteration == 30);
    CHECK(p90->images == 3840);
    CHECK(p90->model_evals == 176640);
    CHECK(p90->seconds == doctest::Approx(3.0));
    CHECK(p90->value == 0.91);
    const auto p95 = dnft::first_reaching(s, 0.95);
    REQUIRE(p95.has_value());
    CHECK(p95->iteration == 50);  // not 60: the dip to 0.89 at 40 does not matter, nor the later 0.94
    CHECK(!dnft::first_reaching(s, 0.97).has_value());
    // exactly the threshold counts as reaching it
    const auto p88 = dnft::first_reaching(s, 0.88);
    REQUIRE(p88.has_value());
    CHECK(p88->iteration == 20);
    // the starting model may already be there
    CHECK(dnft::first_reaching(s, 0.1)->iteration == 0);
    CHECK(!dnft::first_reaching(std::span<const dnft::run_point>{}, 0.5).has_value());
  }

  TEST_CASE("points that were not measured (NaN) are skipped") {
    auto s = synthetic();
    s[3].value = nan_v;  // the 0.91 at iteration 30 was not measured
    CHECK(dnft::first_reaching(s, 0.9)->iteration == 50);
    s.back().value = nan_v;
    const auto sum = dnft::summarize_run(s, std::vector<double>{0.9});
    CHECK(sum.last.iteration == 60);  // the last measured point
    CHECK(sum.last.value == 0.94);
  }

  TEST_CASE("summarize_run: final, best (first of equal maxima) and each threshold") {
    const auto s = synthetic();
    const std::vector<double> th{0.9, 0.95, 0.99};
    const auto sum = dnft::summarize_run(s, th);
    CHECK(sum.last.iteration == 70);
    CHECK(sum.last.value == 0.96);
    CHECK(sum.best.iteration == 50);  // 0.96 first at 50, again at 70
    CHECK(sum.best.value == 0.96);
    REQUIRE(sum.thresholds.size() == 3);
    CHECK(sum.thresholds[0].threshold == 0.9);
    CHECK(sum.thresholds[0].reached->iteration == 30);
    CHECK(sum.thresholds[1].reached->iteration == 50);
    CHECK(!sum.thresholds[2].reached.has_value());

    const auto j = dnft::to_json(sum);
    CHECK(j["final"]["iteration"] == 70);
    CHECK(j["best"]["value"] == 0.96);
    CHECK(j["thresholds"][0]["reached"] == true);
    CHECK(j["thresholds"][0]["at"]["images"] == 3840);
    CHECK(j["thresholds"][2]["reached"] == false);
    CHECK(!j["thresholds"][2].contains("at"));
    dnft::run_point unmeasured{1, 2, 3, 4.0, nan_v};
    CHECK(dnft::to_json(unmeasured)["value"].is_null());
  }

  TEST_CASE("cost_ratio_of divides the costs of two runs at the same threshold") {
    // run a reaches 0.9 at iteration 30 (3840 images); run b at iteration 60 with twice the
    // images per iteration and 74 evaluations per image, 0.17 s per iteration.
    const dnft::run_point a{30, 3840, 176640, 3.0, 0.91};
    const dnft::run_point b{60, 15360, 1136640, 10.2, 0.92};
    const auto r = dnft::cost_ratio_of(a, b);
    REQUIRE(r.has_value());
    CHECK(r->iterations == doctest::Approx(0.5));
    CHECK(r->images == doctest::Approx(0.25));
    CHECK(r->model_evals == doctest::Approx(176640.0 / 1136640.0));
    CHECK(r->seconds == doctest::Approx(3.0 / 10.2));
    CHECK(!dnft::cost_ratio_of(a, std::nullopt).has_value());
    CHECK(!dnft::cost_ratio_of(std::nullopt, b).has_value());
    // both at the starting model: 0 / 0 is not a ratio
    const dnft::run_point z{0, 0, 0, 0.0, 0.95};
    const auto rz = dnft::cost_ratio_of(z, z);
    CHECK(std::isnan(rz->images));
    CHECK(dnft::to_json(*rz)["images"].is_null());
    CHECK(dnft::to_json(*r)["iterations"] == 0.5);
  }

  TEST_CASE("series not in run order and bad thresholds are refused") {
    auto s = synthetic();
    s[4].iteration = 30;
    CHECK(error_text([&] { dnft::first_reaching(s, 0.9); }) ==
          "dnft::first_reaching: series[4]: expected iterations in increasing order, got 30 then 30");
    s = synthetic();
    s[2].images = 10;
    CHECK(error_text([&] { dnft::summarize_run(s, std::vector<double>{0.9}); }) ==
          "dnft::summarize_run: series[2]: expected images, model_evals and seconds not to decrease along the run "
          "(iteration 10 to 20)");
    s = synthetic();
    s[5].seconds = 1.0;
    CHECK(error_text([&] { dnft::first_reaching(s, 0.9); }) ==
          "dnft::first_reaching: series[5]: expected images, model_evals and seconds not to decrease along the run "
          "(iteration 40 to 50)");
    s = synthetic();
    s[1].model_evals = -1;
    CHECK(error_text([&] { dnft::first_reaching(s, 0.9); }) ==
          "dnft::first_reaching: series[1]: expected counters >= 0, got iteration 10, images 1280, model_evals -1");
    s = synthetic();
    s[0].seconds = nan_v;
    CHECK(error_text([&] { dnft::first_reaching(s, 0.9); }) ==
          "dnft::first_reaching: series[0]: expected finite seconds >= 0, got nan");
    s = synthetic();
    s[6].value = std::numeric_limits<double>::infinity();
    CHECK(error_text([&] { dnft::first_reaching(s, 0.9); }) ==
          "dnft::first_reaching: series[6]: expected a finite value or NaN (not measured), got inf");
    s = synthetic();
    CHECK(error_text([&] { dnft::first_reaching(s, nan_v); }) ==
          "dnft::first_reaching: threshold: expected a finite value, got nan");
    CHECK(error_text([&] { dnft::summarize_run(s, std::vector<double>{0.9, -std::numeric_limits<double>::infinity()}); }) ==
          "dnft::summarize_run: threshold: expected a finite value, got -inf");
    for (auto& p : s) p.value = nan_v;
    CHECK(error_text([&] { dnft::summarize_run(s, std::vector<double>{0.9}); }) ==
          "dnft::summarize_run: series: expected at least one measured point (a value that is not NaN)");
    CHECK(error_text([&] { dnft::summarize_run(std::span<const dnft::run_point>{}, std::vector<double>{}); }) ==
          "dnft::summarize_run: series: expected at least one measured point (a value that is not NaN)");
  }
}
