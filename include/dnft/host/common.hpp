// SPDX-License-Identifier: Apache-2.0
// dnft: small helpers shared by the host backends (chunking, lane-parallel reductions).
#pragma once
// IWYU pragma: private

#include <type_traits>

#include "dnft/config.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

//! Elements per chunk in host loops that regenerate noise: the chunk is materialised on the
//! stack (4 KiB of float, 8 KiB of double) and stays in L1 while it is used.
inline constexpr index_t host_block = 1024;

//! Elements per chunk of a flat-buffer reduction. Fixed, so the order in which partial sums
//! are combined (chunk by chunk, in index order) does not depend on the thread count.
inline constexpr index_t reduce_block = 8192;

//! The number of chunks of size `block` covering n elements.
constexpr index_t chunk_count(index_t n, index_t block) noexcept { return (n + block - 1) / block; }

//! sum x[k * stride]^2 for k < n, in double, with four independent lanes (vectorisable without
//! reassociating the floating-point sum, so the result is the same at any optimisation level).
template <class T>
double sum_squares(const T* x, index_t n, index_t stride) noexcept {
  double lane[4] = {0, 0, 0, 0};
  index_t k = 0;
  if (stride == 1) {
    for (; k + 4 <= n; k += 4)
      for (int j = 0; j < 4; ++j) lane[j] += double(x[k + j]) * double(x[k + j]);
  }
  for (; k < n; ++k) lane[0] += double(x[k * stride]) * double(x[k * stride]);
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

//! The index of the first non-finite x[k * stride], k < n, or -1. Contiguous float and double
//! data is screened 256 elements at a time without branches (x - x is 0 when x is finite and NaN
//! otherwise, summed in fixed lanes: vectorisable), and only a block that fails is searched
//! element by element.
template <class T>
index_t first_nonfinite(const T* x, index_t n, index_t stride) noexcept {
  index_t k = 0;
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    if (stride == 1) {
      constexpr int W = int(32 / sizeof(T));
      constexpr index_t block = 256;
      for (; k + block <= n; k += block) {
        T acc[W] = {};
        for (index_t i = k; i < k + block; i += W)
          for (int j = 0; j < W; ++j) acc[j] += x[i + j] - x[i + j];
        T all = 0;
        for (int j = 0; j < W; ++j) all += acc[j];
        if (!(all == T(0)))
          for (index_t i = k; i < k + block; ++i)
            if (!isfinite(double(x[i]))) return i;
      }
    }
  }
  for (; k < n; ++k)
    if (!isfinite(double(x[k * stride]))) return k;
  return -1;
}

}  // namespace dnft::detail
