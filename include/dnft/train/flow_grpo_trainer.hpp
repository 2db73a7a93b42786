// SPDX-License-Identifier: Apache-2.0
// dnft: the FlowGRPO online trainer (ALGORITHM.md section 5), the baseline DiffusionNFT is
// measured against: flow-SDE sampling that stores the whole trajectory and each step's
// log-probability, then PPO-clipped policy-gradient training through those log-probabilities.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/algorithm/flow_grpo_loss.hpp"
#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/lincomb.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/concepts/reward.hpp"
#include "dnft/solvers/flow_sde.hpp"
#include "dnft/schedule/time_sampler.hpp"
#include "dnft/solvers/guidance.hpp"
#include "dnft/train/common.hpp"

namespace dnft {

//! @brief Settings of the FlowGRPO trainer; defaults as ALGORITHM.md section 5 (GenEval).
struct flow_grpo_config : rl_config {
  flow_grpo_options loss;     //!< clip range 1e-4, C 5, beta_kl 0.04
  double noise_level = 0.7;   //!< a of the flow SDE
  double guidance = 4.5;      //!< classifier-free guidance while sampling and training (1 = none)
  //! Optimizer steps per iteration: the batch is split into this many parts of whole prompt
  //! groups (as even as possible), each trained on all its steps k and then stepped. Every part
  //! after the first trains a policy that has moved since sampling, so its ratio differs from 1
  //! and the clip range acts. 1 to prompts_per_iteration. The reference implementation takes 2
  //! steps per collection, on random halves of the samples; the default 1 is what dnft's demo and
  //! study measured.
  index_t minibatches = 1;
};

namespace detail {
inline nlohmann::ordered_json to_json(const flow_grpo_config& c) {
  auto j = to_json(static_cast<const rl_config&>(c));
  j["clip_range"] = c.loss.clip_range;
  j["adv_clip_max"] = c.loss.adv_clip_max;
  j["kl_weight"] = c.loss.kl_weight;
  j["noise_level"] = c.noise_level;
  j["guidance"] = c.guidance;
  j["minibatches"] = c.minibatches;
  return j;
}
}  // namespace detail

//! The statistics of one FlowGRPO iteration.
struct flow_grpo_iteration_stats : rl_iteration_stats {
  flow_grpo_stats loss;  //!< averaged over the trained steps

  io::metric_row row() const {
    io::metric_row r;
    append_row(r, *this);
    r.emplace_back("loss", loss.loss);
    r.emplace_back("policy_loss", loss.policy_loss);
    r.emplace_back("kl", loss.kl);
    r.emplace_back("mean_ratio", loss.mean_ratio);
    r.emplace_back("clip_fraction", loss.clip_fraction);
    r.emplace_back("approx_kl_sample", loss.approx_kl_sample);
    return r;
  }
};

//! @brief FlowGRPO, online: each step() is one iteration.
//!
//! 1. G prompts, K samples each, drawn with the current policy by the flow SDE (noise level a)
//!    under classifier-free guidance w, recording every state and each transition's
//!    log-probability;
//! 2. rewards (non-finite: value_error naming the sample, no state change) and group advantages;
//! 3. for the first int(0.99 N) steps k, in order: the policy's (guided) velocity at (x_k,
//!    sigma_k), the PPO-clipped loss of the transition x_k -> x_{k+1} plus beta_kl times the KL
//!    to the (guided) reference, its gradient backpropagated through the guidance combination
//!    (one forward/backward over the conditional and the null rows together); gradients
//!    accumulated over steps and samples, then norm clipping and an AdamW step, once per
//!    minibatch (config.minibatches parts of whole prompt groups); 4. the EMA after each step.
//! With one minibatch (the default) the ratio is 1 up to rounding, so the clip range only matters
//! once a configuration takes several steps per collection (minibatches > 1).
//! Errors: a non-finite reward throws before any state changes. With several minibatches, an
//! error while training a later part (e.g. value_error on non-finite velocities) leaves the
//! earlier parts' optimizer and EMA steps applied; iteration(), images() and model_evals() then
//! still count the iterations that completed.
template <trainable_policy Policy, class Reward, class Prompts, executor Exec = host_executor>
  requires guidable_field<Policy> &&
           reward<Reward, policy_value_t<Policy>, condition_t<Policy>, policy_space_t<Policy>> &&
           prompt_source<Prompts, condition_t<Policy>>
class flow_grpo_trainer {
 public:
  using value_type = policy_value_t<Policy>;
  using condition_type = condition_t<Policy>;
  using space_type = policy_space_t<Policy>;
  using config_type = flow_grpo_config;
  using stats_type = flow_grpo_iteration_stats;
  static constexpr const char* kind = "dnft.flow_grpo_trainer";

  flow_grpo_trainer(const Policy& base, Reward reward, Prompts prompts, flow_grpo_config config = {}, Exec ex = {})
      : cfg_(std::move(config)), ex_(ex), reward_(std::move(reward)), prompts_(std::move(prompts)), policy_(base), ref_(base) {
    constexpr std::string_view fn = "flow_grpo_trainer";
    detail::validate(cfg_, fn);
    detail::require_nonnegative(cfg_.noise_level, "noise_level", fn);
    if (!detail::isfinite(cfg_.guidance)) detail::fail<value_error>(fn, "guidance", "expected a finite value");
    detail::require_nonnegative(cfg_.loss.clip_range, "clip_range", fn);
    detail::require_positive(cfg_.loss.adv_clip_max, "adv_clip_max", fn);
    detail::require_nonnegative(cfg_.loss.kl_weight, "kl_weight", fn);
    if (cfg_.minibatches < 1 || cfg_.minibatches > cfg_.prompts_per_iteration)
      detail::fail<value_error>(fn, "minibatches",
                                "expected 1 to prompts_per_iteration (" + std::to_string(cfg_.prompts_per_iteration) +
                                    ") parts of whole prompt groups, got " + std::to_string(cfg_.minibatches));
    grid_ = detail::sampling_grid_of(cfg_);
    steps_trained_ = train_time_count(index_t(grid_.size()) - 1, cfg_.train_fraction);
    if (cfg_.use_ema) ema_.emplace(base);
    const index_t P = policy_.parameters().extents[0];
    m_ = ex_.template allocate<value_type>(P);
    v_ = ex_.template allocate<value_type>(P);
    lincomb(ex_, m_.view(), std::array<double, 0>{});
    lincomb(ex_, v_.view(), std::array<double, 0>{});
    allocate();
  }

  flow_grpo_iteration_stats step() {
    constexpr std::string_view fn = "flow_grpo_trainer::step";
    detail::stopwatch total, lap;
    flow_grpo_iteration_stats st;
    const std::uint64_t it = std::uint64_t(n_.iteration);
    const index_t B = cfg_.batch(), D = dim_, K = cfg_.group_size;
    const bool guided = cfg_.guidance != 1.0;
    const double w = cfg_.guidance;

    // 1. collect with the flow SDE under guidance, recording the trajectory
    prompts_(it, std::span<condition_type>(prompt_buf_));
    for (index_t i = 0; i < B; ++i) cond_[std::size_t(i)] = prompt_buf_[std::size_t(i / K)];
    fill_normal(ex_, x_.view(B, D), philox_normal{detail::derive_seed(cfg_.seed, 1), stream_id(std::uint32_t(it), 0)});
    std::int64_t evals = 0;
    flow_sde_solver<Exec> sde{cfg_.noise_level, detail::derive_seed(cfg_.seed, 5), it, ex_};
    {
      counting_field<Policy> counted(policy_, evals);
      if (guided) {
        guided_field<counting_field<Policy>, Exec> field(counted, w, ex_);
        sde.sample(field, x_.view(B, D), std::span<const condition_type>(cond_), std::span<const double>(grid_), traj_);
      } else {
        sde.sample(counted, x_.view(B, D), std::span<const condition_type>(cond_), std::span<const double>(grid_), traj_);
      }
    }
    st.seconds_sampling = lap.lap();

    // 2. reward and advantages
    const tensor_view<const value_type, 2, space_type> x0c = x_.view(B, D);
    detail::call_reward(ex_, reward_, x0c, std::span<const condition_type>(cond_), std::span<double>(rewards_),
                        reward_host_);
    for (index_t i = 0; i < B; ++i)
      if (!detail::isfinite(rewards_[std::size_t(i)]))
        detail::fail<value_error>(fn, "reward",
                                  "non-finite reward " + detail::num(rewards_[std::size_t(i)]) + " at sample " +
                                      std::to_string(i) + "; the iteration was not applied");
    st.seconds_reward = lap.lap();
    const auto adv_st = group_advantages(host_executor{1}, rewards_, group_ids_, adv_host_, cfg_.advantages);
    detail::copy_from_host(ex_, adv_host_.data(), adv_.data(), B);

    // 3. train through the recorded transitions, one optimizer step per minibatch (whole groups)
    const index_t G = cfg_.prompts_per_iteration, M = cfg_.minibatches;
    flow_grpo_stats acc;
    double grad_norm_sum = 0;
    for (index_t part = 0; part < M; ++part) {
      policy_.zero_grad();
      train_rows(G * part / M * K, G * (part + 1) / M * K, acc, evals);
      grad_norm_sum += clip_grad_norm(ex_, policy_.gradients(), cfg_.max_grad_norm);
      ++n_.optimizer_steps;
      adamw_step(ex_, policy_.parameters(), policy_.gradients(), m_.view(), v_.view(), n_.optimizer_steps, cfg_.optimizer);
      if (ema_) st.ema_decay = ema_update(ex_, ema_->parameters(), policy_.parameters(), n_.ema_updates++, cfg_.ema);
    }
    st.grad_norm = grad_norm_sum / double(M);
    ex_.synchronize();
    st.seconds_training = lap.lap();

    detail::finish_iteration(st, n_, B, evals, adv_st, rewards_);
    st.loss = acc;
    st.loss.batch = B;
    st.loss.elements = D;
    st.seconds_total = total.lap();
    return st;
  }

  Policy& policy() noexcept { return policy_; }
  const Policy& policy() const noexcept { return policy_; }
  const Policy& reference() const noexcept { return ref_; }
  const Policy* ema_policy() const noexcept { return ema_ ? &*ema_ : nullptr; }
  const flow_grpo_config& config() const noexcept { return cfg_; }
  std::span<const double> sampling_grid() const noexcept { return grid_; }
  std::int64_t iteration() const noexcept { return n_.iteration; }
  std::int64_t images() const noexcept { return n_.images; }
  std::int64_t model_evals() const noexcept { return n_.model_evals; }
  tensor_view<const value_type, 2, space_type> last_samples() const { return x_.view(cfg_.batch(), dim_); }
  std::span<const condition_type> last_conditions() const noexcept { return cond_; }

  //! Saves the whole training state atomically (see nft_trainer::save_checkpoint).
  void save_checkpoint(const std::filesystem::path& path) const {
    detail::save_trainer_checkpoint<Exec, const Policy>(
        path, ex_, kind, detail::to_json(cfg_),
        {{"policy.", &policy_}, {"reference.", &ref_}, {"ema.", ema_ ? &*ema_ : nullptr}}, m_, v_, n_);
  }

  //! Restores a state saved by save_checkpoint (see nft_trainer::load_checkpoint).
  void load_checkpoint(const std::filesystem::path& path) {
    detail::load_trainer_checkpoint<Exec, Policy>(
        path, ex_, kind, detail::to_json(cfg_),
        {{"policy.", &policy_}, {"reference.", &ref_}, {"ema.", ema_ ? &*ema_ : nullptr}}, m_, v_, n_);
  }

 private:
  //! Accumulates into the policy's gradients that of the mean loss over rows r0..r1 and the
  //! trained steps (micro-batches of cfg_.micro_batch rows); adds the statistics to `acc`
  //! weighted as a mean over the whole batch, and the model evaluations to `evals`.
  void train_rows(index_t r0, index_t r1, flow_grpo_stats& acc, std::int64_t& evals) {
    const index_t B = cfg_.batch(), D = dim_;
    const index_t mb = cfg_.micro_batch > 0 ? std::min(cfg_.micro_batch, B) : B;
    const bool guided = cfg_.guidance != 1.0, kl = cfg_.loss.kl_weight > 0;
    const double w = cfg_.guidance;
    for (index_t k = 0; k < steps_trained_; ++k) {
      const gaussian_transition& tr = traj_.transition(k);
      for (index_t b0 = r0; b0 < r1; b0 += mb) {
        const index_t n = std::min(mb, r1 - b0);
        const auto xk = sub(traj_.state(k), b0, n);
        const auto xk1 = sub(traj_.state(k + 1), b0, n);
        const std::span<const condition_type> c(cond_.data() + b0, std::size_t(n));
        velocity(policy_, true, xk, tr.sigma, c, n, vth_);
        if (kl) velocity(ref_, false, xk, tr.sigma, c, n, vref_);
        const auto lp = make_view(traj_.log_prob(k).data + b0, {n}, space_type{});
        const auto av = make_view(adv_.data() + b0, {n}, space_type{});
        const auto g = grad_.view(n, D);
        const flow_grpo_stats s = kl ? flow_grpo_loss(ex_, tr, xk, xk1, vth_.view(n, D), vref_.view(n, D), lp, av, g, cfg_.loss)
                                     : flow_grpo_loss(ex_, tr, xk, xk1, vth_.view(n, D), none, lp, av, g, cfg_.loss);
        const double wt = double(n) / double(r1 - r0) / double(steps_trained_);
        if (guided) {
          // v = v_u + w (v_c - v_u): dL/dv_c = w g, dL/dv_u = (1 - w) g, rows [c; null].
          lincomb(ex_, make_view(grad2_.data(), {n, D}, space_type{}), std::array<double, 1>{w * wt}, g);
          lincomb(ex_, make_view(grad2_.data() + n * D, {n, D}, space_type{}), std::array<double, 1>{(1.0 - w) * wt}, g);
          policy_.backward(grad2_.view(2 * n, D));
        } else {
          lincomb(ex_, g, std::array<double, 1>{wt}, g);
          policy_.backward(g);
        }
        accumulate(acc, s, double(n) / double(B) / double(steps_trained_));
        const index_t rows = guided ? 2 * n : n;
        evals += 2 * rows + (kl ? rows : 0);  // forward + backward of theta, reference forward
      }
    }
  }

  template <class V>
  static auto sub(const V& v, index_t b0, index_t n) {
    using T = typename V::element_type;
    return tensor_view<const T, 2, typename V::space_type>{v.data + b0 * v.strides[0], {n, v.extents[1]},
                                                            {v.strides[0], v.strides[1]}};
  }

  //! The (guided) velocity of `p` at (x, sigma) for conditions c into out (n, D). With guidance
  //! the conditional and null rows go through one forward pass (kept for backward when
  //! `train`), then v = v_u + w (v_c - v_u).
  template <class X>
  void velocity(Policy& p, bool train, const X& x, double sigma, std::span<const condition_type> c, index_t n,
                buffer_t<Exec, value_type>& out) {
    const index_t D = dim_;
    const bool guided = cfg_.guidance != 1.0;
    const index_t rows = guided ? 2 * n : n;
    for (index_t i = 0; i < rows; ++i) t_cast_[std::size_t(i)] = value_type(sigma);
    detail::copy_from_host(ex_, t_cast_.data(), t2_.data(), rows);
    if (!guided) {
      // n times (the buffer holds 2B for the guided case)
      const auto t = make_view(static_cast<const value_type*>(t2_.data()), {n}, space_type{});
      if (train)
        p.forward(x, t, c, out.view(n, D));
      else
        p.predict(x, t, c, out.view(n, D));
      return;
    }
    lincomb(ex_, make_view(x2_.data(), {n, D}, space_type{}), std::array<double, 1>{1.0}, x);
    lincomb(ex_, make_view(x2_.data() + n * D, {n, D}, space_type{}), std::array<double, 1>{1.0}, x);
    std::copy(c.begin(), c.end(), c2_.begin());
    std::fill(c2_.begin() + n, c2_.begin() + 2 * n, p.null_condition());
    const auto tv = make_view(static_cast<const value_type*>(t2_.data()), {rows}, space_type{});
    const std::span<const condition_type> cc(c2_.data(), std::size_t(rows));
    if (train)
      p.forward(x2_.view(rows, D), tv, cc, v2_.view(rows, D));
    else
      p.predict(x2_.view(rows, D), tv, cc, v2_.view(rows, D));
    const auto vc = make_view(static_cast<const value_type*>(v2_.data()), {n, D}, space_type{});
    const auto vu = make_view(static_cast<const value_type*>(v2_.data()) + n * D, {n, D}, space_type{});
    lincomb(ex_, out.view(n, D), std::array<double, 2>{1.0 - cfg_.guidance, cfg_.guidance}, vu, vc);
  }

  void allocate() {
    const index_t B = cfg_.batch();
    dim_ = index_t(policy_.dim());
    const index_t D = dim_;
    x_ = ex_.template allocate<value_type>(B * D);
    vth_ = ex_.template allocate<value_type>(B * D);
    vref_ = ex_.template allocate<value_type>(B * D);
    grad_ = ex_.template allocate<value_type>(B * D);
    grad2_ = ex_.template allocate<value_type>(2 * B * D);
    x2_ = ex_.template allocate<value_type>(2 * B * D);
    v2_ = ex_.template allocate<value_type>(2 * B * D);
    t2_ = ex_.template allocate<value_type>(2 * B);
    adv_ = ex_.template allocate<double>(B);
    t_cast_.assign(std::size_t(2 * B), value_type(0));
    rewards_.assign(std::size_t(B), 0.0);
    adv_host_.assign(std::size_t(B), 0.0);
    cond_.resize(std::size_t(B));
    c2_.resize(std::size_t(2 * B));
    prompt_buf_.resize(std::size_t(cfg_.prompts_per_iteration));
    group_ids_.resize(std::size_t(B));
    for (index_t i = 0; i < B; ++i) group_ids_[std::size_t(i)] = std::int64_t(i / cfg_.group_size);
  }

  static void accumulate(flow_grpo_stats& a, const flow_grpo_stats& s, double w) {
    a.loss += w * s.loss;
    a.policy_loss += w * s.policy_loss;
    a.kl += w * s.kl;
    a.mean_ratio += w * s.mean_ratio;
    a.clip_fraction += w * s.clip_fraction;
    a.mean_log_prob += w * s.mean_log_prob;
    a.approx_kl_sample += w * s.approx_kl_sample;
  }

  flow_grpo_config cfg_;
  Exec ex_;
  Reward reward_;
  Prompts prompts_;
  Policy policy_, ref_;
  std::optional<Policy> ema_;
  typename flow_sde_solver<Exec>::template trajectory_type<Policy> traj_;
  buffer_t<Exec, value_type> m_, v_, x_, vth_, vref_, grad_, grad2_, x2_, v2_, t2_;
  buffer_t<Exec, double> adv_;
  std::vector<value_type> t_cast_, reward_host_;
  std::vector<double> rewards_, adv_host_, grid_;
  std::vector<condition_type> cond_, c2_, prompt_buf_;
  std::vector<std::int64_t> group_ids_;
  index_t dim_ = 0, steps_trained_ = 0;
  detail::trainer_counters n_;
};

}  // namespace dnft
