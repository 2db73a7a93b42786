// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the rewards of toy-GenEval computed on the device (one thread per sample, the
// formulas of dnft/detail/toy_geneval.hpp, the same as dnft::toy::hit_reward / distance_reward).
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dnft/concepts/reward.hpp"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/detail/toy_geneval.hpp"
#include "dnft/tasks/toy_geneval.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::cuda::toy {

//! Which per-sample reward of toy-GenEval a geneval_reward computes.
enum class reward_kind {
  hit,       //!< dnft::toy::hit_reward: 1 in the prompt's mode, else 0
  distance,  //!< dnft::toy::distance_reward: minus the distance to the prompt's centre / mode_std
};

//! What the kernel needs of the task (the centres in device memory).
struct geneval_reward_params {
  const double* centres = nullptr;  //!< (K, D) packed
  int modes = 0;                    //!< K
  index_t dim = 0;                  //!< D
  double hit_radius = 0;
  double mode_std = 1;
  reward_kind kind = reward_kind::hit;
};

//! The work of one thread: the reward of sample i of x (B, D; any strides).
template <class T, class S>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void geneval_reward_thread(const tensor_view<const T, 2, S> x,
                                                             const int* __restrict__ prompts, double* __restrict__ out,
                                                             const geneval_reward_params p, const index_t i) {
  const T* xi = x.data + i * x.strides[0];
  out[i] = p.kind == reward_kind::hit
               ? dnft::detail::toy_hit_reward(xi, x.strides[1], prompts[i], p.centres, p.modes, p.dim, p.hit_radius)
               : dnft::detail::toy_distance_reward(xi, x.strides[1], prompts[i], p.centres, p.modes, p.dim,
                                                   p.mode_std);
}

//! One thread per sample (grid-stride loop).
template <class T, class S>
__global__ void geneval_reward_kernel(const tensor_view<const T, 2, S> x, const int* __restrict__ prompts,
                                      double* __restrict__ out, const geneval_reward_params p) {
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t i = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); i < x.extents[0]; i += stride)
    geneval_reward_thread(x, prompts, out, p, i);
}

//! @brief A reward of toy-GenEval that takes its samples in device memory (a dnft::reward for
//! device_space): the samples stay on the device, only the B prompt ids go up and the B rewards
//! come back. The same numbers as dnft::toy::hit_reward (reward_kind::hit) or
//! dnft::toy::distance_reward (reward_kind::distance) on a host copy of the samples: both call
//! the per-sample formulas of dnft/detail/toy_geneval.hpp, in double.
//!
//! Runs on the executor's stream and waits for it (rewards return host values). Copies share
//! the uploaded centres. The task is copied (only what the kernel needs), so it need not outlive
//! the reward.
//! @code
//!   dnft::cuda::executor ex;
//!   dnft::cuda::toy::geneval_reward reward(task, dnft::cuda::toy::reward_kind::hit, ex);
//!   reward(x0, prompts, out);  // x0: (B, D) device view; prompts: B host ids; out: B host doubles
//! @endcode
class geneval_reward {
 public:
  explicit geneval_reward(const dnft::toy::geneval_task& task, reward_kind kind = reward_kind::hit,
                          const executor& ex = executor())
      : task_(task), ex_(ex), centres_(std::make_shared<device_buffer<double>>(ex.to_device(task.centres()))) {
    params_.centres = centres_->data();
    params_.modes = task.modes();
    params_.dim = task.dim();
    params_.hit_radius = task.hit_radius();
    params_.mode_std = task.config().mode_std;
    params_.kind = kind;
    ex_.synchronize();
  }

  reward_kind kind() const noexcept { return params_.kind; }
  const executor& get_executor() const noexcept { return ex_; }

  //! Scores x0 (B, D) device, with B host prompt ids, into B host doubles.
  //! @throws shape_error when x0 is not (B, task dim) or prompts / out do not hold B values
  template <class T>
  void operator()(tensor_view<const T, 2, device_space> x0, std::span<const int> prompts, std::span<double> out) const {
    const char* fn = params_.kind == reward_kind::hit ? "cuda::toy::hit_reward" : "cuda::toy::distance_reward";
    const index_t B = x0.extent(0);
    task_.check_batch(fn, B, x0.extent(1), prompts.size());
    if (index_t(out.size()) != B)
      dnft::detail::fail<shape_error>(fn, "out", "expected one value per sample (" + std::to_string(B) + "), got " +
                                                     std::to_string(out.size()));
    if (B == 0) return;
    const auto ids = ex_.to_device(prompts);
    auto values = ex_.allocate<double>(B);
    const unsigned threads = 256;
    const auto blocks = unsigned(std::min<index_t>((B + threads - 1) / threads, 65535));
    detail::device_guard guard(ex_.device());
    geneval_reward_kernel<<<blocks, threads, 0, ex_.stream()>>>(x0, ids.data(), values.data(), params_);
    check_launch();
    ex_.copy_to_host(values.data(), out.data(), B);  // waits for the stream
  }

 private:
  dnft::toy::geneval_task task_;
  executor ex_;
  std::shared_ptr<const device_buffer<double>> centres_;
  geneval_reward_params params_;
};

}  // namespace dnft::cuda::toy
