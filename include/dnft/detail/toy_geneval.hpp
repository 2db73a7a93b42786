// SPDX-License-Identifier: Apache-2.0
// dnft: the per-sample formulas of toy-GenEval (distance to a mode, the mode a sample lies in,
// the hit and distance rewards), written once for the host task and the CUDA reward kernel.
#pragma once

#include <cmath>

#include "dnft/config.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

//! Squared distance of x (D values, `stride` apart) to the centre c (D packed doubles).
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE double toy_distance_sq(const T* x, index_t stride, const double* c, index_t dim) {
  double s = 0;
  for (index_t d = 0; d < dim; ++d) {
    const double e = double(x[d * stride]) - c[d];
    s += e * e;
  }
  return s;
}

//! The mode (index into the K packed (K, D) centres) x lies in: the nearest centre closer than
//! hit_radius, or -1.
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE int toy_mode_of(const T* x, index_t stride, const double* centres, int modes,
                                                  index_t dim, double hit_radius) {
  int best = -1;
  double bd = hit_radius * hit_radius;
  for (int k = 0; k < modes; ++k) {
    const double d2 = toy_distance_sq(x, stride, centres + index_t(k) * dim, dim);
    if (d2 < bd) {
      bd = d2;
      best = k;
    }
  }
  return best;
}

//! The hit reward of one sample: 1 when it lies in its prompt's mode, else 0 (the null prompt,
//! id >= modes, always scores 0).
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE double toy_hit_reward(const T* x, index_t stride, int prompt, const double* centres,
                                                        int modes, index_t dim, double hit_radius) {
  return prompt >= 0 && prompt < modes && toy_mode_of(x, stride, centres, modes, dim, hit_radius) == prompt ? 1.0 : 0.0;
}

//! The distance reward of one sample: minus its distance to its prompt's mode centre in units of
//! mode_std (mode 0 for the null prompt).
template <class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE double toy_distance_reward(const T* x, index_t stride, int prompt,
                                                             const double* centres, int modes, index_t dim,
                                                             double mode_std) {
  const int k = prompt >= 0 && prompt < modes ? prompt : 0;
  return -std::sqrt(toy_distance_sq(x, stride, centres + index_t(k) * dim, dim)) / mode_std;
}

}  // namespace dnft::detail
