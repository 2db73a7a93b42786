// SPDX-License-Identifier: Apache-2.0
// The toy-GenEval demo's parts (see examples/geneval_demo.cpp): its settings, what a run
// produces, and the two halves, training (train.cpp) and reporting (report.cpp), compiled as
// separate translation units so the build uses two cores.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dnft/policies/mlp_config.hpp"
#include "dnft/tasks/toy_geneval.hpp"
#include "dnft/train/report.hpp"

namespace geneval_demo {

//! Every setting of the demo; the defaults are the reference settings of both methods.
struct settings {
  // task and model
  int dim = 2;
  int prompts = 8;
  int width = 256;
  int depth = 3;
  std::uint64_t base_seed = 1;  // model initialisation
  // pre-training
  int pretrain_steps = 10000;
  int pretrain_batch = 256;
  double pretrain_lr = 1e-3;
  std::uint64_t pretrain_seed = 0;  // times and noise of pre-training
  // both methods
  std::string method = "both";
  std::int64_t budget = 19200;
  int group_size = 16;
  int prompts_per_iteration = 8;
  int sampling_steps = 10;
  double lr = 3e-4;
  std::uint64_t seed = 3;  // sampling and training noise of the fine-tuning runs
  int eval_every = 10;
  bool eval_ema = false;
  // DiffusionNFT
  std::string solver = "dpm2";
  double beta = 1.0;
  int decay = 1;
  std::vector<double> decay_schedule;  // FLAT, RATE, MAX (overrides decay when given)
  double kl_weight = 1e-4;
  std::string adv_mode = "all";
  bool adaptive_weight = true;
  std::string train_times = "grid";
  double ddim_eta = 1.0;
  bool nft_guidance_eval = false;
  // FlowGRPO
  double guidance = 4.5;
  double clip_range = 1e-4;
  double noise_level = 0.7;
  double grpo_kl_weight = 0.04;
  int grpo_minibatches = 1;
  // the run
  std::string out = "demo-out";
  int threads = 1;  // see --threads: OpenMP threads only pay off on an idle machine
  bool no_plots = false;
  std::string device = "cpu";  // cpu or cuda: where the fine-tuning runs (pre-training is on the host)

  bool run_nft() const { return method == "nft" || method == "both"; }
  bool run_grpo() const { return method == "grpo" || method == "both"; }
  std::int64_t batch() const { return std::int64_t(prompts_per_iteration) * group_size; }
  std::int64_t iterations() const { return (budget + batch() - 1) / batch(); }
  nlohmann::ordered_json to_json() const;
};

//! Accuracy of a model under the evaluation protocol (40-step Euler, 64 held-out noises per prompt).
struct accuracy {
  double accuracy = 0;     // in the prompt's mode
  double in_any_mode = 0;  // in any mode (sample quality)
};

//! One evaluation protocol of one method (e.g. FlowGRPO scored with guidance 4.5).
struct series {
  std::string key;    // file names and JSON: nft, nft_guided, grpo_guided, grpo
  std::string label;  // tables and plots
  double guidance = 1.0;
  std::vector<dnft::run_point> points;  // value = accuracy
  std::vector<double> in_any_mode;
  std::vector<float> final_samples;  // (B, D) at the last evaluation
  std::vector<int> final_prompts;
};

//! What one fine-tuning run produced.
struct method_run {
  std::string key;    // nft, grpo
  std::string label;  // DiffusionNFT, FlowGRPO
  std::vector<series> evals;
  nlohmann::ordered_json config;
  double train_seconds = 0;  // sum of the iterations' seconds
  double eval_seconds = 0;
  double wall_seconds = 0;
  std::int64_t iterations = 0, images = 0, model_evals = 0;
};

//! The base model: where it came from and how good it is.
struct base_info {
  bool cached = false;
  std::string cache_file;
  double pretrain_seconds = 0;
  accuracy unguided, guided;
  std::vector<float> samples_unguided, samples_guided;
  std::vector<int> prompts;
};

using clock_type = std::chrono::steady_clock;

//! Pre-trains (or loads) the base model and runs the methods the settings ask for (train.cpp).
std::vector<method_run> train_all(const settings& s, const dnft::toy::geneval_task& task, base_info& base,
                                  clock_type::time_point start);

//! Throws (a message naming --device cuda, why, and what to do) when the settings ask for the CUDA
//! device and this build has no CUDA backend or no usable GPU is present (train_cuda.cu, or
//! train.cpp in a build without CUDA).
void check_device(const settings& s);

//! The fine-tuning runs on the CUDA device: cuda::mlp_policy holding the base's parameters, the
//! device toy reward, the samplers and evaluations on a cuda::executor (train_cuda.cu).
std::vector<method_run> run_methods_cuda(const settings& s, const dnft::toy::geneval_task& task, const base_info& base,
                                         const dnft::mlp_config& config, std::span<const float> base_parameters,
                                         clock_type::time_point start);

//! Writes the series, samples, plots and summary.json and prints the summary (report.cpp).
void report(const settings& s, const dnft::toy::geneval_task& task, const base_info& base,
            const std::vector<method_run>& runs, clock_type::time_point start);

//! Formatting shared by both halves.
std::string fmt(const char* format, double v);
std::string duration(double seconds);
std::string human(double v);
double seconds_since(clock_type::time_point t0);

}  // namespace geneval_demo
