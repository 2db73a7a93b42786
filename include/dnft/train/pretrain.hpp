// SPDX-License-Identifier: Apache-2.0
// dnft: pre-training a policy by flow matching with dnft's own loss (ALGORITHM.md section 1).
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/algorithm/fill_times.hpp"
#include "dnft/algorithm/flow_matching_loss.hpp"
#include "dnft/algorithm/forward_noise.hpp"
#include "dnft/algorithm/lincomb.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/schedule/time_sampler.hpp"
#include "dnft/train/common.hpp"

namespace dnft {

//! Settings of flow-matching pre-training.
struct pretrain_options {
  index_t steps = 2000;                                         //!< optimizer steps
  index_t batch = 256;                                          //!< samples per step
  adamw_options optimizer{1e-3, 0.9, 0.999, 0.0, 1e-8, true};   //!< AdamW (lr 1e-3, no weight decay)
  double final_lr_fraction = 0.1;                               //!< cosine decay of lr down to this fraction
  double max_grad_norm = 1.0;
  flow_matching_options loss;                                   //!< time weighting of the loss
  time_distribution times = time_distribution::logit_normal;    //!< SD3's training times
  std::uint64_t seed = 0;
};

//! A source of training data: `f(step, x0 (B, D), conditions (B))` fills one batch.
template <class F, class T, class Cond>
concept data_source = std::invocable<F&, std::uint64_t, tensor_view<T, 2>, std::span<Cond>>;

//! @brief Trains `policy` by flow matching: for each step a batch (x0, c) from `data`, times
//! from `times`, eps from Philox, x_t = (1 - t) x0 + t eps, loss mean w(t) (v - u)^2, AdamW with
//! a cosine learning-rate decay. `on_step(step, loss)` is called after every step.
//! @returns the mean loss over the last 10% of the steps
template <trainable_policy P, class Data, executor Exec = host_executor>
  requires data_source<Data, policy_value_t<P>, condition_t<P>> &&
           std::same_as<policy_space_t<P>, host_space>  // the data source fills host memory
double flow_matching_pretrain(P& policy, Data&& data, const pretrain_options& opt,
                              const std::function<void(index_t, double)>& on_step = {}, Exec ex = {}) {
  using T = policy_value_t<P>;
  using C = condition_t<P>;
  constexpr std::string_view fn = "flow_matching_pretrain";
  if (opt.steps < 1) detail::fail<value_error>(fn, "steps", "expected at least 1");
  if (opt.batch < 1) detail::fail<value_error>(fn, "batch", "expected at least 1");
  detail::require_in_range(opt.final_lr_fraction, 0.0, 1.0, "final_lr_fraction", fn);
  const index_t B = opt.batch, D = index_t(policy.dim()), NP = policy.parameters().extents[0];
  auto x0 = ex.template allocate<T>(B * D), xt = ex.template allocate<T>(B * D), eps = ex.template allocate<T>(B * D),
       v = ex.template allocate<T>(B * D), g = ex.template allocate<T>(B * D), t = ex.template allocate<T>(B);
  auto m = ex.template allocate<T>(NP), s = ex.template allocate<T>(NP);
  lincomb(ex, m.view(), std::array<double, 0>{});
  lincomb(ex, s.view(), std::array<double, 0>{});
  std::vector<C> c(static_cast<std::size_t>(B));
  double tail = 0;
  index_t tail_n = 0;
  const index_t tail_from = opt.steps - std::max<index_t>(1, opt.steps / 10);
  for (index_t k = 0; k < opt.steps; ++k) {
    data(std::uint64_t(k), x0.view(B, D), std::span<C>(c));
    const time_sampler ts{opt.times, 0.0, 1.0, detail::derive_seed(opt.seed, 11), std::uint64_t(k)};
    fill_times(ex, t.view(), ts);
    fill_normal(ex, eps.view(B, D), philox_normal{detail::derive_seed(opt.seed, 12), std::uint64_t(k)});
    forward_noise(ex, x0.view(B, D), eps.view(B, D), t.view(), xt.view(B, D));
    const std::span<const C> cc(c);
    policy.zero_grad();
    policy.forward(xt.view(B, D), t.view(), cc, v.view(B, D));
    const auto st = flow_matching_loss(ex, x0.view(B, D), eps.view(B, D), t.view(), v.view(B, D), g.view(B, D), opt.loss);
    policy.backward(g.view(B, D));
    clip_grad_norm(ex, policy.gradients(), opt.max_grad_norm);
    adamw_options o = opt.optimizer;
    const double progress = double(k) / double(std::max<index_t>(1, opt.steps - 1));
    o.lr *= opt.final_lr_fraction + (1 - opt.final_lr_fraction) * 0.5 * (1 + std::cos(3.14159265358979323846 * progress));
    adamw_step(ex, policy.parameters(), policy.gradients(), m.view(), s.view(), std::int64_t(k + 1), o);
    if (k >= tail_from) {
      tail += st.loss;
      ++tail_n;
    }
    if (on_step) on_step(k, st.loss);
  }
  return tail / double(tail_n);
}

}  // namespace dnft
