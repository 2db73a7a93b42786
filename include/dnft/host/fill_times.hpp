// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of fill_times.
#pragma once
// IWYU pragma: private

#include <cstdint>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/random.hpp"
#include "dnft/execution.hpp"

namespace dnft {

//! Host backend of fill_times: out[i] = random time number first + i.
template <>
struct fill_times_backend<host_executor> {
  template <class T>
  static void run(const host_executor& ex, const detail::vector_view<T, host_space>& out, std::uint64_t seed,
                  std::uint64_t stream, std::uint64_t first, time_distribution dist, double m, double s) {
    ex.bulk(out.size, 64, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i)
        out[i] = static_cast<T>(detail::random_time(seed, stream, first + std::uint64_t(i), dist, m, s));
    });
  }
};

}  // namespace dnft
