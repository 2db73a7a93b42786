// SPDX-License-Identifier: Apache-2.0
// dnft: what the online trainers share: the per-iteration batch layout, field-evaluation
// counting, prompt sources, memory moves between the host and an executor's space, and the
// checkpoint format for policies.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dnft/algorithm/common.hpp"
#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/concepts/policy.hpp"
#include "dnft/concepts/reward.hpp"
#include "dnft/error.hpp"
#include "dnft/execution.hpp"
#include "dnft/io/metrics.hpp"
#include "dnft/io/safetensors.hpp"
#include "dnft/schedule/time_grid.hpp"

namespace dnft {

//! @brief A source of prompts (conditions) for one iteration: `f(iteration, out)` fills the G
//! prompts of iteration `iteration`; each is sampled group_size times. It should be a pure
//! function of the iteration for runs to be reproducible and resumable.
template <class F, class Cond>
concept prompt_source = std::invocable<F&, std::uint64_t, std::span<Cond>>;

//! @brief The settings the online trainers share (ALGORITHM.md section 3); defaults are the
//! reference's.
struct rl_config {
  index_t prompts_per_iteration = 48;  //!< G
  index_t group_size = 24;             //!< K: samples per prompt (>= 2)
  index_t sampling_steps = 10;         //!< N, on the SD3 shifted grid
  double grid_shift = 3.0;             //!< shift of that grid
  std::vector<double> sampling_grid;   //!< overrides sampling_steps and grid_shift when not empty
  double train_fraction = 0.99;        //!< each sample trains on int(N * fraction) grid times
  index_t micro_batch = 0;             //!< rows per forward/backward pass (0: the whole batch)
  adamw_options optimizer;             //!< lr 3e-4, betas (0.9, 0.999), weight decay 1e-4, eps 1e-8
  double max_grad_norm = 1.0;          //!< global gradient-norm clip
  group_advantage_options advantages;  //!< global std, eps 1e-4
  bool use_ema = true;                 //!< keep an EMA of the trained parameters
  ema_options ema;                     //!< min((1 + s) / (10 + s), 0.9)
  std::uint64_t seed = 0;              //!< every random draw of the run derives from (seed, iteration)

  index_t batch() const noexcept { return prompts_per_iteration * group_size; }
};

namespace detail {

inline void validate(const rl_config& c, std::string_view fn) {
  if (c.prompts_per_iteration < 1)
    fail<value_error>(fn, "prompts_per_iteration", "expected at least 1, got " + std::to_string(c.prompts_per_iteration));
  if (c.group_size < 2)
    fail<value_error>(fn, "group_size",
                      "expected at least 2 samples per prompt (a group of one has no relative advantage), got " +
                          std::to_string(c.group_size));
  if (c.sampling_grid.empty() && c.sampling_steps < 1)
    fail<value_error>(fn, "sampling_steps", "expected at least 1, got " + std::to_string(c.sampling_steps));
  if (!c.sampling_grid.empty()) {
    const auto& g = c.sampling_grid;
    if (g.size() < 2 || !(g.front() <= 1.0) || !(g.back() >= 0.0))
      fail<value_error>(fn, "sampling_grid", "expected at least 2 times within [0, 1]");
    for (std::size_t k = 1; k < g.size(); ++k)
      if (!(g[k] < g[k - 1]))
        fail<value_error>(fn, "sampling_grid",
                          "expected strictly decreasing times, got " + num(g[k - 1]) + " then " + num(g[k]) +
                              " at index " + std::to_string(k));
  }
  if (!(c.train_fraction > 0 && c.train_fraction <= 1))
    fail<value_error>(fn, "train_fraction", "expected a value in (0, 1], got " + num(c.train_fraction));
  if (c.micro_batch < 0) fail<value_error>(fn, "micro_batch", "expected >= 0, got " + std::to_string(c.micro_batch));
  require_positive(c.max_grad_norm, "max_grad_norm", fn);
}

inline nlohmann::ordered_json to_json(const rl_config& c) {
  return {{"prompts_per_iteration", c.prompts_per_iteration},
          {"group_size", c.group_size},
          {"sampling_steps", c.sampling_steps},
          {"grid_shift", c.grid_shift},
          {"sampling_grid", c.sampling_grid},
          {"train_fraction", c.train_fraction},
          {"micro_batch", c.micro_batch},
          {"lr", c.optimizer.lr},
          {"beta1", c.optimizer.beta1},
          {"beta2", c.optimizer.beta2},
          {"weight_decay", c.optimizer.weight_decay},
          {"adam_eps", c.optimizer.eps},
          {"max_grad_norm", c.max_grad_norm},
          {"global_std", c.advantages.global_std},
          {"adv_eps", c.advantages.eps},
          {"use_ema", c.use_ema},
          {"ema_max_decay", c.ema.max_decay},
          {"ema_warmup", c.ema.warmup},
          {"seed", c.seed}};
}

//! The sampling grid a config asks for.
inline std::vector<double> sampling_grid_of(const rl_config& c) {
  return c.sampling_grid.empty() ? shifted_sigma_grid(c.sampling_steps, c.grid_shift) : c.sampling_grid;
}

//! Distinct Philox seeds for the different draws of a run (sampling noise, training noise, ...).
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint32_t purpose) noexcept {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (purpose + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

//! Copies n elements from memory of `Exec`'s space to the host.
template <class Exec, class T>
void copy_to_host(const Exec& ex, const T* src, T* dst, index_t n) {
  if constexpr (std::remove_cvref_t<Exec>::template can_access<host_space> ||
                std::is_same_v<typename std::remove_cvref_t<Exec>::space_type, host_space>) {
    (void)ex;
    if (n > 0) std::memcpy(dst, src, std::size_t(n) * sizeof(T));
  } else {
    ex.copy_to_host(src, dst, n);
  }
}

//! Copies n elements from the host to memory of `Exec`'s space.
template <class Exec, class T>
void copy_from_host(const Exec& ex, const T* src, T* dst, index_t n) {
  if constexpr (std::remove_cvref_t<Exec>::template can_access<host_space> ||
                std::is_same_v<typename std::remove_cvref_t<Exec>::space_type, host_space>) {
    (void)ex;
    if (n > 0) std::memcpy(dst, src, std::size_t(n) * sizeof(T));
  } else {
    ex.copy_from_host(src, dst, n);
  }
}

//! @brief Scores samples held in memory of `Exec`'s space with a reward, by the rule of
//! dnft::reward: a host_reward gets a host view (of `x0` itself when it is host memory, else of
//! a copy in `host`, resized as needed); any other reward gets `x0` as it is, after the
//! executor's work is finished (so the reward may read it on any stream). `x0` is a contiguous
//! (B, D) view.
template <class Exec, class Reward, class T, class S, class Cond>
void call_reward(const Exec& ex, Reward& reward, tensor_view<const T, 2, S> x0, std::span<const Cond> c,
                 std::span<double> out, std::vector<T>& host) {
  if constexpr (std::is_same_v<S, host_space>) {
    (void)ex;
    (void)host;
    reward(x0, c, out);
  } else if constexpr (!host_reward<Reward, T, Cond>) {
    (void)host;
    ex.synchronize();
    reward(x0, c, out);
  } else {
    const index_t n = x0.extents[0] * x0.extents[1];
    host.resize(std::size_t(n));
    copy_to_host(ex, x0.data, host.data(), n);
    reward(make_view(static_cast<const T*>(host.data()), {x0.extents[0], x0.extents[1]}), c, out);
  }
}

//! Wall-clock seconds since construction or the last lap().
class stopwatch {
 public:
  double lap() noexcept {
    const auto now = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

template <class P>
concept has_parameter_layout = requires(const P& p) {
  { p.layout() };
};

}  // namespace detail

//! @brief A velocity field that counts its evaluations (one per sample row of each predict),
//! e.g. to report model evaluations per sampled image. It forwards everything to the wrapped
//! field, which must outlive it.
template <velocity_field P>
class counting_field {
 public:
  using value_type = policy_value_t<P>;
  using space_type = policy_space_t<P>;
  using condition_type = condition_t<P>;

  counting_field(P& field, std::int64_t& counter) noexcept : field_(&field), counter_(&counter) {}

  index_t dim() const { return static_cast<index_t>(field_->dim()); }
  condition_type null_condition() const
    requires guidable_field<P>
  {
    return field_->null_condition();
  }
  void predict(const_state_view_t<P> x, time_view_t<P> t, condition_span_t<P> c, state_view_t<P> v) {
    field_->predict(x, t, c, v);
    *counter_ += x.extents[0];
  }

 private:
  P* field_;
  std::int64_t* counter_;
};

//! What both trainers report every iteration (ALGORITHM.md section 2, "Diagnostics").
struct rl_iteration_stats {
  std::int64_t iteration = 0;        //!< 1 for the first iteration
  std::int64_t images = 0;           //!< sampled images so far
  std::int64_t model_evals = 0;      //!< forward and backward passes so far, per sample (guidance counted)
  double reward_mean = 0;
  double reward_std = 0;
  double reward_min = 0;
  double reward_max = 0;
  double zero_std_groups = 0;        //!< fraction of prompt groups whose rewards were all equal
  double grad_norm = 0;              //!< before clipping (the mean over the iteration's optimizer steps)
  double ema_decay = 0;              //!< of the iteration's last EMA update
  double seconds_sampling = 0;
  double seconds_reward = 0;
  double seconds_training = 0;
  double seconds_total = 0;          //!< this iteration
};

inline void append_row(io::metric_row& row, const rl_iteration_stats& s) {
  row.emplace_back("iteration", double(s.iteration));
  row.emplace_back("images", double(s.images));
  row.emplace_back("model_evals", double(s.model_evals));
  row.emplace_back("reward_mean", s.reward_mean);
  row.emplace_back("reward_std", s.reward_std);
  row.emplace_back("reward_min", s.reward_min);
  row.emplace_back("reward_max", s.reward_max);
  row.emplace_back("zero_std_groups", s.zero_std_groups);
  row.emplace_back("grad_norm", s.grad_norm);
  row.emplace_back("ema_decay", s.ema_decay);
  row.emplace_back("seconds_sampling", s.seconds_sampling);
  row.emplace_back("seconds_reward", s.seconds_reward);
  row.emplace_back("seconds_training", s.seconds_training);
  row.emplace_back("seconds_total", s.seconds_total);
}

//! @brief Runs `iterations` iterations of an online trainer (nft_trainer, flow_grpo_trainer, or
//! any type with `stats step()`), calling `on_iteration(stats)` after each. A callback that
//! returns bool stops the run early by returning false. Returns the iterations run.
//! @code
//!   dnft::metrics_log log{"run/metrics.csv", "run/metrics.jsonl"};
//!   dnft::train(trainer, 100, [&](const auto& st) {
//!     log(st);                                  // every statistic, one row per iteration
//!     return st.reward_mean < 0.99;             // stop once the rewards are saturated
//!   });
//! @endcode
//! @throws value_error when iterations < 0; whatever step() or the callback throws.
template <class Trainer, class F>
  requires requires(Trainer& t) { t.step(); } && std::invocable<F&, const decltype(std::declval<Trainer&>().step())&>
std::int64_t train(Trainer& trainer, std::int64_t iterations, F&& on_iteration) {
  if (iterations < 0)
    detail::fail<value_error>("train", "iterations", "expected >= 0, got " + std::to_string(iterations));
  using stats = decltype(trainer.step());
  for (std::int64_t k = 0; k < iterations; ++k) {
    const stats st = trainer.step();
    if constexpr (std::is_convertible_v<std::invoke_result_t<F&, const stats&>, bool>) {
      if (!on_iteration(st)) return k + 1;
    } else {
      on_iteration(st);
    }
  }
  return iterations;
}

//! @brief A train() callback that appends every iteration's statistics (`stats.row()`: the
//! shared ones, the method's diagnostics, the time split) to metrics files, CSV or JSON lines by
//! extension (io::metrics_writer; each row flushed).
struct metrics_log {
  std::vector<io::metrics_writer> files;

  //! @param append  keep existing rows (a resumed run) instead of truncating
  explicit metrics_log(std::initializer_list<std::filesystem::path> paths, bool append = false) {
    for (const auto& p : paths) files.emplace_back(p, append);
  }

  template <class Stats>
    requires requires(const Stats& s) { { s.row() } -> std::convertible_to<io::metric_row>; }
  void operator()(const Stats& s) {
    const io::metric_row row = s.row();
    for (auto& f : files) f.write(row);
  }
};

namespace detail {

//! Saves a policy's parameters under `prefix` (one tensor per layer when the policy describes its
//! layout, else one flat tensor "<prefix>params").
template <class Exec, class P>
void add_policy_tensors(io::safetensors_writer& w, const Exec& ex, const P& p, const std::string& prefix) {
  using T = policy_value_t<P>;
  const auto params = p.parameters();
  std::vector<T> host(static_cast<std::size_t>(params.extents[0]));
  copy_to_host(ex, params.data, host.data(), params.extents[0]);
  if constexpr (has_parameter_layout<P>) {
    for (const auto& t : p.layout()) {
      std::vector<std::int64_t> shape(t.shape.begin(), t.shape.end());
      w.add(prefix + t.name, std::span<const T>(host.data() + t.offset, std::size_t(t.size)), shape);
    }
  } else {
    w.add(prefix + "params", std::span<const T>(host), {std::int64_t(host.size())});
  }
}

//! Loads what add_policy_tensors saved, checking names, dtypes and shapes.
template <class Exec, class P>
void load_policy_tensors(const io::safetensors_file& f, const Exec& ex, P& p, const std::string& prefix) {
  using T = policy_value_t<P>;
  const auto params = p.parameters();
  std::vector<T> host(static_cast<std::size_t>(params.extents[0]));
  if constexpr (has_parameter_layout<P>) {
    for (const auto& t : p.layout()) {
      std::vector<std::int64_t> shape(t.shape.begin(), t.shape.end());
      f.get_into(prefix + t.name, std::span<T>(host.data() + t.offset, std::size_t(t.size)), shape);
    }
  } else {
    f.get_into(prefix + "params", std::span<T>(host), {std::int64_t(host.size())});
  }
  copy_from_host(ex, host.data(), params.data, params.extents[0]);
}

template <class Exec, class T, std::size_t R, class S>
void add_buffer(io::safetensors_writer& w, const Exec& ex, const tensor_view<T, R, S>& v, const std::string& name) {
  std::vector<std::remove_const_t<T>> host(static_cast<std::size_t>(v.size()));
  copy_to_host(ex, v.data, host.data(), v.size());
  w.add(name, std::span<const std::remove_const_t<T>>(host), {std::int64_t(host.size())});
}

template <class Exec, class T, std::size_t R, class S>
void load_buffer(const io::safetensors_file& f, const Exec& ex, const tensor_view<T, R, S>& v, const std::string& name) {
  std::vector<T> host(static_cast<std::size_t>(v.size()));
  f.get_into(name, std::span<T>(host), {std::int64_t(host.size())});
  copy_from_host(ex, host.data(), v.data, v.size());
}

//! The counters a trainer keeps and saves with its checkpoints.
struct trainer_counters {
  std::int64_t iteration = 0, optimizer_steps = 0, ema_updates = 0, images = 0, model_evals = 0;
};

//! Counts a finished iteration (`images` sampled, `evals` model evaluations) and reports the
//! counters and the reward statistics in `st`.
inline void finish_iteration(rl_iteration_stats& st, trainer_counters& n, std::int64_t images, std::int64_t evals,
                             const advantage_stats& adv, std::span<const double> rewards) {
  ++n.iteration;
  n.images += images;
  n.model_evals += evals;
  st.iteration = n.iteration;
  st.images = n.images;
  st.model_evals = n.model_evals;
  st.reward_mean = adv.reward_mean;
  st.reward_std = adv.reward_std;
  st.reward_min = *std::min_element(rewards.begin(), rewards.end());
  st.reward_max = *std::max_element(rewards.begin(), rewards.end());
  st.zero_std_groups = adv.zero_std_fraction;
}

//! A checkpoint's named policy: saved and restored under `prefix`; a null policy (no EMA) is
//! left out.
template <class P>
struct named_policy {
  const char* prefix;
  P* policy;
};

//! Refuses a checkpoint written by another trainer kind or with another configuration, naming
//! the first differing setting.
inline void check_checkpoint_config(const io::safetensors_file& f, const std::string& kind,
                                    const nlohmann::ordered_json& config, const std::string& where) {
  constexpr const char* fn = "load_checkpoint";
  if (!f.metadata().count("dnft.kind") || f.metadata("dnft.kind") != kind)
    fail<io_error>(fn, where,
                   "not a " + kind + " checkpoint (dnft.kind is '" +
                       (f.metadata().count("dnft.kind") ? f.metadata("dnft.kind") : std::string("missing")) + "')");
  nlohmann::ordered_json saved;
  try {
    saved = nlohmann::ordered_json::parse(f.metadata("dnft.config"));
  } catch (const nlohmann::json::exception&) {
    fail<io_error>(fn, where, "corrupt dnft.config metadata");
  }
  for (auto it = config.begin(); it != config.end(); ++it)
    if (!saved.contains(it.key()) || saved[it.key()] != it.value())
      fail<io_error>(fn, where,
                     "the checkpoint was written with a different configuration: " + it.key() + " is " +
                         (saved.contains(it.key()) ? saved[it.key()].dump() : std::string("absent")) + " there, " +
                         it.value().dump() + " here");
}

//! @brief Writes a trainer's whole state (the policies, the AdamW moments m and v, the counters,
//! `kind` and `config` as metadata) as safetensors, atomically (io::safetensors_writer::write).
template <class Exec, class P, class Buf>
void save_trainer_checkpoint(const std::filesystem::path& path, const Exec& ex, const std::string& kind,
                             const nlohmann::ordered_json& config, std::initializer_list<named_policy<const P>> policies,
                             const Buf& m, const Buf& v, const trainer_counters& n) {
  io::safetensors_writer w;
  for (const auto& p : policies)
    if (p.policy) add_policy_tensors(w, ex, *p.policy, p.prefix);
  add_buffer(w, ex, m.view(), "adamw.m");
  add_buffer(w, ex, v.view(), "adamw.v");
  const std::vector<std::int64_t> counters{n.iteration, n.optimizer_steps, n.ema_updates, n.images, n.model_evals};
  w.add("trainer.counters", std::span<const std::int64_t>(counters), {std::int64_t(counters.size())});
  w.metadata("format", "pt");
  w.metadata("dnft.kind", kind);
  w.metadata("dnft.config", config.dump());
  w.write(path);
}

//! @brief Restores what save_trainer_checkpoint wrote into the same policies (same prefixes and
//! shapes) and buffers; refuses (io_error) another kind, another configuration or a damaged
//! file, and loads into copies first, so a failure leaves every argument unchanged (given a
//! policy type whose move assignment does not throw).
template <class Exec, class P, class Buf>
void load_trainer_checkpoint(const std::filesystem::path& path, const Exec& ex, const std::string& kind,
                             const nlohmann::ordered_json& config, std::initializer_list<named_policy<P>> policies,
                             Buf& m, Buf& v, trainer_counters& n) {
  const auto f = io::safetensors_file::read(path);
  check_checkpoint_config(f, kind, config, path.string());
  std::vector<P> loaded;
  loaded.reserve(policies.size());
  for (const auto& p : policies)
    if (p.policy) {
      loaded.push_back(*p.policy);
      load_policy_tensors(f, ex, loaded.back(), p.prefix);
    }
  auto m2 = ex.template allocate<typename Buf::value_type>(m.size());
  auto v2 = ex.template allocate<typename Buf::value_type>(v.size());
  load_buffer(f, ex, m2.view(), "adamw.m");
  load_buffer(f, ex, v2.view(), "adamw.v");
  const auto c = f.get<std::int64_t>("trainer.counters", {5});
  // commit: nothing below throws when P's move assignment does not (std::vector members, the
  // reference MLPs); a policy whose move assignment copies and fails leaves a partly restored state
  auto next = loaded.begin();
  for (const auto& p : policies)
    if (p.policy) *p.policy = std::move(*next++);
  m = std::move(m2);
  v = std::move(v2);
  n = {c[0], c[1], c[2], c[3], c[4]};
}

}  // namespace detail
}  // namespace dnft
