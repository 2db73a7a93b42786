// SPDX-License-Identifier: Apache-2.0
// dnft: reproducible random training times (uniform, logit-normal) and per-sample random subsets
// of a time grid, all drawn from Philox as pure functions of (seed, stream, index).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dnft/config.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/detail/random.hpp"
#include "dnft/error.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief Random training times t in (0, 1), time number `index` a pure function of
//! (seed, stream, index), independent of the thread count, so a run is reproducible.
//! Uniform times are bit-identical on host and device; logit-normal times go through
//! log, cos and exp, so host and device agree to the accuracy of their math libraries (an ulp or
//! two of a double), not necessarily bit for bit.
//!
//! uniform: t ~ U(0, 1). logit_normal (SD3 training): t = sigmoid(logit_mean + logit_std n),
//! n ~ N(0, 1). The draws use Philox keys of their own (the seed's high word is tagged), so
//! times and the normals of a philox_normal with the same seed and stream are independent.
//! @code
//!   auto ts = dnft::time_sampler::logit_normal(/*seed*/ 1, dnft::stream_id(iteration, 0));
//!   double t = ts(sample);                              // or dnft::fill_times(ex, t_out, ts)
//! @endcode
struct time_sampler {
  time_distribution distribution = time_distribution::uniform;
  double logit_mean = 0.0;  //!< m of the logit-normal distribution (finite)
  double logit_std = 1.0;   //!< s of the logit-normal distribution (finite, >= 0)
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;

  //! Time number `index`.
  DNFT_HOST_DEVICE double operator()(std::uint64_t index) const noexcept {
    return detail::random_time(seed, stream, index, distribution, logit_mean, logit_std);
  }

  //! t ~ U(0, 1).
  DNFT_HOST_DEVICE static constexpr time_sampler uniform(std::uint64_t seed, std::uint64_t stream = 0) noexcept {
    return {time_distribution::uniform, 0.0, 1.0, seed, stream};
  }
  //! t = sigmoid(m + s n), n ~ N(0, 1).
  DNFT_HOST_DEVICE static constexpr time_sampler logit_normal(std::uint64_t seed, std::uint64_t stream = 0,
                                                              double m = 0.0, double s = 1.0) noexcept {
    return {time_distribution::logit_normal, m, s, seed, stream};
  }
};

namespace detail {

inline void validate(const time_sampler& ts, std::string_view fn) {
  if (ts.distribution != time_distribution::uniform && ts.distribution != time_distribution::logit_normal)
    fail<value_error>(fn, "distribution",
                      "expected a dnft::time_distribution enumerator, got " + std::to_string(int(ts.distribution)));
  if (!isfinite(ts.logit_mean))
    fail<value_error>(fn, "logit_mean", "expected a finite value, got " + num(ts.logit_mean));
  if (!(ts.logit_std >= 0) || !isfinite(ts.logit_std))
    fail<value_error>(fn, "logit_std", "expected a finite value >= 0, got " + num(ts.logit_std));
}

}  // namespace detail

//! @brief A uniformly random permutation of the grid indices 0 .. n-1 for one sample, a pure
//! function of (seed, stream, sample) (Fisher-Yates driven by Philox).
//!
//! ALGORITHM.md section 3, step 4: each sample trains on the first train_time_count(n) entries
//! of its own permutation of the N grid times.
//! @throws value_error for n < 1 or n >= 2^32
inline std::vector<index_t> grid_time_permutation(index_t n, std::uint64_t seed, std::uint64_t stream,
                                                  std::uint64_t sample) {
  if (n < 1 || n >= (index_t(1) << 32))
    detail::fail<value_error>("grid_time_permutation", "n", "expected 1 <= n < 2^32, got " + std::to_string(n));
  std::vector<index_t> p(static_cast<std::size_t>(n));
  detail::random_permutation(n, seed, stream, sample, p.data());
  return p;
}

//! @brief int(n * fraction) as the reference computes it in Python (9 of 10 for 0.99): how many
//! grid times each sample trains on.
//! @throws value_error for n < 1, fraction outside (0, 1], or a count of 0
inline index_t train_time_count(index_t n, double fraction = 0.99) {
  constexpr const char* fn = "train_time_count";
  if (n < 1) detail::fail<value_error>(fn, "n", "expected at least 1 grid time, got " + std::to_string(n));
  if (!(fraction > 0 && fraction <= 1))
    detail::fail<value_error>(fn, "fraction", "expected a value in (0, 1], got " + detail::num(fraction));
  const auto k = static_cast<index_t>(std::floor(double(n) * fraction));
  if (k < 1)
    detail::fail<value_error>(fn, "fraction",
                              "int(" + std::to_string(n) + " * " + detail::num(fraction) +
                                  ") is 0: no grid time would be trained; use more grid times or a larger fraction");
  return k;
}

}  // namespace dnft
