// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of fill_normal, threaded over samples.
#pragma once
// IWYU pragma: private

#include <cstdint>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/random.hpp"
#include "dnft/execution.hpp"
#include "dnft/host/common.hpp"
#include "dnft/random/philox.hpp"

namespace dnft {

//! Host backend of fill_normal: out[i, d] = gen(i, d).
template <>
struct fill_normal_backend<host_executor> {
  template <class T>
  static void run(const host_executor& ex, const detail::batch_view<T, host_space>& out, const philox_normal& gen) {
    const index_t D = out.elements;
    ex.bulk(out.batch, D * 64, [&](index_t b, index_t e) {
      T buf[detail::host_block];
      for (index_t i = b; i < e; ++i) {
        if (out.unit_stride()) {
          gen.fill(std::uint64_t(i), 0, std::uint64_t(D), out.sample(i));
          continue;
        }
        for (index_t d0 = 0; d0 < D; d0 += detail::host_block) {
          const index_t n = D - d0 < detail::host_block ? D - d0 : detail::host_block;
          gen.fill(std::uint64_t(i), std::uint64_t(d0), std::uint64_t(d0 + n), buf);
          for (index_t d = 0; d < n; ++d) out(i, d0 + d) = buf[d];
        }
      }
    });
  }
};

}  // namespace dnft
