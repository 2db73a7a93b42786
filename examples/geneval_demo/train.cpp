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
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "demo.hpp"
#include "dnft/io/safetensors.hpp"
#include "dnft/policies/mlp.hpp"
#include "dnft/tasks/toy_geneval_eval.hpp"
#include "dnft/train/pretrain.hpp"
#include "methods.hpp"

namespace geneval_demo {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using policy_t = dnft::mlp_policy<float>;

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

}  // namespace

std::vector<method_run> train_all(const settings& s, const dnft::toy::geneval_task& task, base_info& base,
                                  clock_type::time_point start) {
  Eigen::setNbThreads(s.threads);  // no effect without OpenMP; 0: Eigen's default (all cores)
  policy_t policy = make_base(s, task, base);
  {
    const auto te = clock_type::now();
    const auto u = dnft::toy::evaluate(policy, task, methods::eval_options_of(1.0), &base.samples_unguided, &base.prompts,
                                       dnft::host_executor{s.threads});
    const auto g = dnft::toy::evaluate(policy, task, methods::eval_options_of(s.guidance), &base.samples_guided, nullptr,
                                       dnft::host_executor{s.threads});
    base.unguided = {u.accuracy, u.in_any_mode};
    base.guided = {g.accuracy, g.in_any_mode};
    std::printf("base model: accuracy %.3f without guidance, %.3f with guidance %g (evaluated in %.1f s)\n",
                u.accuracy, g.accuracy, s.guidance, seconds_since(te));
  }

  if (s.device == "cuda") {
    const auto params = policy.parameters();
    return run_methods_cuda(s, task, base, policy.config(),
                            std::span<const float>(params.data, std::size_t(params.extents[0])), start);
  }
  return methods::run_methods(s, task, base, policy, dnft::toy::hit_reward{&task}, dnft::host_executor{s.threads}, start);
}

#if !defined(DNFT_EXAMPLE_CUDA)  // this build has no train_cuda.cu

namespace {
[[noreturn]] void no_cuda() {
  throw std::runtime_error(
      "--device cuda: this build of the demo has no CUDA backend (dnft::cuda was not configured: no CUDA "
      "compiler found, or DNFT_ENABLE_CUDA=OFF). Run with --device cpu, or rebuild with the CUDA toolkit (nvcc) "
      "installed and -DDNFT_ENABLE_CUDA=ON.");
}
}  // namespace

void check_device(const settings& s) {
  if (s.device == "cuda") no_cuda();
}

std::vector<method_run> run_methods_cuda(const settings&, const dnft::toy::geneval_task&, const base_info&,
                                         const dnft::mlp_config&, std::span<const float>, clock_type::time_point) {
  no_cuda();
}

#endif

}  // namespace geneval_demo
