// SPDX-License-Identifier: Apache-2.0
// dnft: counter-based draws beyond normals: uniform doubles, random training times and grid
// permutations, as pure functions of (seed, stream, index). Usable in host and device code.
#pragma once
// IWYU pragma: private

#include <cmath>
#include <cstdint>

#include "dnft/config.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! How random training times are drawn (ALGORITHM.md sections 1 and 3).
enum class time_distribution {
  uniform,      //!< t ~ U(0, 1)
  logit_normal  //!< t = sigmoid(m + s n), n ~ N(0, 1) (SD3 training; m = 0, s = 1 by default)
};

}  // namespace dnft

namespace dnft::detail {

//! Tags xor-ed into the high key word, so that times and permutations drawn with the same seed
//! and stream as a philox_normal use other Philox keys than its normals (independent draws).
inline constexpr std::uint32_t time_key_tag = 0x74696d65u;         // "time"
inline constexpr std::uint32_t permutation_key_tag = 0x7065726du;  // "perm"

//! A double in the open interval (0, 1) from the 53 high bits of the 64-bit word (hi, lo):
//! (k + 1/2) 2^-53, k in [0, 2^53).
DNFT_HOST_DEVICE constexpr double u01_open(std::uint32_t hi, std::uint32_t lo) noexcept {
  const std::uint64_t k = ((static_cast<std::uint64_t>(hi) << 32) | lo) >> 11;
  return (static_cast<double>(k) + 0.5) * 0x1p-53;
}

//! The four Philox words of draw `index` of (seed, stream) under key tag `tag`:
//! counter = (index low, index high, stream low, stream high), key = (seed low, seed high ^ tag).
DNFT_HOST_DEVICE inline philox_block tagged_block(std::uint64_t seed, std::uint64_t stream, std::uint64_t index,
                                                  std::uint32_t tag) noexcept {
  return philox4x32_10({{static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                         static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32) ^ tag);
}

//! 1 / (1 + exp(-z)), in [0, 1] for every z (0 and 1 reached only through rounding).
DNFT_HOST_DEVICE inline double sigmoid(double z) noexcept { return 1.0 / (1.0 + std::exp(-z)); }

//! Random training time number `index` of (seed, stream): uniform uses the first 64 bits of the
//! Philox block; logit-normal turns both 64-bit halves into one normal n by Box-Muller in double
//! (n = sqrt(-2 ln u1) cos(2 pi u2)) and returns sigmoid(m + s n).
DNFT_HOST_DEVICE inline double random_time(std::uint64_t seed, std::uint64_t stream, std::uint64_t index,
                                           time_distribution dist, double m, double s) noexcept {
  const philox_block r = tagged_block(seed, stream, index, time_key_tag);
  const double u1 = u01_open(r.v[0], r.v[1]);
  if (dist == time_distribution::uniform) return u1;
  const double u2 = u01_open(r.v[2], r.v[3]);
  const double n = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  return sigmoid(m + s * n);
}

//! Writes a uniformly random permutation of 0 .. n-1 to out[0 .. n) (Fisher-Yates; the swap
//! partner of position k is floor(w_k (k + 1) / 2^32) for the 32-bit Philox word w_k of
//! counter (k / 4, sample, stream) under key (seed, seed high ^ "perm"); n < 2^32).
template <class Index>
DNFT_HOST_DEVICE void random_permutation(Index n, std::uint64_t seed, std::uint64_t stream, std::uint64_t sample,
                                         Index* out) noexcept {
  for (Index k = 0; k < n; ++k) out[k] = k;
  if (n < 2) return;
  philox_block r{};
  for (Index k = n - 1; k >= 1; --k) {
    const auto uk = static_cast<std::uint64_t>(k);
    if (k == n - 1 || uk % 4 == 3) {
      r = philox4x32_10({{static_cast<std::uint32_t>(uk / 4), static_cast<std::uint32_t>(sample),
                          static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}},
                        static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32) ^ permutation_key_tag);
    }
    const auto j = static_cast<Index>((static_cast<std::uint64_t>(r.v[uk % 4]) * (uk + 1)) >> 32);
    const Index tmp = out[k];
    out[k] = out[j];
    out[j] = tmp;
  }
}

}  // namespace dnft::detail

namespace dnft {

//! @brief The backend of fill_normal for executor type `Exec`: specialised in
//! host/fill_normal.hpp (host_executor) and cuda/fill_normal.cuh (cuda::executor).
template <class Exec>
struct fill_normal_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::fill_normal: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

//! @brief The backend of fill_times for executor type `Exec`: specialised in host/fill_times.hpp
//! (host_executor) and cuda/fill_times.cuh (cuda::executor).
template <class Exec>
struct fill_times_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::fill_times: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft
