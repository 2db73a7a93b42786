// SPDX-License-Identifier: Apache-2.0
// A naive double-precision reference of mlp_policy's forward pass (one sample at a time, plain
// loops), written from the documentation of mlp_config and mlp_policy, for the tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "dnft/policies/mlp.hpp"

namespace dnft_test {

//! The documented angular frequencies w_k of the time features.
inline std::vector<double> mlp_frequencies(const dnft::mlp_config& c) {
  std::vector<double> w(static_cast<std::size_t>(c.time_frequencies));
  for (std::size_t k = 0; k < w.size(); ++k) {
    const double r = w.size() > 1 ? double(k) / double(w.size() - 1) : 0.0;
    w[k] = c.time_min_frequency * std::pow(c.time_max_frequency / c.time_min_frequency, r);
  }
  return w;
}

//! v (B x D, row-major) of an MLP with the given config and flat parameters (any element type),
//! computed sample by sample in double. The parameter order is the documented one:
//! embedding (K+1, E), then per layer weight (out, in) row-major and bias (out).
template <class P>
std::vector<double> mlp_reference(const dnft::mlp_config& c, const P* params, const std::vector<double>& x,
                                  const std::vector<double>& t, const std::vector<int>& cond) {
  const std::size_t D = std::size_t(c.dim), F = std::size_t(c.time_frequencies), E = std::size_t(c.cond_dim),
                    W = std::size_t(c.width), L = std::size_t(c.depth), K1 = std::size_t(c.num_conditions) + 1;
  const std::size_t B = t.size(), in0 = D + 2 * F + E;
  const auto w = mlp_frequencies(c);
  std::vector<double> out(B * D);
  for (std::size_t i = 0; i < B; ++i) {
    std::vector<double> h(in0);
    for (std::size_t d = 0; d < D; ++d) h[d] = x[i * D + d];
    for (std::size_t k = 0; k < F; ++k) {
      h[D + k] = std::sin(w[k] * t[i]);
      h[D + F + k] = std::cos(w[k] * t[i]);
    }
    for (std::size_t e = 0; e < E; ++e) h[D + 2 * F + e] = double(params[std::size_t(cond[i]) * E + e]);
    std::size_t off = K1 * E;
    for (std::size_t l = 0; l <= L; ++l) {
      const std::size_t nin = h.size(), nout = l == L ? D : W;
      const P* Wl = params + off;
      const P* bl = Wl + nout * nin;
      off += nout * nin + nout;
      std::vector<double> a(nout);
      for (std::size_t o = 0; o < nout; ++o) {
        double s = double(bl[o]);
        for (std::size_t j = 0; j < nin; ++j) s += double(Wl[o * nin + j]) * h[j];
        a[o] = l == L ? s : s / (1.0 + std::exp(-s));  // SiLU on hidden layers
      }
      h = std::move(a);
    }
    for (std::size_t d = 0; d < D; ++d) out[i * D + d] = h[d];
  }
  return out;
}

}  // namespace dnft_test
