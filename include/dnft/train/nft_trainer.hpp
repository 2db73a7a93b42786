// SPDX-License-Identifier: Apache-2.0
// dnft: the DiffusionNFT online trainer (ALGORITHM.md section 3): collect clean samples with the
// old policy and any solver, score them with a black-box reward, compute group advantages, train
// on the forward process with the NFT objective, soft-update the old policy.
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
#include "dnft/algorithm/forward_noise.hpp"
#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/lincomb.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/concepts/reward.hpp"
#include "dnft/concepts/solver.hpp"
#include "dnft/schedule/time_sampler.hpp"
#include "dnft/train/common.hpp"

namespace dnft {

//! Where the training times of a sample come from (ALGORITHM.md section 3, step 4).
enum class train_times {
  grid,         //!< a random subset of the sampling grid's times, one per slot (reference)
  uniform,      //!< t ~ U(0, 1), independent of the grid
  logit_normal  //!< t = sigmoid(n), n ~ N(0, 1) (SD3 training)
};

//! @brief Settings of the DiffusionNFT trainer; defaults are the reference code's.
struct nft_config : rl_config {
  nft_options loss;                                            //!< beta 1, C 5, kl_weight 1e-4, adaptive weight
  decay_schedule old_decay = decay_schedule::of_type(1);       //!< soft update of the old policy
  train_times times = train_times::grid;
};

namespace detail {
inline nlohmann::ordered_json to_json(const nft_config& c) {
  auto j = to_json(static_cast<const rl_config&>(c));
  j["beta"] = c.loss.beta;
  j["adv_clip_max"] = c.loss.adv_clip_max;
  j["kl_weight"] = c.loss.kl_weight;
  j["weight_floor"] = c.loss.weight_floor;
  j["advantage_mode"] = int(c.loss.mode);
  j["loss_space"] = int(c.loss.space);
  j["loss_weighting"] = int(c.loss.weighting);
  j["decay_flat"] = c.old_decay.flat;
  j["decay_rate"] = c.old_decay.rate;
  j["decay_max"] = c.old_decay.max;
  j["train_times"] = int(c.times);
  return j;
}
}  // namespace detail

//! The statistics of one DiffusionNFT iteration: the shared ones, the NFT diagnostics averaged
//! over the training slots, and the old policy's decay.
struct nft_iteration_stats : rl_iteration_stats {
  nft_stats loss;          //!< policy_loss, kl, theta_old, old_ref, x0_sq, mean_r, clipped_fraction, ...
  double old_decay = 0;    //!< d of the soft update this iteration

  io::metric_row row() const {
    io::metric_row r;
    append_row(r, *this);
    r.emplace_back("loss", loss.loss);
    r.emplace_back("policy_loss", loss.policy_loss);
    r.emplace_back("kl", loss.kl);
    r.emplace_back("theta_old_sq", loss.theta_old);
    r.emplace_back("old_ref_sq", loss.old_ref);
    r.emplace_back("x0_sq", loss.x0_sq);
    r.emplace_back("mean_r", loss.mean_r);
    r.emplace_back("clipped_fraction", loss.clipped_fraction);
    r.emplace_back("old_decay", old_decay);
    return r;
  }
};

//! @brief DiffusionNFT, online: each step() is one iteration of ALGORITHM.md section 3.
//!
//! 1. G prompts from the prompt source, each sampled K times by `Solver` with the old policy
//!    (any black-box sampler; only the clean samples are kept);
//! 2. rewards from the black-box `Reward`; a non-finite reward throws value_error naming the
//!    sample, before any state changes;
//! 3. group advantages;
//! 4. for each sample a random permutation of the N grid times, the first int(0.99 N) used,
//!    fresh Philox noise per (sample, slot); x_t = (1 - t) x0 + t eps; the NFT loss with the old
//!    policy's and (for the KL term) the reference policy's velocities; gradients accumulated
//!    over all slots and samples, then norm clipping and one AdamW step;
//! 5. old <- d old + (1 - d) theta with d from the decay schedule at the optimizer step count;
//! 6. the EMA of theta.
//! Every random draw is a pure function of (seed, iteration), so a run is reproducible and a
//! resumed checkpoint continues bit-identically.
//!
//! @tparam Policy   a dnft::trainable_policy (copied: theta, old, reference and EMA)
//! @tparam Solver   a dnft::solver for counting_field<Policy> (default in practice: DPM-Solver++(2M))
//! @tparam Reward   a dnft::reward over the policy's value type and conditions
//! @tparam Prompts  a dnft::prompt_source
//! @tparam Exec     the executor of the algorithms (its memory space holds the policy's tensors)
template <trainable_policy Policy, class Solver, class Reward, class Prompts, executor Exec = host_executor>
  requires solver<Solver, counting_field<Policy>> &&
           reward<Reward, policy_value_t<Policy>, condition_t<Policy>, policy_space_t<Policy>> &&
           prompt_source<Prompts, condition_t<Policy>>
class nft_trainer {
 public:
  using value_type = policy_value_t<Policy>;
  using condition_type = condition_t<Policy>;
  using space_type = policy_space_t<Policy>;
  using config_type = nft_config;
  using stats_type = nft_iteration_stats;
  static constexpr const char* kind = "dnft.nft_trainer";

  //! @param base     the starting model: theta, the old policy and the reference start as copies
  //! @throws value_error for an invalid configuration (naming the setting)
  nft_trainer(const Policy& base, Solver solver, Reward reward, Prompts prompts, nft_config config = {}, Exec ex = {})
      : cfg_(std::move(config)),
        ex_(ex),
        solver_(std::move(solver)),
        reward_(std::move(reward)),
        prompts_(std::move(prompts)),
        policy_(base),
        old_(base),
        ref_(base) {
    constexpr std::string_view fn = "nft_trainer";
    detail::validate(cfg_, fn);
    detail::validate(cfg_.loss, fn);
    grid_ = detail::sampling_grid_of(cfg_);
    const index_t n = index_t(grid_.size()) - 1;
    slots_ = train_time_count(n, cfg_.train_fraction);
    if (cfg_.use_ema) ema_.emplace(base);
    const index_t P = policy_.parameters().extents[0];
    m_ = ex_.template allocate<value_type>(P);
    v_ = ex_.template allocate<value_type>(P);
    zero(m_);
    zero(v_);
    allocate();
  }

  //! Runs one iteration and returns its statistics.
  nft_iteration_stats step() {
    constexpr std::string_view fn = "nft_trainer::step";
    detail::stopwatch total, lap;
    nft_iteration_stats st;
    const std::uint64_t it = std::uint64_t(n_.iteration);
    const index_t B = cfg_.batch(), D = dim_, K = cfg_.group_size, G = cfg_.prompts_per_iteration;
    const index_t n_grid = index_t(grid_.size()) - 1;

    // 1. collect
    prompts_(it, std::span<condition_type>(prompt_buf_));
    for (index_t i = 0; i < B; ++i) cond_[std::size_t(i)] = prompt_buf_[std::size_t(i / K)];
    fill_normal(ex_, x0_.view(B, D), philox_normal{detail::derive_seed(cfg_.seed, 1), stream_id(std::uint32_t(it), 0)});
    std::int64_t evals = 0;
    {
      counting_field<Policy> field(old_, evals);
      solver_.sample(field, x0_.view(B, D), std::span<const condition_type>(cond_), std::span<const double>(grid_));
    }
    st.seconds_sampling = lap.lap();

    // 2. reward (a black box; refuse non-finite values before anything changes)
    const tensor_view<const value_type, 2, space_type> x0c = x0_.view(B, D);
    detail::call_reward(ex_, reward_, x0c, std::span<const condition_type>(cond_), std::span<double>(rewards_),
                        reward_host_);
    for (index_t i = 0; i < B; ++i)
      if (!detail::isfinite(rewards_[std::size_t(i)]))
        detail::fail<value_error>(fn, "reward",
                                  "non-finite reward " + detail::num(rewards_[std::size_t(i)]) + " at sample " +
                                      std::to_string(i) + "; the iteration was not applied");
    st.seconds_reward = lap.lap();

    // 3. advantages (B values: on the host, then to the executor's memory)
    const auto adv_st = group_advantages(host_executor{1}, rewards_, group_ids_, adv_host_, cfg_.advantages);
    for (index_t i = 0; i < B; ++i) adv_cast_[std::size_t(i)] = value_type(adv_host_[std::size_t(i)]);
    detail::copy_from_host(ex_, adv_cast_.data(), adv_.data(), B);

    // 4. train on the forward process
    policy_.zero_grad();
    std::vector<index_t> perm;
    if (cfg_.times == train_times::grid) {
      perm_.resize(std::size_t(B * n_grid));
      for (index_t i = 0; i < B; ++i) {
        perm = grid_time_permutation(n_grid, detail::derive_seed(cfg_.seed, 2), it, std::uint64_t(i));
        std::copy(perm.begin(), perm.end(), perm_.begin() + i * n_grid);
      }
    }
    const index_t mb = cfg_.micro_batch > 0 ? std::min(cfg_.micro_batch, B) : B;
    nft_stats acc;
    for (index_t j = 0; j < slots_; ++j) {
      for (index_t i = 0; i < B; ++i) {
        double t;
        if (cfg_.times == train_times::grid)
          t = grid_[std::size_t(perm_[std::size_t(i * n_grid + j)])];
        else
          t = (cfg_.times == train_times::uniform
                   ? time_sampler::uniform(detail::derive_seed(cfg_.seed, 3), stream_id(std::uint32_t(it), std::uint32_t(j)))
                   : time_sampler::logit_normal(detail::derive_seed(cfg_.seed, 3),
                                                stream_id(std::uint32_t(it), std::uint32_t(j))))(std::uint64_t(i));
        t_cast_[std::size_t(i)] = value_type(t);
      }
      detail::copy_from_host(ex_, t_cast_.data(), t_.data(), B);
      fill_normal(ex_, eps_.view(B, D),
                  philox_normal{detail::derive_seed(cfg_.seed, 4), stream_id(std::uint32_t(it), std::uint32_t(j))});
      forward_noise(ex_, x0_.view(B, D), eps_.view(B, D), t_.view(), xt_.view(B, D));
      for (index_t b0 = 0; b0 < B; b0 += mb) {
        const index_t n = std::min(mb, B - b0);
        const auto rows = [&](auto& buf) { return make_view(buf.data() + b0 * D, {n, D}, space_type{}); };
        const auto rows1 = [&](auto& buf) { return make_view(buf.data() + b0, {n}, space_type{}); };
        const std::span<const condition_type> c(cond_.data() + b0, std::size_t(n));
        const tensor_view<const value_type, 2, space_type> xt = rows(xt_);
        const tensor_view<const value_type, 1, space_type> tt = rows1(t_);
        policy_.forward(xt, tt, c, rows(vth_));
        old_.predict(xt, tt, c, rows(vold_));
        const bool kl = cfg_.loss.kl_weight > 0;
        if (kl) ref_.predict(xt, tt, c, rows(vref_));
        const nft_stats s =
            kl ? nft_loss(ex_, rows(x0_), rows(eps_), rows1(t_), rows1(adv_), rows(vth_), rows(vold_), rows(vref_),
                          rows(grad_), cfg_.loss)
               : nft_loss(ex_, rows(x0_), rows(eps_), rows1(t_), rows1(adv_), rows(vth_), rows(vold_), none,
                          rows(grad_), cfg_.loss);
        // nft_loss averages over its n rows: weight the micro-batch and the slot into one mean.
        const double w = double(n) / double(B) / double(slots_);
        lincomb(ex_, rows(grad_), std::array<double, 1>{w}, rows(grad_));
        policy_.backward(rows(grad_));
        accumulate(acc, s, w);
        evals += (kl ? 4 : 3) * n;  // forward + backward of theta, old, (reference)
      }
    }
    st.grad_norm = clip_grad_norm(ex_, policy_.gradients(), cfg_.max_grad_norm);
    ++n_.optimizer_steps;
    adamw_step(ex_, policy_.parameters(), policy_.gradients(), m_.view(), v_.view(), n_.optimizer_steps, cfg_.optimizer);

    // 5. soft update of the old policy; 6. EMA
    st.old_decay = soft_update(ex_, old_.parameters(), policy_.parameters(), cfg_.old_decay, n_.optimizer_steps);
    if (ema_) st.ema_decay = ema_update(ex_, ema_->parameters(), policy_.parameters(), n_.ema_updates++, cfg_.ema);
    ex_.synchronize();
    st.seconds_training = lap.lap();

    detail::finish_iteration(st, n_, B, evals, adv_st, rewards_);
    st.loss = acc;
    st.loss.batch = B;
    st.loss.elements = D;
    st.seconds_total = total.lap();
    (void)G;
    return st;
  }

  //! The policy being trained (theta).
  Policy& policy() noexcept { return policy_; }
  const Policy& policy() const noexcept { return policy_; }
  //! The sampling (old) policy.
  const Policy& old_policy() const noexcept { return old_; }
  //! The frozen reference policy (the starting model).
  const Policy& reference() const noexcept { return ref_; }
  //! The EMA of theta, or nullptr when use_ema is off.
  const Policy* ema_policy() const noexcept { return ema_ ? &*ema_ : nullptr; }
  const nft_config& config() const noexcept { return cfg_; }
  std::span<const double> sampling_grid() const noexcept { return grid_; }
  //! Iterations done so far.
  std::int64_t iteration() const noexcept { return n_.iteration; }
  std::int64_t images() const noexcept { return n_.images; }
  std::int64_t model_evals() const noexcept { return n_.model_evals; }
  //! The clean samples and conditions of the last collection.
  tensor_view<const value_type, 2, space_type> last_samples() const { return x0_.view(cfg_.batch(), dim_); }
  std::span<const condition_type> last_conditions() const noexcept { return cond_; }

  //! @brief Saves the whole training state (theta, old, reference, EMA, AdamW moments, counters,
  //! configuration) to a safetensors file, atomically: a crash never leaves a partial file in
  //! place of a good one.
  void save_checkpoint(const std::filesystem::path& path) const {
    detail::save_trainer_checkpoint<Exec, const Policy>(
        path, ex_, kind, detail::to_json(cfg_),
        {{"policy.", &policy_}, {"old.", &old_}, {"reference.", &ref_}, {"ema.", ema_ ? &*ema_ : nullptr}}, m_, v_, n_);
  }

  //! @brief Restores a state saved by save_checkpoint with the same configuration and policy
  //! shapes; refuses (io_error) an unreadable, corrupted or mismatched file before changing
  //! anything.
  void load_checkpoint(const std::filesystem::path& path) {
    detail::load_trainer_checkpoint<Exec, Policy>(
        path, ex_, kind, detail::to_json(cfg_),
        {{"policy.", &policy_}, {"old.", &old_}, {"reference.", &ref_}, {"ema.", ema_ ? &*ema_ : nullptr}}, m_, v_, n_);
  }

 private:
  template <class Buf>
  void zero(Buf& b) {
    lincomb(ex_, b.view(), std::array<double, 0>{});
  }

  void allocate() {
    const index_t B = cfg_.batch();
    dim_ = index_t(policy_.dim());
    const index_t D = dim_;
    x0_ = ex_.template allocate<value_type>(B * D);
    xt_ = ex_.template allocate<value_type>(B * D);
    eps_ = ex_.template allocate<value_type>(B * D);
    vth_ = ex_.template allocate<value_type>(B * D);
    vold_ = ex_.template allocate<value_type>(B * D);
    vref_ = ex_.template allocate<value_type>(B * D);
    grad_ = ex_.template allocate<value_type>(B * D);
    t_ = ex_.template allocate<value_type>(B);
    adv_ = ex_.template allocate<value_type>(B);
    t_cast_.assign(std::size_t(B), value_type(0));
    adv_cast_.assign(std::size_t(B), value_type(0));
    rewards_.assign(std::size_t(B), 0.0);
    adv_host_.assign(std::size_t(B), 0.0);
    cond_.resize(std::size_t(B));
    prompt_buf_.resize(std::size_t(cfg_.prompts_per_iteration));
    group_ids_.resize(std::size_t(B));
    for (index_t i = 0; i < B; ++i) group_ids_[std::size_t(i)] = std::int64_t(i / cfg_.group_size);
  }

  static void accumulate(nft_stats& a, const nft_stats& s, double w) {
    a.loss += w * s.loss;
    a.policy_loss += w * s.policy_loss;
    a.kl += w * s.kl;
    a.theta_old += w * s.theta_old;
    a.old_ref += w * s.old_ref;
    a.x0_sq += w * s.x0_sq;
    a.mean_r += w * s.mean_r;
    a.clipped_fraction += w * s.clipped_fraction;
    a.mean_weight_pos += w * s.mean_weight_pos;
    a.mean_weight_neg += w * s.mean_weight_neg;
  }

  nft_config cfg_;
  Exec ex_;
  Solver solver_;
  Reward reward_;
  Prompts prompts_;
  Policy policy_, old_, ref_;
  std::optional<Policy> ema_;
  buffer_t<Exec, value_type> m_, v_;
  buffer_t<Exec, value_type> x0_, xt_, eps_, vth_, vold_, vref_, grad_, t_, adv_;
  std::vector<value_type> t_cast_, adv_cast_, reward_host_;
  std::vector<double> rewards_, adv_host_, grid_;
  std::vector<condition_type> cond_, prompt_buf_;
  std::vector<std::int64_t> group_ids_;
  std::vector<index_t> perm_;
  index_t dim_ = 0, slots_ = 0;
  detail::trainer_counters n_;
};

}  // namespace dnft
