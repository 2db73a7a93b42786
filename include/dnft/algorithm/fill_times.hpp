// SPDX-License-Identifier: Apache-2.0
// dnft: fill_times, draws a batch of random training times from a time_sampler.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/random.hpp"
#include "dnft/host/fill_times.hpp"
#include "dnft/schedule/time_sampler.hpp"

namespace dnft {

//! @brief Writes out[i] = sampler(first + i): one random training time per sample.
//! @param ex       executor
//! @param out      (B) output times (floating point)
//! @param sampler  the distribution and its (seed, stream)
//! @param first    the index of the first draw (e.g. the global index of the batch's first sample)
//! @throws value_error for an invalid sampler, shape_error for an empty output, layout_error
//!         for an output with stride 0
template <executor Exec, tensor_like Out>
void fill_times(const Exec& ex, Out&& out, const time_sampler& sampler, std::uint64_t first = 0) {
  constexpr std::string_view fn = "fill_times";
  using E = std::remove_cvref_t<Exec>;
  detail::validate(sampler, fn);
  const auto v = detail::vector_arg<E>(out, fn, "out");
  using T = typename decltype(v)::element_type;
  static_assert(!std::is_const_v<T> && std::is_floating_point_v<T>,
                "dnft::fill_times: out must be a writable rank-1 tensor of floating-point values");
  if (v.size <= 0) detail::fail<shape_error>(fn, "out", "expected at least one time, got 0");
  detail::require_distinct(v, fn, "out");
  fill_times_backend<E>::run(ex, v, sampler.seed, sampler.stream, first, sampler.distribution, sampler.logit_mean,
                             sampler.logit_std);
}

}  // namespace dnft
