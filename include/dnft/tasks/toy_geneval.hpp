// SPDX-License-Identifier: Apache-2.0
// dnft: "toy-GenEval", a small task that mirrors the paper's headline: prompts name a target mode
// of a Gaussian mixture; the base model, pre-trained on mostly wrong labels, follows its prompt
// only about a quarter of the time without guidance; RL with a binary "did it land in the right
// mode" reward fixes that.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dnft/detail/toy_geneval.hpp"
#include "dnft/error.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::toy {

//! The task's definition. Defaults: 8 modes (std 0.3) on a circle of radius 4 in D = 2.
struct geneval_config {
  int modes = 8;                //!< K: number of prompts = number of mixture modes
  index_t dim = 2;              //!< D
  double radius = 4.0;          //!< distance of every mode centre from the origin
  double mode_std = 0.3;        //!< per-dimension standard deviation of a mode
  double reward_radius = 3.0;   //!< in units of mode_std for D = 2; scaled to the same chi coverage for other D
  double own_mode_rate = 0.25;  //!< P(pre-training sample is in its prompt's mode); p = (rate - 1/K) / (1 - 1/K)
  double null_fraction = 0.1;   //!< fraction of pre-training prompts replaced by the null prompt
  std::uint64_t seed = 2025;    //!< places the modes (D > 2) and seeds the pre-training data
};

//! Quantile of the chi distribution with `d` degrees of freedom at probability q: exact for
//! d = 2 (sqrt(-2 ln(1 - q))), Wilson-Hilferty's cube-root approximation otherwise (error below
//! 1% for d >= 3 in the range used here).
inline double chi_quantile(index_t d, double q) {
  if (d == 2) return std::sqrt(-2.0 * std::log1p(-q));
  // z = Phi^{-1}(q) by bisection on erfc (monotone), enough for a threshold.
  double lo = -10, hi = 10;
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < q ? lo : hi) = mid;
  }
  const double z = 0.5 * (lo + hi);
  const double k = double(d), a = 2.0 / (9.0 * k);
  const double c = 1.0 - a + z * std::sqrt(a);
  return std::sqrt(k * c * c * c);
}

//! @brief The task: mode centres, pre-training data, rewards and metrics.
class geneval_task {
 public:
  explicit geneval_task(geneval_config cfg = {}) : cfg_(cfg) {
    constexpr const char* fn = "toy::geneval_task";
    if (cfg.modes < 2) detail::fail<value_error>(fn, "modes", "expected at least 2 modes, got " + std::to_string(cfg.modes));
    if (cfg.dim < 2) detail::fail<value_error>(fn, "dim", "expected D >= 2, got " + std::to_string(cfg.dim));
    if (!(cfg.mode_std > 0)) detail::fail<value_error>(fn, "mode_std", "expected a value > 0");
    if (!(cfg.radius > 0)) detail::fail<value_error>(fn, "radius", "expected a value > 0");
    if (!(cfg.reward_radius > 0)) detail::fail<value_error>(fn, "reward_radius", "expected a value > 0");
    if (!(cfg.own_mode_rate >= 1.0 / cfg.modes && cfg.own_mode_rate <= 1.0))
      detail::fail<value_error>(fn, "own_mode_rate", "expected a value in [1/K, 1]");
    if (!(cfg.null_fraction >= 0 && cfg.null_fraction < 1)) detail::fail<value_error>(fn, "null_fraction", "expected [0, 1)");
    const index_t D = cfg.dim;
    centres_.assign(std::size_t(cfg.modes * D), 0.0);
    if (D == 2) {
      for (int k = 0; k < cfg.modes; ++k) {
        const double a = 2.0 * 3.14159265358979323846 * k / cfg.modes;
        centres_[std::size_t(2 * k)] = cfg.radius * std::cos(a);
        centres_[std::size_t(2 * k + 1)] = cfg.radius * std::sin(a);
      }
    } else {  // random directions (nearly orthogonal for large D), all at the same radius
      const philox_normal g{cfg.seed, 0xC3u};
      for (int k = 0; k < cfg.modes; ++k) {
        double n2 = 0;
        for (index_t d = 0; d < D; ++d) {
          const double v = g(std::uint64_t(k), std::uint64_t(d));
          centres_[std::size_t(k * D + d)] = v;
          n2 += v * v;
        }
        for (index_t d = 0; d < D; ++d) centres_[std::size_t(k * D + d)] *= cfg.radius / std::sqrt(n2);
      }
    }
    const double coverage = 1.0 - std::exp(-0.5 * cfg.reward_radius * cfg.reward_radius);  // chi_2 CDF
    hit_radius_ = cfg.mode_std * (D == 2 ? cfg.reward_radius : chi_quantile(D, coverage));
    p_own_ = (cfg.own_mode_rate - 1.0 / cfg.modes) / (1.0 - 1.0 / cfg.modes);
  }

  const geneval_config& config() const noexcept { return cfg_; }
  int modes() const noexcept { return cfg_.modes; }
  index_t dim() const noexcept { return cfg_.dim; }
  //! The null ("unconditional") prompt id: K.
  int null_prompt() const noexcept { return cfg_.modes; }
  //! Distance from a mode centre within which a sample counts as "in" the mode.
  double hit_radius() const noexcept { return hit_radius_; }
  //! p: the probability that a pre-training sample is drawn from its own prompt's mode.
  double own_mode_probability() const noexcept { return p_own_; }
  std::span<const double> centre(int k) const {
    return std::span<const double>(centres_).subspan(std::size_t(k) * std::size_t(cfg_.dim), std::size_t(cfg_.dim));
  }

  //! Squared distance of x (D values) to mode k's centre.
  template <class T>
  double distance_sq(const T* x, index_t stride, int k) const noexcept {
    return detail::toy_distance_sq(x, stride, centres_.data() + std::size_t(k) * std::size_t(cfg_.dim), cfg_.dim);
  }

  //! The mode x lies in (within hit_radius of its centre), or -1.
  template <class T>
  int mode_of(const T* x, index_t stride = 1) const noexcept {
    return detail::toy_mode_of(x, stride, centres_.data(), cfg_.modes, cfg_.dim, hit_radius_);
  }

  //! The (K, D) mode centres, packed row-major (what a device reward uploads).
  std::span<const double> centres() const noexcept { return centres_; }

  //! @brief Pre-training data: B (x0, prompt) pairs. The prompt is uniform over the K modes;
  //! with probability p the sample comes from the prompt's mode, otherwise from a uniformly
  //! random mode; a fraction null_fraction of prompts is then replaced by the null prompt.
  //! Deterministic in (seed, batch_index).
  template <class T>
  void pretraining_batch(std::uint64_t batch_index, tensor_view<T, 2> x0, std::span<int> prompts) const {
    const index_t B = x0.extent(0), D = x0.extent(1);
    check_batch("toy::geneval_task::pretraining_batch", B, D, prompts.size());
    const philox_normal noise{cfg_.seed, stream_id(0xDA7Au, std::uint32_t(batch_index))};
    for (index_t i = 0; i < B; ++i) {
      const philox_block r = philox4x32_10({{std::uint32_t(i), std::uint32_t(batch_index), 0x9E3779B9u, 0x7F4A7C15u}},
                                           std::uint32_t(cfg_.seed), std::uint32_t(cfg_.seed >> 32));
      const int prompt = int(uniform(r.v[0]) * cfg_.modes) % cfg_.modes;
      const bool own = uniform(r.v[1]) < p_own_;
      const int mode = own ? prompt : int(uniform(r.v[2]) * cfg_.modes) % cfg_.modes;
      const bool null_prompt = uniform(r.v[3]) < cfg_.null_fraction;
      prompts[std::size_t(i)] = null_prompt ? cfg_.modes : prompt;
      for (index_t d = 0; d < D; ++d)
        x0(i, d) = T(centres_[std::size_t(mode * D + d)] + cfg_.mode_std * noise(std::uint64_t(i), std::uint64_t(d)));
    }
  }

  //! Fraction of samples inside their own prompt's mode (the task metric). Null prompts count as misses.
  template <class T, class Space>
  double accuracy(tensor_view<const T, 2, Space> x0, std::span<const int> prompts) const {
    check_batch("toy::geneval_task::accuracy", x0.extent(0), x0.extent(1), prompts.size());
    index_t hit = 0;
    for (index_t i = 0; i < x0.extent(0); ++i)
      if (prompts[std::size_t(i)] < cfg_.modes && mode_of(&x0(i, 0), x0.stride(1)) == prompts[std::size_t(i)]) ++hit;
    return double(hit) / double(x0.extent(0));
  }

  //! Fraction of samples inside any mode (sample quality: drops first when training collapses).
  template <class T, class Space>
  double in_any_mode(tensor_view<const T, 2, Space> x0) const {
    index_t hit = 0;
    for (index_t i = 0; i < x0.extent(0); ++i)
      if (mode_of(&x0(i, 0), x0.stride(1)) >= 0) ++hit;
    return double(hit) / double(x0.extent(0));
  }

 //! Throws shape_error unless x0 is (B, dim()) and there are B prompts.
  void check_batch(const char* fn, index_t b, index_t d, std::size_t n) const {
    if (d != cfg_.dim)
      detail::fail<shape_error>(fn, "x0", "expected " + std::to_string(cfg_.dim) + " elements per sample, got " + std::to_string(d));
    if (index_t(n) != b)
      detail::fail<shape_error>(fn, "prompts", "expected one prompt per sample (" + std::to_string(b) + "), got " + std::to_string(n));
  }

 private:
  static double uniform(std::uint32_t w) noexcept { return (double(w) + 0.5) / 4294967296.0; }

  geneval_config cfg_;
  std::vector<double> centres_;
  double hit_radius_ = 0;
  double p_own_ = 0;
};

//! @brief Binary reward of toy-GenEval: 1 when the sample lands in its prompt's mode, else 0.
//! A black box as far as training is concerned.
struct hit_reward {
  const geneval_task* task;
  template <class T, class Space>
  void operator()(tensor_view<const T, 2, Space> x0, std::span<const int> prompts, std::span<double> out) const {
    task->check_batch("toy::hit_reward", x0.extent(0), x0.extent(1), prompts.size());
    for (index_t i = 0; i < x0.extent(0); ++i)
      out[std::size_t(i)] = detail::toy_hit_reward(&x0(i, 0), x0.stride(1), prompts[std::size_t(i)],
                                                   task->centres().data(), task->modes(), task->dim(),
                                                   task->hit_radius());
  }
};

//! @brief Smooth reward of toy-GenEval: minus the distance to the prompt's mode centre (in units
//! of mode_std).
struct distance_reward {
  const geneval_task* task;
  template <class T, class Space>
  void operator()(tensor_view<const T, 2, Space> x0, std::span<const int> prompts, std::span<double> out) const {
    task->check_batch("toy::distance_reward", x0.extent(0), x0.extent(1), prompts.size());
    for (index_t i = 0; i < x0.extent(0); ++i)
      out[std::size_t(i)] = detail::toy_distance_reward(&x0(i, 0), x0.stride(1), prompts[std::size_t(i)],
                                                        task->centres().data(), task->modes(), task->dim(),
                                                        task->config().mode_std);
  }
};

}  // namespace dnft::toy
