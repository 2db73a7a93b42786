// SPDX-License-Identifier: Apache-2.0
// The toy-GenEval demo on a CUDA device (--device cuda; compiled when dnft::cuda exists): the
// fine-tuning runs of methods.hpp instantiated with cuda::mlp_policy (the host base model's
// parameters uploaded), the device toy reward and cuda::executor, which also runs the samplers
// and the evaluations (the same protocol and held-out noises as on the host).
#include <cuda_runtime_api.h>

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "demo.hpp"
#include "dnft/cuda/cuda.cuh"
#include "dnft/cuda/policies/mlp.cuh"
#include "dnft/cuda/tasks/toy_geneval.cuh"
#include "methods.hpp"

namespace geneval_demo {

void check_device(const settings& s) {
  if (s.device != "cuda") return;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    throw std::runtime_error(
        "--device cuda: no usable CUDA device (" +
        std::string(e != cudaSuccess ? cudaGetErrorString(e) : "the CUDA runtime reports 0 devices") +
        "). Run with --device cpu, or on a machine with an NVIDIA GPU and its driver.");
}

std::vector<method_run> run_methods_cuda(const settings& s, const dnft::toy::geneval_task& task, const base_info& base,
                                         const dnft::mlp_config& config, std::span<const float> base_parameters,
                                         clock_type::time_point start) {
  check_device(s);
  const dnft::cuda::executor ex;
  dnft::cuda::mlp_policy<float> policy(config, ex);
  if (policy.parameter_count() != dnft::index_t(base_parameters.size()))
    throw std::logic_error("geneval_demo: the device model has " + std::to_string(policy.parameter_count()) +
                           " parameters, the base model " + std::to_string(base_parameters.size()));
  ex.copy_from_host(base_parameters.data(), policy.parameters().data, policy.parameter_count());  // waits
  const dnft::cuda::toy::geneval_reward reward(task, dnft::cuda::toy::reward_kind::hit, ex);
  std::printf("device: CUDA device %d (%d multiprocessors); the base model's parameters uploaded\n", ex.device(),
              ex.sm_count());
  return methods::run_methods(s, task, base, policy, reward, ex, start);
}

}  // namespace geneval_demo
