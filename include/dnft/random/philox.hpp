// SPDX-License-Identifier: Apache-2.0
// dnft: counter-based random numbers (Philox4x32-10 from Random123), the same on host and device.
#pragma once

#include <cmath>
#include <cstdint>

#include <Random123/philox.h>
#include <Random123/uniform.hpp>

#include "dnft/config.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! Four 32-bit words: a Philox counter or its output.
struct philox_block {
  std::uint32_t v[4];
};

//! @brief Philox4x32-10 (Salmon et al., SC'11) as implemented by Random123: a bijection of a
//! 128-bit counter under a 64-bit key. Pure, stateless, identical on host and device.
DNFT_HOST_DEVICE inline philox_block philox4x32_10(philox_block counter, std::uint32_t key0,
                                                   std::uint32_t key1) noexcept {
  r123::Philox4x32_R<10> gen;
  r123::Philox4x32_R<10>::ctr_type c = {{counter.v[0], counter.v[1], counter.v[2], counter.v[3]}};
  r123::Philox4x32_R<10>::key_type k = {{key0, key1}};
  const auto r = gen(c, k);
  return {{r[0], r[1], r[2], r[3]}};
}

//! Two standard normals.
struct normal_pair {
  float first;
  float second;
};

//! @brief Two standard normals from two 32-bit words by the Box-Muller transform, computed in
//! double from Random123's uniform conversions (u01: (0, 1], uneg11: [-1, 1]) and rounded to float.
//! Written here rather than taken from Random123's boxmuller.hpp, which switches to CUDA's
//! single-precision sincospif in every translation unit nvcc compiles (host code included): the
//! same inline function would then differ between .cpp and .cu files of one program. In double
//! the host and device results agree after rounding to float except in rare last-bit cases.
//! Out of line on GCC host code: inlined into a loop that widens the floats to double, GCC 12's
//! SLP vectoriser dropped the rounding to float (a miscompilation seen at -O2 and -O3), so
//! philox_normal::fill<double> disagreed with operator(). tests/random checks the two agree.
DNFT_HOST_DEVICE DNFT_NOINLINE inline normal_pair box_muller(std::uint32_t w_angle, std::uint32_t w_radius) noexcept {
  constexpr double pi = 3.14159265358979323846;
  const double angle = pi * r123::uneg11<double>(w_angle);
  const double radius = ::sqrt(-2.0 * ::log(r123::u01<double>(w_radius)));
  return {static_cast<float>(radius * ::sin(angle)), static_cast<float>(radius * ::cos(angle))};
}

//! @brief Standard normal numbers as a pure function of (seed, stream, sample, element).
//!
//! Element `d` of sample `i` comes from the Philox call with
//! key = (seed low word, seed high word) and counter = (d / 4, i, stream low, stream high);
//! its four output words give the normals of elements 4q .. 4q+3 by the Box-Muller transform
//! (dnft::box_muller), two words per pair. So noise can be regenerated instead of
//! stored, on any device and any thread count, and two streams never overlap.
//! Values are float (24-bit) normals also when a double tensor is filled.
//!
//! @code
//!   dnft::philox_normal noise{.seed = 42, .stream = dnft::stream_id(iteration, slot)};
//!   float e = noise(i, d);
//! @endcode
struct philox_normal {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;

  //! The four normals of elements 4q .. 4q+3 of `sample`.
  DNFT_HOST_DEVICE void block(std::uint64_t sample, std::uint64_t q, float out[4]) const noexcept {
    const philox_block r = philox4x32_10(
        {{static_cast<std::uint32_t>(q), static_cast<std::uint32_t>(sample), static_cast<std::uint32_t>(stream),
          static_cast<std::uint32_t>(stream >> 32)}},
        static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
    const normal_pair a = box_muller(r.v[0], r.v[1]);
    const normal_pair b = box_muller(r.v[2], r.v[3]);
    out[0] = a.first;
    out[1] = a.second;
    out[2] = b.first;
    out[3] = b.second;
  }

  //! The normal of element `element` of sample `sample`.
  DNFT_HOST_DEVICE float operator()(std::uint64_t sample, std::uint64_t element) const noexcept {
    float b[4];
    block(sample, element / 4, b);
    return b[element % 4];
  }

  //! Writes elements [begin, end) of `sample` to out[0 .. end-begin) (as T).
  template <class T>
  DNFT_HOST_DEVICE void fill(std::uint64_t sample, std::uint64_t begin, std::uint64_t end, T* out) const noexcept {
    std::uint64_t d = begin;
    float b[4];
    if (d % 4 != 0 && d < end) {
      block(sample, d / 4, b);
      for (; d % 4 != 0 && d < end; ++d) *out++ = static_cast<T>(b[d % 4]);
    }
    for (; d + 4 <= end; d += 4) {
      block(sample, d / 4, b);
      out[0] = static_cast<T>(b[0]);
      out[1] = static_cast<T>(b[1]);
      out[2] = static_cast<T>(b[2]);
      out[3] = static_cast<T>(b[3]);
      out += 4;
    }
    if (d < end) {
      block(sample, d / 4, b);
      for (; d < end; ++d) *out++ = static_cast<T>(b[d % 4]);
    }
  }
};

//! Packs two 32-bit indices (e.g. training iteration and time slot) into one stream id.
DNFT_HOST_DEVICE constexpr std::uint64_t stream_id(std::uint32_t hi, std::uint32_t lo) noexcept {
  return (static_cast<std::uint64_t>(hi) << 32) | lo;
}

}  // namespace dnft
