// SPDX-License-Identifier: Apache-2.0
// The toy-GenEval demo: the fine-tuning runs of DiffusionNFT and FlowGRPO, written once as
// templates over the policy, the reward and the executor, and instantiated for the host
// (train.cpp: dnft::mlp_policy, dnft::toy::hit_reward, host_executor) and, in a CUDA build, for
// the device (train_cuda.cu: cuda::mlp_policy, cuda::toy::geneval_reward, cuda::executor).
// Eigen-free, so nvcc compiles it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "demo.hpp"
#include "dnft/io/metrics.hpp"
#include "dnft/solvers/solvers.hpp"
#include "dnft/tasks/toy_geneval_eval.hpp"
#include "dnft/train/flow_grpo_trainer.hpp"
#include "dnft/train/nft_trainer.hpp"

namespace geneval_demo::methods {

namespace fs = std::filesystem;

inline constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

//! G prompts per iteration, cycling through the K prompts.
struct round_robin {
  int modes = 8;
  void operator()(std::uint64_t it, std::span<int> out) const {
    for (std::size_t g = 0; g < out.size(); ++g) out[g] = int((it * out.size() + g) % std::size_t(modes));
  }
};

//! DiffusionNFT's sampler, chosen at run time (so the trainer is compiled once), running its
//! element-wise work on Exec.
template <class Exec>
struct any_solver {
  std::variant<dnft::dpm_solver<Exec>, dnft::euler_solver<Exec>, dnft::heun_solver<Exec>, dnft::flow_sde_solver<Exec>,
               dnft::ddim_solver<Exec>>
      s;
  template <dnft::velocity_field P, dnft::tensor_like X>
  void sample(P& field, X&& x, dnft::condition_span_t<P> c, std::span<const double> grid) {
    std::visit([&](auto& solver) { solver.sample(field, x, c, grid); }, s);
  }
};

//! The sampler --solver names, on `ex`.
template <class Exec>
any_solver<Exec> make_solver(const settings& s, Exec ex) {
  const std::uint64_t seed = dnft::detail::derive_seed(s.seed, 100);
  if (s.solver == "dpm2") return {dnft::dpm_solver<Exec>{2, true, ex}};
  if (s.solver == "dpm1") return {dnft::dpm_solver<Exec>{1, true, ex}};
  if (s.solver == "euler") return {dnft::euler_solver<Exec>{ex}};
  if (s.solver == "heun") return {dnft::heun_solver<Exec>{ex}};
  if (s.solver == "sde") return {dnft::flow_sde_solver<Exec>{s.noise_level, seed, 0, ex}};
  return {dnft::ddim_solver<Exec>{s.ddim_eta, seed, 0, ex}};
}

//! --adv-mode as an advantage_mode.
inline dnft::advantage_mode adv_mode_of(const std::string& m) {
  if (m == "positive_only") return dnft::advantage_mode::positive_only;
  if (m == "negative_only") return dnft::advantage_mode::negative_only;
  if (m == "one_only") return dnft::advantage_mode::one_only;
  if (m == "binary") return dnft::advantage_mode::binary;
  return dnft::advantage_mode::all;
}

//! --train-times as a train_times.
inline dnft::train_times train_times_of(const std::string& t) {
  if (t == "uniform") return dnft::train_times::uniform;
  if (t == "logit_normal") return dnft::train_times::logit_normal;
  return dnft::train_times::grid;
}

//! DiffusionNFT's trainer settings.
inline dnft::nft_config nft_config_of(const settings& s) {
  dnft::nft_config c;
  c.prompts_per_iteration = s.prompts_per_iteration;
  c.group_size = s.group_size;
  c.sampling_steps = s.sampling_steps;
  c.optimizer.lr = s.lr;
  c.seed = s.seed;
  c.loss = s.adaptive_weight ? dnft::nft_options{} : dnft::nft_options::plain_velocity();
  c.loss.beta = s.beta;
  c.loss.kl_weight = s.kl_weight;
  c.loss.mode = adv_mode_of(s.adv_mode);
  c.old_decay = s.decay_schedule.empty()
                    ? dnft::decay_schedule::of_type(s.decay)
                    : dnft::decay_schedule{s.decay_schedule[0], s.decay_schedule[1], s.decay_schedule[2]};
  c.times = train_times_of(s.train_times);
  return c;
}

//! FlowGRPO's trainer settings.
inline dnft::flow_grpo_config grpo_config_of(const settings& s) {
  dnft::flow_grpo_config c;
  c.prompts_per_iteration = s.prompts_per_iteration;
  c.group_size = s.group_size;
  c.sampling_steps = s.sampling_steps;
  c.optimizer.lr = s.lr;
  c.seed = s.seed;
  c.loss.clip_range = s.clip_range;
  c.loss.kl_weight = s.grpo_kl_weight;
  c.noise_level = s.noise_level;
  c.guidance = s.guidance;
  c.minibatches = s.grpo_minibatches;
  return c;
}

//! The evaluation protocol with classifier-free guidance `guidance` (1: none).
inline dnft::toy::eval_options eval_options_of(double guidance) {
  dnft::toy::eval_options o;
  o.guidance = guidance;
  return o;
}

//! Model evaluations per sampled image of a method (to guess how long a method not started yet
//! takes from the speed of the current one; forward and backward passes differ in cost).
inline double evals_per_image(const settings& s, bool nft) {
  const double n = s.sampling_steps;
  const double slots = double(dnft::train_time_count(dnft::index_t(s.sampling_steps), 0.99));
  if (nft) return (s.solver == "heun" ? 2 * n - 1 : n) + slots * (s.kl_weight > 0 ? 4 : 3);
  const double rows = s.guidance != 1.0 ? 2 : 1;
  return n * rows + slots * (2 * rows + (s.grpo_kl_weight > 0 ? rows : 0));
}

//! Trains one method for s.iterations() iterations, evaluating every s.eval_every iterations
//! and at the end (on `ex`, the trainer's executor); writes <out>/<key>_metrics.{csv,jsonl}.
//! `pending` estimates the iterations of methods still to come, in units of this method's
//! iterations (for the ETA).
template <class Trainer, class Exec>
void run_method(Trainer& tr, method_run& run, const settings& s, const dnft::toy::geneval_task& task,
                const base_info& base, double pending, clock_type::time_point start, Exec ex) {
  using policy_t = std::remove_cvref_t<decltype(tr.policy())>;
  const std::int64_t iterations = s.iterations();
  dnft::io::metrics_writer csv(fs::path(s.out) / (run.key + "_metrics.csv"));
  dnft::io::metrics_writer jsonl(fs::path(s.out) / (run.key + "_metrics.jsonl"));
  const auto t0 = clock_type::now();

  // CSV rows carry every column (NaN where not evaluated); JSON lines only what was measured.
  const auto eval_columns = [](dnft::io::metric_row& row, const series& e, double acc, double any) {
    const std::string suffix = e.guidance != 1.0 ? "_guided" : "";
    row.emplace_back("eval_accuracy" + suffix, acc);
    row.emplace_back("eval_in_any_mode" + suffix, any);
  };
  const auto write = [&](const dnft::io::metric_row& row) {
    csv.write(row);
    dnft::io::metric_row measured = row;
    std::erase_if(measured, [](const auto& kv) { return std::isnan(kv.second); });
    jsonl.write(measured);
  };

  {  // iteration 0: the base model
    dnft::io::metric_row row = typename Trainer::stats_type{}.row();
    for (auto& [name, v] : row) v = (name == "iteration" || name == "images" || name == "model_evals") ? 0.0 : nan_v;
    row.emplace_back("train_seconds", 0.0);
    for (auto& e : run.evals) {
      const accuracy& a = e.guidance != 1.0 ? base.guided : base.unguided;
      e.points.push_back({0, 0, 0, 0.0, a.accuracy});
      e.in_any_mode.push_back(a.in_any_mode);
      eval_columns(row, e, a.accuracy, a.in_any_mode);
    }
    write(row);
  }

  for (std::int64_t it = 1; it <= iterations; ++it) {
    const auto st = tr.step();
    run.train_seconds += st.seconds_total;
    dnft::io::metric_row row = st.row();
    row.emplace_back("train_seconds", run.train_seconds);
    const bool evaluate = it % s.eval_every == 0 || it == iterations;
    std::string accs;
    for (auto& e : run.evals) {
      if (!evaluate) {
        eval_columns(row, e, nan_v, nan_v);
        continue;
      }
      const auto te = clock_type::now();
      const bool last = it == iterations;
      std::optional<policy_t> ema;
      if (s.eval_ema && tr.ema_policy()) ema.emplace(*tr.ema_policy());
      const auto r = dnft::toy::evaluate(ema ? *ema : tr.policy(), task, eval_options_of(e.guidance),
                                         last ? &e.final_samples : nullptr, last ? &e.final_prompts : nullptr, ex);
      run.eval_seconds += seconds_since(te);
      e.points.push_back({st.iteration, st.images, st.model_evals, run.train_seconds, r.accuracy});
      e.in_any_mode.push_back(r.in_any_mode);
      eval_columns(row, e, r.accuracy, r.in_any_mode);
      accs += std::string(accs.empty() ? "" : "  ") + (e.guidance != 1.0 ? "acc(cfg) " : "acc ") +
              fmt("%.3f", r.accuracy) + fmt(" (in a mode %.2f)", r.in_any_mode);
    }
    write(row);
    if (evaluate) {
      const double rate = seconds_since(t0) / double(it);
      const double eta = rate * (double(iterations - it) + pending * double(iterations));
      std::printf("  %-4s it %4lld/%lld  images %6lld  %s  reward %.3f  train %5.1f s  elapsed %s  eta %s\n",
                  run.key.c_str(), static_cast<long long>(it), static_cast<long long>(iterations),
                  static_cast<long long>(st.images), accs.c_str(), st.reward_mean, run.train_seconds,
                  duration(seconds_since(start)).c_str(), duration(eta).c_str());
      std::fflush(stdout);
    }
    run.iterations = st.iteration;
    run.images = st.images;
    run.model_evals = st.model_evals;
  }
  run.wall_seconds = seconds_since(t0);
}

//! @brief Fine-tunes `policy` (the base model) with the methods the settings ask for, one after
//! the other, each from the base: the trainers, their samplers and the evaluations run on `ex`,
//! the rewards are `reward`'s.
template <class Policy, class Reward, class Exec>
std::vector<method_run> run_methods(const settings& s, const dnft::toy::geneval_task& task, const base_info& base,
                                    const Policy& policy, const Reward& reward, Exec ex, clock_type::time_point start) {
  std::vector<method_run> runs;
  const double nft_cost = evals_per_image(s, true), grpo_cost = evals_per_image(s, false);
  if (s.run_nft()) {
    method_run r;
    r.key = "nft";
    r.label = "DiffusionNFT";
    r.evals.push_back({"nft", "DiffusionNFT (no guidance)", 1.0, {}, {}, {}, {}});
    if (s.nft_guidance_eval)
      r.evals.push_back({"nft_guided", "DiffusionNFT (guidance " + fmt("%g", s.guidance) + ")", s.guidance, {}, {}, {}, {}});
    const auto cfg = nft_config_of(s);
    r.config = dnft::detail::to_json(cfg);
    r.config["solver"] = s.solver;
    const std::string decay = s.decay_schedule.empty()
                                  ? "decay type " + std::to_string(s.decay)
                                  : "decay schedule " + fmt("%g,", s.decay_schedule[0]) +
                                        fmt("%g,", s.decay_schedule[1]) + fmt("%g", s.decay_schedule[2]);
    std::printf("DiffusionNFT: %s sampler, %d steps, lr %g, beta %g, %s, KL %g, advantages %s, %s, "
                "%s training times, no guidance\n",
                s.solver.c_str(), s.sampling_steps, s.lr, s.beta, decay.c_str(), s.kl_weight, s.adv_mode.c_str(),
                s.adaptive_weight ? "adaptive weight" : "plain velocity loss", s.train_times.c_str());
    std::fflush(stdout);
    dnft::nft_trainer tr(policy, make_solver(s, ex), reward, round_robin{s.prompts}, cfg, ex);
    run_method(tr, r, s, task, base, s.run_grpo() ? grpo_cost / nft_cost : 0.0, start, ex);
    runs.push_back(std::move(r));
  }
  if (s.run_grpo()) {
    method_run r;
    r.key = "grpo";
    r.label = "FlowGRPO";
    r.evals.push_back({"grpo_guided", "FlowGRPO (guidance " + fmt("%g", s.guidance) + ")", s.guidance, {}, {}, {}, {}});
    r.evals.push_back({"grpo", "FlowGRPO (no guidance)", 1.0, {}, {}, {}, {}});
    const auto cfg = grpo_config_of(s);
    r.config = dnft::detail::to_json(cfg);
    std::printf("FlowGRPO: flow SDE (noise level %g), %d steps, lr %g, clip range %g, KL %g, guidance %g, %d minibatch(es)\n",
                s.noise_level, s.sampling_steps, s.lr, s.clip_range, s.grpo_kl_weight, s.guidance, s.grpo_minibatches);
    std::fflush(stdout);
    dnft::flow_grpo_trainer tr(policy, reward, round_robin{s.prompts}, cfg, ex);
    run_method(tr, r, s, task, base, 0.0, start, ex);
    runs.push_back(std::move(r));
  }
  return runs;
}

}  // namespace geneval_demo::methods
