// SPDX-License-Identifier: Apache-2.0
// The toy-GenEval demo, training half: the base model (pre-trained by flow matching, cached as a
// safetensors file keyed by every setting that changes it) and the fine-tuning runs of
// DiffusionNFT and FlowGRPO with their evaluations, metrics files and progress lines.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <Eigen/Core>

#include "demo.hpp"
#include "dnft/io/metrics.hpp"
#include "dnft/io/safetensors.hpp"
#include "dnft/policies/mlp.hpp"
#include "dnft/solvers/solvers.hpp"
#include "dnft/tasks/toy_geneval_eval.hpp"
#include "dnft/train/flow_grpo_trainer.hpp"
#include "dnft/train/nft_trainer.hpp"
#include "dnft/train/pretrain.hpp"

namespace geneval_demo {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using policy_t = dnft::mlp_policy<float>;

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

//! G prompts per iteration, cycling through the K prompts.
struct round_robin {
  int modes = 8;
  void operator()(std::uint64_t it, std::span<int> out) const {
    for (std::size_t g = 0; g < out.size(); ++g) out[g] = int((it * out.size() + g) % std::size_t(modes));
  }
};

//! DiffusionNFT's sampler, chosen at run time (so the trainer is compiled once).
struct any_solver {
  std::variant<dnft::dpm_solver<>, dnft::euler_solver<>, dnft::heun_solver<>, dnft::flow_sde_solver<>, dnft::ddim_solver<>>
      s;
  template <dnft::velocity_field P, dnft::tensor_like X>
  void sample(P& field, X&& x, dnft::condition_span_t<P> c, std::span<const double> grid) {
    std::visit([&](auto& solver) { solver.sample(field, x, c, grid); }, s);
  }
};

any_solver make_solver(const settings& s) {
  const std::uint64_t seed = dnft::detail::derive_seed(s.seed, 100);
  if (s.solver == "dpm2") return {dnft::dpm_solver<>{}};
  if (s.solver == "dpm1") return {dnft::dpm_solver<>{1}};
  if (s.solver == "euler") return {dnft::euler_solver<>{}};
  if (s.solver == "heun") return {dnft::heun_solver<>{}};
  if (s.solver == "sde") return {dnft::flow_sde_solver<>{s.noise_level, seed}};
  return {dnft::ddim_solver<>{s.ddim_eta, seed}};
}

dnft::advantage_mode adv_mode_of(const std::string& m) {
  if (m == "positive_only") return dnft::advantage_mode::positive_only;
  if (m == "negative_only") return dnft::advantage_mode::negative_only;
  if (m == "one_only") return dnft::advantage_mode::one_only;
  if (m == "binary") return dnft::advantage_mode::binary;
  return dnft::advantage_mode::all;
}

dnft::train_times train_times_of(const std::string& t) {
  if (t == "uniform") return dnft::train_times::uniform;
  if (t == "logit_normal") return dnft::train_times::logit_normal;
  return dnft::train_times::grid;
}

dnft::nft_config nft_config_of(const settings& s) {
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
  c.old_decay = dnft::decay_schedule::of_type(s.decay);
  c.times = train_times_of(s.train_times);
  return c;
}

dnft::flow_grpo_config grpo_config_of(const settings& s) {
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
  return c;
}

// ---- the base model and its cache ---------------------------------------------------------------

dnft::mlp_config mlp_config_of(const settings& s) {
  dnft::mlp_config m;
  m.dim = s.dim;
  m.num_conditions = s.prompts;
  m.width = s.width;
  m.depth = s.depth;
  m.seed = s.base_seed;
  return m;
}

dnft::pretrain_options pretrain_options_of(const settings& s) {
  dnft::pretrain_options p;
  p.steps = s.pretrain_steps;
  p.batch = s.pretrain_batch;
  p.optimizer.lr = s.pretrain_lr;
  p.seed = s.pretrain_seed;
  return p;
}

//! Every setting that changes the pre-trained base model (the thread count does not).
json base_key(const dnft::toy::geneval_config& t, const dnft::mlp_config& m, const dnft::pretrain_options& p) {
  return {{"format", "dnft.geneval_demo.base/1"},
          {"real", "float32"},
          {"task", {{"modes", t.modes}, {"dim", t.dim}, {"radius", t.radius}, {"mode_std", t.mode_std},
                    {"reward_radius", t.reward_radius}, {"own_mode_rate", t.own_mode_rate},
                    {"null_fraction", t.null_fraction}, {"seed", t.seed}}},
          {"mlp", {{"dim", m.dim}, {"num_conditions", m.num_conditions}, {"cond_dim", m.cond_dim},
                   {"time_frequencies", m.time_frequencies}, {"time_min_frequency", m.time_min_frequency},
                   {"time_max_frequency", m.time_max_frequency}, {"width", m.width}, {"depth", m.depth},
                   {"seed", m.seed}}},
          {"pretrain", {{"steps", p.steps}, {"batch", p.batch}, {"lr", p.optimizer.lr}, {"beta1", p.optimizer.beta1},
                        {"beta2", p.optimizer.beta2}, {"weight_decay", p.optimizer.weight_decay},
                        {"eps", p.optimizer.eps}, {"final_lr_fraction", p.final_lr_fraction},
                        {"max_grad_norm", p.max_grad_norm}, {"loss_weighting", int(p.loss.weighting)},
                        {"times", int(p.times)}, {"seed", p.seed}}}};
}

void save_base(const fs::path& path, const json& key, const policy_t& p) {
  dnft::io::safetensors_writer w;
  const auto params = p.parameters();
  for (const auto& t : p.layout()) {
    std::vector<std::int64_t> shape(t.shape.begin(), t.shape.end());
    w.add(t.name, std::span<const float>(params.data + t.offset, std::size_t(t.size)), shape);
  }
  w.metadata("format", "pt");
  w.metadata("dnft.kind", "dnft.geneval_demo.base");
  w.metadata("dnft.config", key.dump());
  w.write(path);  // atomic: a temporary file in the same folder, renamed over the target
}

//! Loads a cached base into `p`; returns an empty string on success, else why it was refused
//! (then `p` is unchanged).
std::string load_base(const fs::path& path, const json& key, policy_t& p) {
  try {
    const auto f = dnft::io::safetensors_file::read(path);  // verifies the structure and the checksum
    if (!f.metadata().count("dnft.kind") || f.metadata("dnft.kind") != "dnft.geneval_demo.base")
      return "not a base model of this demo";
    if (!f.metadata().count("dnft.config") || f.metadata("dnft.config") != key.dump())
      return "written with other settings";
    policy_t q = p;
    auto params = q.parameters();
    for (const auto& t : q.layout()) {
      std::vector<std::int64_t> shape(t.shape.begin(), t.shape.end());
      f.get_into(t.name, std::span<float>(params.data + t.offset, std::size_t(t.size)), shape);
    }
    for (dnft::index_t i = 0; i < params.extents[0]; ++i)
      if (!std::isfinite(params(i))) return "non-finite parameter at index " + std::to_string(i);
    p = std::move(q);
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

policy_t make_base(const settings& s, const dnft::toy::geneval_task& task, base_info& info) {
  const auto mc = mlp_config_of(s);
  const auto po = pretrain_options_of(s);
  const json key = base_key(task.config(), mc, po);
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the key
  for (unsigned char ch : key.dump()) h = (h ^ ch) * 0x100000001b3ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  const fs::path file = fs::path(s.out) / "cache" / ("base-" + std::string(hex) + ".safetensors");
  info.cache_file = file.string();
  policy_t policy(mc);
  if (fs::exists(file)) {
    const std::string why = load_base(file, key, policy);
    if (why.empty()) {
      info.cached = true;
      std::printf("base model: reusing %s (pre-trained with these settings)\n", file.c_str());
      return policy;
    }
    std::printf("base model: ignoring the cached %s (%s); pre-training again\n", file.c_str(), why.c_str());
  }
  std::printf("base model: pre-training by flow matching, %d steps of %d samples (MLP %d x %d, %lld parameters)\n",
              s.pretrain_steps, s.pretrain_batch, s.depth, s.width, static_cast<long long>(policy.parameter_count()));
  std::fflush(stdout);
  const auto t0 = clock_type::now();
  const int report_every = std::max(1, s.pretrain_steps / 10);
  double loss_sum = 0;
  int loss_n = 0;
  dnft::flow_matching_pretrain(
      policy, [&](std::uint64_t k, dnft::tensor_view<float, 2> x, std::span<int> c) { task.pretraining_batch(k, x, c); },
      po,
      [&](dnft::index_t k, double loss) {
        loss_sum += loss;
        ++loss_n;
        if ((k + 1) % report_every == 0 || k + 1 == s.pretrain_steps) {
          const double el = seconds_since(t0);
          std::printf("  pretrain %6lld/%d  loss %.4f  elapsed %s  eta %s\n", static_cast<long long>(k + 1),
                      s.pretrain_steps, loss_sum / loss_n, duration(el).c_str(),
                      duration(el / double(k + 1) * double(s.pretrain_steps - k - 1)).c_str());
          std::fflush(stdout);
          loss_sum = 0;
          loss_n = 0;
        }
      },
      dnft::host_executor{s.threads});
  info.pretrain_seconds = seconds_since(t0);
  fs::create_directories(file.parent_path());
  save_base(file, key, policy);
  std::printf("base model: pre-trained in %s, cached as %s\n", duration(info.pretrain_seconds).c_str(), file.c_str());
  return policy;
}

// ---- fine-tuning ------------------------------------------------------------------------------

dnft::toy::eval_options eval_options_of(double guidance) {
  dnft::toy::eval_options o;
  o.guidance = guidance;
  return o;
}

//! Model evaluations per sampled image of a method (to guess how long a method not started yet
//! takes from the speed of the current one; forward and backward passes differ in cost).
double evals_per_image(const settings& s, bool nft) {
  const double n = s.sampling_steps;
  const double slots = double(dnft::train_time_count(dnft::index_t(s.sampling_steps), 0.99));
  if (nft) return (s.solver == "heun" ? 2 * n - 1 : n) + slots * (s.kl_weight > 0 ? 4 : 3);
  const double rows = s.guidance != 1.0 ? 2 : 1;
  return n * rows + slots * (2 * rows + (s.grpo_kl_weight > 0 ? rows : 0));
}

//! Trains one method for s.iterations() iterations, evaluating every s.eval_every iterations
//! and at the end; writes <out>/<key>_metrics.{csv,jsonl}. `pending` estimates the iterations
//! of methods still to come, in units of this method's iterations (for the ETA).
template <class Trainer>
void run_method(Trainer& tr, method_run& run, const settings& s, const dnft::toy::geneval_task& task,
                const base_info& base, double pending, clock_type::time_point start) {
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
                                         last ? &e.final_samples : nullptr, last ? &e.final_prompts : nullptr,
                                         dnft::host_executor{s.threads});
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

}  // namespace

std::vector<method_run> train_all(const settings& s, const dnft::toy::geneval_task& task, base_info& base,
                                  clock_type::time_point start) {
  Eigen::setNbThreads(s.threads);  // no effect without OpenMP; 0: Eigen's default (all cores)
  policy_t policy = make_base(s, task, base);
  {
    const auto te = clock_type::now();
    const auto u = dnft::toy::evaluate(policy, task, eval_options_of(1.0), &base.samples_unguided, &base.prompts,
                                       dnft::host_executor{s.threads});
    const auto g = dnft::toy::evaluate(policy, task, eval_options_of(s.guidance), &base.samples_guided, nullptr,
                                       dnft::host_executor{s.threads});
    base.unguided = {u.accuracy, u.in_any_mode};
    base.guided = {g.accuracy, g.in_any_mode};
    std::printf("base model: accuracy %.3f without guidance, %.3f with guidance %g (evaluated in %.1f s)\n",
                u.accuracy, g.accuracy, s.guidance, seconds_since(te));
  }

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
    std::printf("DiffusionNFT: %s sampler, %d steps, lr %g, beta %g, decay type %d, KL %g, advantages %s, %s, "
                "%s training times, no guidance\n",
                s.solver.c_str(), s.sampling_steps, s.lr, s.beta, s.decay, s.kl_weight, s.adv_mode.c_str(),
                s.adaptive_weight ? "adaptive weight" : "plain velocity loss", s.train_times.c_str());
    std::fflush(stdout);
    dnft::nft_trainer tr(policy, make_solver(s), dnft::toy::hit_reward{&task}, round_robin{s.prompts}, cfg,
                         dnft::host_executor{s.threads});
    run_method(tr, r, s, task, base, s.run_grpo() ? grpo_cost / nft_cost : 0.0, start);
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
    std::printf("FlowGRPO: flow SDE (noise level %g), %d steps, lr %g, clip range %g, KL %g, guidance %g\n",
                s.noise_level, s.sampling_steps, s.lr, s.clip_range, s.grpo_kl_weight, s.guidance);
    std::fflush(stdout);
    dnft::flow_grpo_trainer tr(policy, dnft::toy::hit_reward{&task}, round_robin{s.prompts}, cfg,
                               dnft::host_executor{s.threads});
    run_method(tr, r, s, task, base, 0.0, start);
    runs.push_back(std::move(r));
  }
  return runs;
}

}  // namespace geneval_demo
