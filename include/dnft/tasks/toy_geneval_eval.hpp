// SPDX-License-Identifier: Apache-2.0
// dnft: the toy-GenEval metric: accuracy of a policy under the evaluation sampler (a 40-step
// Euler ODE on the shifted grid) on a fixed held-out set of noises.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/concepts/policy.hpp"
#include "dnft/execution.hpp"
#include "dnft/schedule/time_grid.hpp"
#include "dnft/solvers/euler.hpp"
#include "dnft/solvers/guidance.hpp"
#include "dnft/tasks/toy_geneval.hpp"
#include "dnft/train/common.hpp"

namespace dnft::toy {

//! Settings of the evaluation.
struct eval_options {
  index_t per_prompt = 64;      //!< held-out noises per prompt (B = K * per_prompt)
  index_t steps = 40;           //!< Euler steps
  double grid_shift = 3.0;      //!< of the SD3 shifted grid
  double guidance = 1.0;        //!< classifier-free guidance (1 = none)
  std::uint64_t seed = 0xE7A1;  //!< the held-out noise set (fixed across a run)
};

struct eval_result {
  double accuracy = 0;     //!< fraction in their prompt's mode
  double in_any_mode = 0;  //!< fraction in any mode (sample quality)
};

//! @brief Samples the held-out set with `field` (prompt k for rows k * per_prompt ...) and scores
//! it. `samples` (optional) receives the (B, D) samples and `prompts` their prompts.
template <guidable_field P, executor Exec = host_executor>
  requires std::same_as<condition_t<P>, int>
eval_result evaluate(P& field, const geneval_task& task, const eval_options& opt = {}, std::vector<policy_value_t<P>>* samples = nullptr,
                     std::vector<int>* prompts = nullptr, Exec ex = {}) {
  using T = policy_value_t<P>;
  const index_t K = task.modes(), B = K * opt.per_prompt, D = task.dim();
  auto x = ex.template allocate<T>(B * D);
  std::vector<int> c(static_cast<std::size_t>(B));
  for (index_t i = 0; i < B; ++i) c[std::size_t(i)] = int(i / opt.per_prompt);
  fill_normal(ex, x.view(B, D), philox_normal{opt.seed, 0});
  const auto grid = shifted_sigma_grid(opt.steps, opt.grid_shift);
  euler_solver<Exec> euler{ex};
  if (opt.guidance != 1.0) {
    guided_field<P, Exec> g(field, opt.guidance, ex);
    euler.sample(g, x.view(B, D), std::span<const int>(c), std::span<const double>(grid));
  } else {
    euler.sample(field, x.view(B, D), std::span<const int>(c), std::span<const double>(grid));
  }
  std::vector<T> host(static_cast<std::size_t>(B * D));
  detail::copy_to_host(ex, x.data(), host.data(), B * D);
  const auto hv = make_view(static_cast<const T*>(host.data()), {B, D});
  eval_result r{task.accuracy(hv, std::span<const int>(c)), task.in_any_mode(hv)};
  if (samples) *samples = std::move(host);
  if (prompts) *prompts = std::move(c);
  return r;
}

}  // namespace dnft::toy
