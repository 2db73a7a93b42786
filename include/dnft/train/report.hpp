// SPDX-License-Identifier: Apache-2.0
// dnft: summarising a training run's evaluation series: the first point at which a metric
// reaches a threshold, the cost (iterations, sampled images, model evaluations, seconds) spent
// to get there, final and best values, and cost ratios between two runs.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "dnft/error.hpp"

namespace dnft {

//! @brief One evaluation of a run: where the run stood (counters after `iteration` iterations)
//! and the metric measured there.
struct run_point {
  std::int64_t iteration = 0;    //!< iterations done (0: the starting model)
  std::int64_t images = 0;       //!< sampled images so far
  std::int64_t model_evals = 0;  //!< forward and backward passes so far, per sample
  double seconds = 0;            //!< training seconds so far (evaluation excluded)
  double value = 0;              //!< the metric, e.g. accuracy; NaN: not measured at this point
};

//! A threshold and the first point that reached it (empty: not reached).
struct threshold_result {
  double threshold = 0;
  std::optional<run_point> reached;
};

//! @brief What summarize_run reports about one series.
struct run_summary {
  run_point last;                             //!< the last measured point (its value is the final value)
  run_point best;                             //!< the first point with the largest value
  std::vector<threshold_result> thresholds;   //!< in the order asked for
};

//! @brief Cost ratios a / b of two runs reaching the same threshold (e.g. DiffusionNFT over
//! FlowGRPO: below 1 means a was cheaper). A ratio whose denominator is 0 is NaN.
struct cost_ratio {
  double iterations = 0;
  double images = 0;
  double model_evals = 0;
  double seconds = 0;
};

namespace detail {

//! Checks that a series is in run order: iterations strictly increasing, images, model
//! evaluations and seconds non-decreasing, every counter >= 0 and finite.
inline void validate_series(std::span<const run_point> series, std::string_view fn) {
  for (std::size_t i = 0; i < series.size(); ++i) {
    const run_point& p = series[i];
    const std::string at = "series[" + std::to_string(i) + "]";
    if (p.iteration < 0 || p.images < 0 || p.model_evals < 0)
      fail<value_error>(fn, at, "expected counters >= 0, got iteration " + std::to_string(p.iteration) + ", images " +
                                    std::to_string(p.images) + ", model_evals " + std::to_string(p.model_evals));
    if (!(p.seconds >= 0) || !std::isfinite(p.seconds))
      fail<value_error>(fn, at, "expected finite seconds >= 0, got " + num(p.seconds));
    if (std::isinf(p.value)) fail<value_error>(fn, at, "expected a finite value or NaN (not measured), got " + num(p.value));
    if (i == 0) continue;
    const run_point& q = series[i - 1];
    if (p.iteration <= q.iteration)
      fail<value_error>(fn, at,
                        "expected iterations in increasing order, got " + std::to_string(q.iteration) + " then " +
                            std::to_string(p.iteration));
    if (p.images < q.images || p.model_evals < q.model_evals || p.seconds < q.seconds)
      fail<value_error>(fn, at,
                        "expected images, model_evals and seconds not to decrease along the run (iteration " +
                            std::to_string(q.iteration) + " to " + std::to_string(p.iteration) + ")");
  }
}

inline void validate_threshold(double t, std::string_view fn) {
  if (!std::isfinite(t)) fail<value_error>(fn, "threshold", "expected a finite value, got " + num(t));
}

}  // namespace detail

//! @brief The first point of `series` (in run order) whose value is >= `threshold`; points
//! whose value is NaN are skipped. Empty when no point reaches it.
//! @throws value_error for a non-finite threshold or a series not in run order (see run_point).
inline std::optional<run_point> first_reaching(std::span<const run_point> series, double threshold) {
  constexpr std::string_view fn = "first_reaching";
  detail::validate_threshold(threshold, fn);
  detail::validate_series(series, fn);
  for (const run_point& p : series)
    if (!std::isnan(p.value) && p.value >= threshold) return p;
  return std::nullopt;
}

//! @brief Final value, best value and first crossing of each threshold of one series.
//! @throws value_error when the series has no measured point, is not in run order, or a
//! threshold is not finite.
inline run_summary summarize_run(std::span<const run_point> series, std::span<const double> thresholds) {
  constexpr std::string_view fn = "summarize_run";
  detail::validate_series(series, fn);
  for (double t : thresholds) detail::validate_threshold(t, fn);
  run_summary s;
  bool any = false;
  for (const run_point& p : series) {
    if (std::isnan(p.value)) continue;
    if (!any || p.value > s.best.value) s.best = p;
    s.last = p;
    any = true;
  }
  if (!any) detail::fail<value_error>(fn, "series", "expected at least one measured point (a value that is not NaN)");
  for (double t : thresholds) s.thresholds.push_back({t, first_reaching(series, t)});
  return s;
}

//! @brief a / b for each cost; empty unless both runs reached the threshold.
inline std::optional<cost_ratio> cost_ratio_of(const std::optional<run_point>& a, const std::optional<run_point>& b) {
  if (!a || !b) return std::nullopt;
  const auto div = [](double x, double y) { return y == 0 ? std::numeric_limits<double>::quiet_NaN() : x / y; };
  return cost_ratio{div(double(a->iteration), double(b->iteration)), div(double(a->images), double(b->images)),
                    div(double(a->model_evals), double(b->model_evals)), div(a->seconds, b->seconds)};
}

//! JSON of a point: {"iteration", "images", "model_evals", "seconds", "value"} (NaN as null).
inline nlohmann::ordered_json to_json(const run_point& p) {
  nlohmann::ordered_json j{{"iteration", p.iteration}, {"images", p.images}, {"model_evals", p.model_evals},
                           {"seconds", p.seconds}};
  j["value"] = std::isnan(p.value) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(p.value);
  return j;
}

//! JSON of a summary: {"final", "best", "thresholds": [{"threshold", "reached", "at"?}, ...]}.
inline nlohmann::ordered_json to_json(const run_summary& s) {
  nlohmann::ordered_json th = nlohmann::ordered_json::array();
  for (const auto& t : s.thresholds) {
    nlohmann::ordered_json e{{"threshold", t.threshold}, {"reached", t.reached.has_value()}};
    if (t.reached) e["at"] = to_json(*t.reached);
    th.push_back(e);
  }
  return {{"final", to_json(s.last)}, {"best", to_json(s.best)}, {"thresholds", th}};
}

//! JSON of cost ratios (NaN as null).
inline nlohmann::ordered_json to_json(const cost_ratio& r) {
  const auto v = [](double x) { return std::isnan(x) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(x); };
  return {{"iterations", v(r.iterations)}, {"images", v(r.images)}, {"model_evals", v(r.model_evals)},
          {"seconds", v(r.seconds)}};
}

}  // namespace dnft
