// SPDX-License-Identifier: Apache-2.0
// One DiffusionNFT training step end to end on the host (ALGORITHM.md section 3, steps 2-6), with a
// tiny linear velocity model v = W x + b written here (forward and backward by hand):
// samples -> rewards -> group advantages -> (per sample, 9 of the 10 grid times, Philox noise)
// forward noising -> NFT loss and gradient -> backward -> gradient clipping -> AdamW -> soft update
// of the old policy -> EMA. Prints the loss before and after the step; exits with 1 if it did not
// decrease.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/algorithm/forward_noise.hpp"
#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/schedule/time_grid.hpp"
#include "dnft/schedule/time_sampler.hpp"

namespace {

constexpr int D = 2;       // a 2-D toy: each sample is a point
constexpr int groups = 8;  // prompts
constexpr int K = 8;       // samples per prompt
constexpr int B = groups * K;
constexpr int P = D * D + D;  // parameters: W (D x D, row-major), then b (D)

//! v[i] = W x[i] + b for the B rows of x (B, D).
void predict(const std::vector<float>& theta, const std::vector<float>& x, std::vector<float>& v) {
  for (int i = 0; i < B; ++i)
    for (int r = 0; r < D; ++r) {
      float s = theta[std::size_t(D * D + r)];
      for (int c = 0; c < D; ++c) s += theta[std::size_t(r * D + c)] * x[std::size_t(i * D + c)];
      v[std::size_t(i * D + r)] = s;
    }
}

//! grads += scale * dL/dtheta given dL/dv (B, D): dL/dW = sum_i dv_i x_i^T, dL/db = sum_i dv_i.
void backward(const std::vector<float>& x, const std::vector<float>& dv, float scale, std::vector<float>& grads) {
  for (int i = 0; i < B; ++i)
    for (int r = 0; r < D; ++r) {
      const float g = scale * dv[std::size_t(i * D + r)];
      for (int c = 0; c < D; ++c) grads[std::size_t(r * D + c)] += g * x[std::size_t(i * D + c)];
      grads[std::size_t(D * D + r)] += g;
    }
}

struct batch {
  std::vector<float> x0 = std::vector<float>(B * D);
  std::vector<double> adv = std::vector<double>(B);
  std::vector<std::vector<dnft::index_t>> perm;  // each sample's grid-time permutation
};

//! The NFT objective of one batch, averaged over the trained time slots (one gradient
//! accumulation window); accumulates d objective / d theta into grads when given.
double objective(const batch& bt, const std::vector<double>& grid, const std::vector<float>& theta,
                 const std::vector<float>& theta_old, const std::vector<float>& theta_ref, std::uint32_t iteration,
                 std::vector<float>* grads) {
  const dnft::index_t slots = dnft::train_time_count(dnft::index_t(grid.size()) - 1);  // 9 of the 10 times
  std::vector<float> t(B), xt(B * D), vth(B * D), vold(B * D), vref(B * D), g(B * D);
  auto m = [](std::vector<float>& a) { return dnft::make_view(a.data(), {B, D}); };
  auto cm = [](const std::vector<float>& a) { return dnft::make_view(a.data(), {B, D}); };
  double loss = 0;
  for (dnft::index_t j = 0; j < slots; ++j) {
    for (int i = 0; i < B; ++i) t[std::size_t(i)] = float(grid[std::size_t(bt.perm[std::size_t(i)][std::size_t(j)])]);
    // Fresh noise for every (sample, slot), regenerated from (seed, stream) instead of stored.
    const dnft::philox_normal eps{.seed = 2024, .stream = dnft::stream_id(iteration, std::uint32_t(j))};
    dnft::forward_noise(dnft::host, cm(bt.x0), eps, t, m(xt));
    predict(theta, xt, vth);
    predict(theta_old, xt, vold);
    predict(theta_ref, xt, vref);
    const auto st =
        grads ? dnft::nft_loss(dnft::host, cm(bt.x0), eps, t, bt.adv, cm(vth), cm(vold), cm(vref), m(g))
              : dnft::nft_loss(dnft::host, cm(bt.x0), eps, t, bt.adv, cm(vth), cm(vold), cm(vref), dnft::none);
    loss += st.loss / double(slots);
    if (grads) backward(xt, g, 1.0f / float(slots), *grads);
  }
  return loss;
}

}  // namespace

int main() {
  // At the start theta = theta_old = theta_ref (ALGORITHM.md section 3).
  std::vector<float> theta(P);
  const dnft::philox_normal init{.seed = 1, .stream = 0};
  for (int k = 0; k < P; ++k) theta[std::size_t(k)] = 0.3f * init(0, std::uint64_t(k));
  std::vector<float> theta_old = theta, theta_ref = theta, ema = theta;

  // 1. "Collect": x0 from a toy distribution, four Gaussian modes at (+-2, +-2), std 0.3.
  batch bt;
  const dnft::philox_normal draw{.seed = 7, .stream = 1};
  dnft::fill_normal(dnft::host, dnft::make_view(bt.x0.data(), {B, D}), draw);
  for (int i = 0; i < B; ++i) {
    const float cx = (i % 2) ? 2.0f : -2.0f, cy = (i / 2 % 2) ? 2.0f : -2.0f;
    bt.x0[std::size_t(i * D)] = cx + 0.3f * bt.x0[std::size_t(i * D)];
    bt.x0[std::size_t(i * D + 1)] = cy + 0.3f * bt.x0[std::size_t(i * D + 1)];
  }
  // 2. Reward: closeness to the mode at (2, 2).
  std::vector<double> reward(B);
  std::vector<int> prompt(B);
  for (int i = 0; i < B; ++i) {
    const double dx = bt.x0[std::size_t(i * D)] - 2.0, dy = bt.x0[std::size_t(i * D + 1)] - 2.0;
    reward[std::size_t(i)] = -(dx * dx + dy * dy);
    prompt[std::size_t(i)] = i / K;
  }
  // 3. Group advantages (global std, eps 1e-4).
  const auto as = dnft::group_advantages(dnft::host, reward, prompt, bt.adv);
  std::printf("rewards: mean %.4f std %.4f over %td groups of %td\n", as.reward_mean, as.reward_std, as.groups,
              as.max_group_size);

  // 4. Train: each sample trains on 9 of the 10 shifted-grid times, in its own random order.
  const auto grid = dnft::shifted_sigma_grid(10);
  const std::uint32_t iteration = 0;
  for (int i = 0; i < B; ++i) bt.perm.push_back(dnft::grid_time_permutation(10, 2024, iteration, std::uint64_t(i)));
  std::vector<float> grads(P, 0.0f), m(P, 0.0f), v(P, 0.0f);
  const double before = objective(bt, grid, theta, theta_old, theta_ref, iteration, &grads);
  const double norm = dnft::clip_grad_norm(dnft::host, grads, 1.0);
  const std::int64_t step = 1;
  dnft::adamw_step(dnft::host, theta, grads, m, v, step);  // lr 3e-4, betas (0.9, 0.999), wd 1e-4
  // The same objective (same x0, noise, times, advantages and old policy) after the step.
  const double after = objective(bt, grid, theta, theta_old, theta_ref, iteration, nullptr);

  // 5. Soft-update the old policy (schedule type 1: d = min(0.001 step, 0.5)); 6. EMA.
  const double d = dnft::soft_update(dnft::host, theta_old, theta, dnft::decay_schedule::of_type(1), step);
  const double e = dnft::ema_update(dnft::host, ema, theta, step - 1);

  std::printf("gradient norm before clipping: %.6g\n", norm);
  std::printf("NFT loss before the step: %.9f\n", before);
  std::printf("NFT loss after the step:  %.9f (%+.3g)\n", after, after - before);
  std::printf("old-policy decay %.4g, EMA decay %.4g\n", d, e);
  return after < before ? 0 : 1;
}
