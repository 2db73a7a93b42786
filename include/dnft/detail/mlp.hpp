// SPDX-License-Identifier: Apache-2.0
// dnft: the reference MLP's configuration checks, parameter layout, deterministic initialisation
// and per-element formulas (time features, SiLU and its derivative). The one place they are
// written: the host model (policies/mlp.hpp) and the CUDA model's kernels both call them.
#pragma once
// IWYU pragma: private

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dnft/config.hpp"
#include "dnft/error.hpp"
#include "dnft/policies/mlp_config.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

// ---- configuration and layout (host) ---------------------------------------------------------

//! Throws value_error "dnft::<fn>: config.<field>: expected ..." for the first field out of range.
inline void mlp_validate_config(const mlp_config& c, std::string_view fn) {
  auto need = [&](bool ok, std::string_view name, const std::string& what) {
    if (!ok) fail<value_error>(fn, name, what);
  };
  need(c.dim >= 1, "config.dim", "expected >= 1, got " + std::to_string(c.dim));
  need(c.num_conditions >= 0, "config.num_conditions", "expected >= 0, got " + std::to_string(c.num_conditions));
  need(c.cond_dim >= 1, "config.cond_dim", "expected >= 1, got " + std::to_string(c.cond_dim));
  need(c.time_frequencies >= 1, "config.time_frequencies", "expected >= 1, got " + std::to_string(c.time_frequencies));
  need(c.time_min_frequency > 0 && std::isfinite(c.time_min_frequency), "config.time_min_frequency",
       "expected a finite value > 0, got " + num(c.time_min_frequency));
  need(c.time_max_frequency >= c.time_min_frequency && std::isfinite(c.time_max_frequency),
       "config.time_max_frequency",
       "expected a finite value >= time_min_frequency (" + num(c.time_min_frequency) + "), got " +
           num(c.time_max_frequency));
  need(c.width >= 1, "config.width", "expected >= 1, got " + std::to_string(c.width));
  need(c.depth >= 1, "config.depth", "expected >= 1, got " + std::to_string(c.depth));
}

//! Rows of the network's input column: D + 2F + E.
constexpr index_t mlp_input_features(const mlp_config& c) noexcept {
  return c.dim + 2 * c.time_frequencies + c.cond_dim;
}
//! Inputs of linear layer l (0 .. depth).
constexpr index_t mlp_layer_in(const mlp_config& c, index_t l) noexcept {
  return l == 0 ? mlp_input_features(c) : c.width;
}
//! Outputs of linear layer l (0 .. depth).
constexpr index_t mlp_layer_out(const mlp_config& c, index_t l) noexcept { return l == c.depth ? c.dim : c.width; }

//! Number of parameters: (K + 1) E + the sum over layers of out * in + out.
constexpr index_t mlp_parameter_count(const mlp_config& c) noexcept {
  index_t n = (index_t(c.num_conditions) + 1) * c.cond_dim;
  for (index_t l = 0; l <= c.depth; ++l) n += mlp_layer_out(c, l) * (mlp_layer_in(c, l) + 1);
  return n;
}

//! Appends the named tensors of the flat parameter buffer to `layout`, in storage order:
//! `cond_embedding.weight` (K + 1, E), then for each layer l `layers.l.weight` (out, in) and
//! `layers.l.bias` (out); returns the number of parameters.
inline index_t mlp_build_layout(const mlp_config& c, std::vector<parameter_tensor>& layout) {
  index_t off = 0;
  auto add = [&](std::string name, parameter_kind kind, std::vector<index_t> shape) {
    index_t n = 1;
    for (index_t e : shape) n *= e;
    layout.push_back({std::move(name), kind, std::move(shape), off, n});
    off += n;
  };
  add("cond_embedding.weight", parameter_kind::embedding, {index_t(c.num_conditions) + 1, c.cond_dim});
  for (index_t l = 0; l <= c.depth; ++l) {
    const std::string p = "layers." + std::to_string(l);
    add(p + ".weight", parameter_kind::weight, {mlp_layer_out(c, l), mlp_layer_in(c, l)});
    add(p + ".bias", parameter_kind::bias, {mlp_layer_out(c, l)});
  }
  return off;
}

//! The named tensors of a configuration (see mlp_build_layout).
inline std::vector<parameter_tensor> mlp_layout(const mlp_config& c) {
  std::vector<parameter_tensor> layout;
  mlp_build_layout(c, layout);
  return layout;
}

//! @brief Writes the documented initial parameters (see mlp_policy) into out[0 .. count):
//! tensor p of `layout` draws element n from Philox4x32-10 keyed by c.seed on stream
//! stream_id(0x6d6c70, p); weights and biases uniform in (-1/sqrt(fan_in), 1/sqrt(fan_in)) from
//! word n % 4 of the block at counter (n / 4, 0, stream), the embedding standard normal
//! philox_normal{seed, stream}(0, n). Computed in double and rounded once to Real, so float and
//! double models start from the same values, and the host and CUDA models from identical ones.
template <class Real>
void mlp_initialise(const mlp_config& c, const std::vector<parameter_tensor>& layout, Real* out) {
  for (std::size_t p = 0; p < layout.size(); ++p) {
    const parameter_tensor& pt = layout[p];
    const std::uint64_t stream = stream_id(0x6d6c70u, static_cast<std::uint32_t>(p));
    Real* o = out + pt.offset;
    if (pt.kind == parameter_kind::embedding) {
      philox_normal{c.seed, stream}.fill(0, 0, static_cast<std::uint64_t>(pt.size), o);
      continue;
    }
    // tensor p >= 1 belongs to linear layer (p - 1) / 2
    const double bound = 1.0 / std::sqrt(double(mlp_layer_in(c, static_cast<index_t>((p - 1) / 2))));
    for (index_t n = 0; n < pt.size; ++n) {
      const auto q = static_cast<std::uint64_t>(n / 4);
      const philox_block r = philox4x32_10(
          {{static_cast<std::uint32_t>(q), static_cast<std::uint32_t>(q >> 32), static_cast<std::uint32_t>(stream),
            static_cast<std::uint32_t>(stream >> 32)}},
          static_cast<std::uint32_t>(c.seed), static_cast<std::uint32_t>(c.seed >> 32));
      const double u = (double(r.v[n % 4]) + 0.5) * 0x1p-32;
      o[n] = static_cast<Real>(bound * (2.0 * u - 1.0));
    }
  }
}

//! The angular frequency w_k of time feature k of F: geometric from w_min to w_max.
inline double mlp_frequency(index_t k, index_t F, double w_min, double w_max) noexcept {
  const double r = F > 1 ? double(k) / double(F - 1) : 0.0;
  return w_min * std::pow(w_max / w_min, r);
}

//! The F angular frequencies of a configuration.
inline std::vector<double> mlp_frequencies(const mlp_config& c) {
  std::vector<double> w(static_cast<std::size_t>(c.time_frequencies));
  for (index_t k = 0; k < c.time_frequencies; ++k)
    w[static_cast<std::size_t>(k)] = mlp_frequency(k, c.time_frequencies, c.time_min_frequency, c.time_max_frequency);
  return w;
}

// ---- per-element formulas (host and device) ---------------------------------------------------

//! Time features: sin(w t) and cos(w t), computed in double and rounded once to Real.
template <class Real>
DNFT_HOST_DEVICE DNFT_FORCEINLINE Real mlp_sin_feature(double w, double t) noexcept {
  return static_cast<Real>(std::sin(w * t));
}
template <class Real>
DNFT_HOST_DEVICE DNFT_FORCEINLINE Real mlp_cos_feature(double w, double t) noexcept {
  return static_cast<Real>(std::cos(w * t));
}

//! sigmoid(a) = 1 / (1 + exp(-a)) in Real. The formula of Eigen's logistic for double, which the
//! host model uses; for float the host model uses Eigen's rational approximation of it instead
//! (within a few ulps), so host and device differ there by rounding.
template <class Real>
DNFT_HOST_DEVICE DNFT_FORCEINLINE Real mlp_sigmoid(Real a) noexcept {
  return Real(1) / (Real(1) + std::exp(-a));
}

//! SiLU from its pre-activation a and s = sigmoid(a): h = a s. Written for any operands that
//! support * (scalars in kernels, Eigen arrays in the host model's vectorised loops).
template <class Real, class A, class S>
DNFT_HOST_DEVICE inline auto mlp_silu(const A& a, const S& s) {
  return a * s;
}

//! The SiLU derivative from a and s = sigmoid(a): d h / d a = s (1 + a (1 - s)) (what backward
//! multiplies dL/dh by). Scalars or Eigen arrays, as mlp_silu.
template <class Real, class A, class S>
DNFT_HOST_DEVICE inline auto mlp_silu_grad(const A& a, const S& s) {
  return s * (Real(1) + a * (Real(1) - s));
}

}  // namespace dnft::detail
