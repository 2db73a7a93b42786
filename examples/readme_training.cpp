// SPDX-License-Identifier: Apache-2.0
// The training example of README.md, verbatim between the markers (a test keeps the two
// identical): DiffusionNFT on a reward written by the user, with the reference MLP policy.
// Exits with 1 unless the mean reward rose.
// example-needs: optimized
// [readme]
#include <dnft/dnft.hpp>
#include <dnft/policies/mlp.hpp>  // the reference MLP velocity field (Eigen)

#include <cmath>
#include <cstdio>

int main() {
  // The policy: any dnft::trainable_policy; here the reference MLP, 2-D samples, 4 prompts.
  dnft::mlp_config mc;
  mc.dim = 2;
  mc.num_conditions = 4;
  mc.width = 64;
  mc.depth = 2;
  const dnft::mlp_policy<float> base(mc);

  // A black-box reward: prompt c asks for samples near the point (c - 1.5, 0).
  auto reward = [](dnft::tensor_view<const float, 2> x, std::span<const int> c, std::span<double> out) {
    for (dnft::index_t i = 0; i < x.extents[0]; ++i) {
      const double dx = x(i, 0) - (c[std::size_t(i)] - 1.5), dy = x(i, 1);
      out[std::size_t(i)] = -std::sqrt(dx * dx + dy * dy);
    }
  };
  // The prompts of each iteration: G = prompts_per_iteration of them, each sampled K times.
  auto prompts = [](std::uint64_t iteration, std::span<int> out) {
    for (std::size_t g = 0; g < out.size(); ++g) out[g] = int((iteration + g) % 4);
  };

  dnft::nft_config cfg;  // every default of the reference (ALGORITHM.md); change what you need
  cfg.prompts_per_iteration = 4;
  cfg.group_size = 8;
  cfg.optimizer.lr = 1e-3;
  dnft::nft_trainer trainer(base, dnft::dpm_solver<>{}, reward, prompts, cfg);  // DPM-Solver++(2M)

  dnft::metrics_log log{"readme_training.jsonl"};  // every statistic, one JSON line per iteration
  double first = 0, last = 0;
  dnft::train(trainer, 60, [&](const dnft::nft_iteration_stats& s) {
    log(s);
    (s.iteration == 1 ? first : last) = s.reward_mean;
  });
  std::printf("mean reward %.3f at iteration 1, %.3f at iteration 60\n", first, last);
  return last > first ? 0 : 1;
}
// [readme]
