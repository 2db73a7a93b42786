// SPDX-License-Identifier: Apache-2.0
// The flagship demo on toy-GenEval (prompts naming the modes of a Gaussian mixture; 8 modes in
// D = 2 by default): pre-trains a base flow model on mostly mislabelled data (or reuses a cached
// checkpoint), then fine-tunes it with DiffusionNFT (reference settings, no guidance) and with
// FlowGRPO (reference settings: flow SDE with noise level 0.7, clip range 1e-4, KL 0.04,
// guidance 4.5 while sampling and training) on the same budget of sampled images. Writes
// metrics (CSV and JSON lines), summary.json and plots (gnuplot), and prints the sampled images,
// model evaluations and training seconds each method needed to reach 0.9 and 0.95.
// This file holds the command line; examples/geneval_demo/ the training and the report.
// Run with --help for the flags; scripts/demo.sh builds and runs it.
// example-needs: CLI11 OpenMP optimized
// example-test-args: --width 32 --depth 2 --pretrain-steps 100 --pretrain-batch 64 --budget 512 --eval-every 2 --threads 1
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "geneval_demo/demo.hpp"

int main(int argc, char** argv) {
  const auto start = geneval_demo::clock_type::now();
  geneval_demo::settings s;
  CLI::App app{
      "dnft toy-GenEval demo: pre-trains a base flow model (or reuses the cached one), fine-tunes it with DiffusionNFT "
      "and with FlowGRPO, both at their reference settings, on the same budget of sampled images, and reports what "
      "each needed to reach accuracy 0.9 and 0.95."};
  app.get_formatter()->column_width(36);
  // task and model
  app.add_option("--dim", s.dim, "dimension D of the samples")->check(CLI::Range(2, 4096))->capture_default_str();
  app.add_option("--prompts", s.prompts, "number of prompts K (= mixture modes)")->check(CLI::Range(2, 1000))->capture_default_str();
  app.add_option("--width", s.width, "MLP width")->check(CLI::Range(1, 65536))->capture_default_str();
  app.add_option("--depth", s.depth, "MLP hidden layers")->check(CLI::Range(1, 64))->capture_default_str();
  app.add_option("--base-seed", s.base_seed, "seed of the model initialisation")->capture_default_str();
  app.add_option("--pretrain-steps", s.pretrain_steps, "flow-matching pre-training steps")->check(CLI::Range(1, 100000000))->capture_default_str();
  app.add_option("--pretrain-batch", s.pretrain_batch, "pre-training batch size")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--pretrain-lr", s.pretrain_lr, "pre-training peak learning rate (cosine decay to 0.1x)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--pretrain-seed", s.pretrain_seed, "seed of the pre-training times and noise")->capture_default_str();
  // both methods
  app.add_option("--method", s.method, "which methods to run")->check(CLI::IsMember({"nft", "grpo", "both"}))->capture_default_str();
  app.add_option("--budget", s.budget, "sampled images per method")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", s.seed, "seed of the fine-tuning runs (sampling and training noise)")->capture_default_str();
  app.add_option("--lr", s.lr, "AdamW learning rate of both methods")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--group-size", s.group_size, "samples per prompt (both methods)")->check(CLI::Range(2, 100000))->capture_default_str();
  app.add_option("--prompts-per-iteration", s.prompts_per_iteration, "prompts per iteration (both methods)")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--sampling-steps", s.sampling_steps, "sampling steps on the shifted grid (both methods)")->check(CLI::Range(2, 1000))->capture_default_str();
  app.add_option("--eval-every", s.eval_every, "evaluate every this many iterations (and after the last)")->check(CLI::Range(1, 100000000))->capture_default_str();
  app.add_flag("--eval-ema", s.eval_ema, "evaluate the EMA of the parameters instead of the parameters");
  // DiffusionNFT
  app.add_option("--solver", s.solver, "DiffusionNFT's sampler: dpm2 = DPM-Solver++(2M), dpm1, euler, heun, sde (flow SDE), ddim")
      ->check(CLI::IsMember({"dpm2", "dpm1", "euler", "heun", "sde", "ddim"}))
      ->capture_default_str();
  app.add_option("--beta", s.beta, "DiffusionNFT's beta")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--decay", s.decay, "DiffusionNFT's old-policy decay schedule type (0, 1, 2)")->check(CLI::Range(0, 2))->capture_default_str();
  app.add_option("--decay-schedule", s.decay_schedule,
                 "DiffusionNFT's old-policy decay as FLAT,RATE,MAX instead of --decay: d = 0 for FLAT steps, then "
                 "grows by RATE per step up to MAX (e.g. 0,1,0.9: a constant, slow 0.9)")
      ->delimiter(',')
      ->expected(3);
  app.add_option("--kl-weight", s.kl_weight, "DiffusionNFT's KL weight to the reference")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--adv-mode", s.adv_mode, "DiffusionNFT's advantage transform")
      ->check(CLI::IsMember({"all", "positive_only", "negative_only", "one_only", "binary"}))
      ->capture_default_str();
  app.add_option("--adaptive-weight", s.adaptive_weight,
                 "DiffusionNFT's adaptive loss weight; off: the plain velocity loss (nft_options::plain_velocity())")
      ->capture_default_str();
  app.add_option("--train-times", s.train_times, "DiffusionNFT's training times")
      ->check(CLI::IsMember({"grid", "uniform", "logit_normal"}))
      ->capture_default_str();
  app.add_option("--ddim-eta", s.ddim_eta, "noise of --solver ddim")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_flag("--nft-guidance-eval", s.nft_guidance_eval, "also evaluate DiffusionNFT with guidance (--guidance)");
  // FlowGRPO
  app.add_option("--guidance", s.guidance, "FlowGRPO's classifier-free guidance (sampling, training, guided evaluation)")->capture_default_str();
  app.add_option("--clip-range", s.clip_range, "FlowGRPO's PPO clip range")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--noise-level", s.noise_level, "flow-SDE noise level (FlowGRPO; also --solver sde)")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--grpo-kl-weight", s.grpo_kl_weight, "FlowGRPO's KL weight to the reference")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--grpo-minibatches", s.grpo_minibatches,
                 "FlowGRPO's optimizer steps per iteration, each on a part of the prompt groups (1 to --prompts-per-iteration)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  // the run
  app.add_option("--out", s.out, "output folder (metrics, summary.json, plots/, cache/)")->capture_default_str();
  app.add_option("--threads", s.threads,
                 "threads of the network's matrix products (OpenMP) and of the element-wise work; 0: all cores. "
                 "More than 1 pays off only on an idle machine: on a busy one the threads wait for each other "
                 "(pre-training measured 10x slower with 2 threads on a loaded 2-core machine)")->check(CLI::Range(0, 1024))->capture_default_str();
  app.add_flag("--no-plots", s.no_plots, "do not run gnuplot");
  app.add_option("--device", s.device,
                 "where the fine-tuning runs: cpu, or cuda (an NVIDIA GPU: cuda::mlp_policy, the reward and the "
                 "samplers on the device; needs a build with CUDA, i.e. nvcc found at configure time). "
                 "Pre-training and the cache stay on the host")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!s.decay_schedule.empty()) {
    const auto& d = s.decay_schedule;
    if (!(d[0] >= 0) || !(d[1] >= 0) || !(d[2] >= 0 && d[2] <= 1)) {
      std::fprintf(stderr, "geneval_demo: --decay-schedule: expected FLAT >= 0, RATE >= 0 and MAX in [0, 1], got %g,%g,%g\n",
                   d[0], d[1], d[2]);
      return 2;
    }
  }
  if (s.grpo_minibatches > s.prompts_per_iteration) {
    std::fprintf(stderr, "geneval_demo: --grpo-minibatches: expected at most --prompts-per-iteration (%d), got %d\n",
                 s.prompts_per_iteration, s.grpo_minibatches);
    return 2;
  }

  try {
    geneval_demo::check_device(s);  // before pre-training: fail fast
    std::filesystem::create_directories(s.out);
    dnft::toy::geneval_config tc;
    tc.modes = s.prompts;
    tc.dim = s.dim;
    const dnft::toy::geneval_task task(tc);
    std::printf("dnft toy-GenEval demo: %d prompts (mixture modes) in D = %d; %lld sampled images per method = %lld "
                "iterations of %d prompts x %d samples; %s%s\n",
                s.prompts, s.dim, static_cast<long long>(s.iterations() * s.batch()),
                static_cast<long long>(s.iterations()), s.prompts_per_iteration, s.group_size,
                s.threads == 0 ? "all cores" : s.threads == 1 ? "1 thread" : (std::to_string(s.threads) + " threads").c_str(),
                s.device == "cuda" ? "; fine-tuning on the CUDA device" : "");
    geneval_demo::base_info base;
    const std::vector<geneval_demo::method_run> runs = geneval_demo::train_all(s, task, base, start);
    geneval_demo::report(s, task, base, runs, start);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "geneval_demo: %s\n", e.what());
    return 1;
  }
}
