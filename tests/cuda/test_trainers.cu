// SPDX-License-Identifier: Apache-2.0
// dnft::nft_trainer and dnft::flow_grpo_trainer with dnft::cuda::executor and a device policy
// written here (v = W x, one parameter array in device memory, two tiny kernels): they compile
// (every member instantiated), and with a GPU one iteration of each matches the same trainer run
// on the host with the same policy written for host memory. Rewards follow the rule of
// dnft::reward: a host reward gets a host copy of the device samples, a device reward the device
// view itself.
#include <doctest/doctest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "dnft/cuda/cuda.cuh"
#include "dnft/solvers/euler.hpp"
#include "dnft/train/flow_grpo_trainer.hpp"
#include "dnft/train/nft_trainer.hpp"
#include "nft_support.cuh"

namespace {

using dnft::index_t;

//! v[i, r] = sum_k W[r, k] x[i, k] for one (i, r) per thread.
__global__ void linear_forward_kernel(const float* __restrict__ w,
                                      const dnft::tensor_view<const float, 2, dnft::device_space> x,
                                      const dnft::tensor_view<float, 2, dnft::device_space> v) {
  const index_t rows = x.extents[0], d = x.extents[1];
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t e = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); e < rows * d; e += stride) {
    const index_t i = e / d, r = e % d;
    float s = 0;
    for (index_t k = 0; k < d; ++k) s += w[r * d + k] * x(i, k);
    v(i, r) = s;
  }
}

//! G[r, k] += sum_i dv[i, r] x[i, k] for one (r, k) per thread (x packed (rows, d)).
__global__ void linear_backward_kernel(float* __restrict__ g, const float* __restrict__ x,
                                       const dnft::tensor_view<const float, 2, dnft::device_space> dv) {
  const index_t rows = dv.extents[0], d = dv.extents[1];
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t e = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); e < d * d; e += stride) {
    const index_t r = e / d, k = e % d;
    float s = 0;
    for (index_t i = 0; i < rows; ++i) s += dv(i, r) * x[i * d + k];
    g[e] += s;
  }
}

//! Copies a (rows, d) view (any strides) into packed memory.
__global__ void pack_kernel(const dnft::tensor_view<const float, 2, dnft::device_space> x, float* __restrict__ out) {
  const index_t rows = x.extents[0], d = x.extents[1];
  const index_t stride = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t e = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); e < rows * d; e += stride)
    out[e] = x(e / d, e % d);
}

//! @brief A minimal trainable policy in device memory: v = W x (W: d x d, the only parameters),
//! conditions ignored (null condition -1, so it is guidable). Its kernels run on the stream of
//! the executor it is given, which must be the trainer's (copies of an executor share it).
class device_linear {
 public:
  using value_type = float;
  using space_type = dnft::device_space;
  using condition_type = int;

  device_linear(const dnft::cuda::executor& ex, const std::vector<float>& w, index_t d)
      : ex_(ex), d_(d), w_(ex.to_device(w)), g_(ex.allocate<float>(d * d)) {
    zero_grad();
  }
  device_linear(const device_linear& o)
      : ex_(o.ex_), d_(o.d_), w_(ex_.allocate<float>(o.d_ * o.d_)), g_(ex_.allocate<float>(o.d_ * o.d_)) {
    ex_.copy(o.w_, w_);
    ex_.copy(o.g_, g_);
  }
  device_linear& operator=(const device_linear& o) {
    if (this != &o) {
      device_linear c(o);
      ex_ = c.ex_;
      d_ = c.d_;
      w_ = std::move(c.w_);
      g_ = std::move(c.g_);
      x_.reset();
    }
    return *this;
  }

  index_t dim() const { return d_; }
  int null_condition() const { return -1; }

  void predict(dnft::tensor_view<const float, 2, dnft::device_space> x,
               dnft::tensor_view<const float, 1, dnft::device_space>, std::span<const int>,
               dnft::tensor_view<float, 2, dnft::device_space> v) {
    linear_forward_kernel<<<blocks(x.extents[0] * d_), 128, 0, ex_.stream()>>>(w_.data(), x, v);
    dnft::cuda::check_launch();
  }
  //! predict, keeping a packed copy of x for backward.
  void forward(dnft::tensor_view<const float, 2, dnft::device_space> x,
               dnft::tensor_view<const float, 1, dnft::device_space> t, std::span<const int> c,
               dnft::tensor_view<float, 2, dnft::device_space> v) {
    if (x_.size() < x.extents[0] * d_) x_ = ex_.allocate<float>(x.extents[0] * d_);
    pack_kernel<<<blocks(x.extents[0] * d_), 128, 0, ex_.stream()>>>(x, x_.data());
    dnft::cuda::check_launch();
    predict(x, t, c, v);
  }
  void backward(dnft::tensor_view<const float, 2, dnft::device_space> dv) {
    linear_backward_kernel<<<blocks(d_ * d_), 128, 0, ex_.stream()>>>(g_.data(), x_.data(), dv);
    dnft::cuda::check_launch();
  }
  dnft::tensor_view<float, 1, dnft::device_space> parameters() { return w_.view(); }
  dnft::tensor_view<const float, 1, dnft::device_space> parameters() const { return w_.view(); }
  dnft::tensor_view<float, 1, dnft::device_space> gradients() { return g_.view(); }
  void zero_grad() { dnft::cuda::check(cudaMemsetAsync(g_.data(), 0, g_.bytes(), ex_.stream())); }

 private:
  static unsigned blocks(index_t n) { return unsigned((n + 127) / 128 < 1 ? 1 : (n + 127) / 128); }

  dnft::cuda::executor ex_;
  index_t d_ = 0;
  dnft::cuda::device_buffer<float> w_, g_, x_;
};

//! The same policy in host memory (the reference run).
class host_linear {
 public:
  using value_type = float;
  using space_type = dnft::host_space;
  using condition_type = int;

  host_linear(const std::vector<float>& w, index_t d) : d_(d), w_(w), g_(std::size_t(d * d), 0.0f) {}

  index_t dim() const { return d_; }
  int null_condition() const { return -1; }
  void predict(dnft::tensor_view<const float, 2> x, dnft::tensor_view<const float, 1>, std::span<const int>,
               dnft::tensor_view<float, 2> v) {
    for (index_t i = 0; i < x.extents[0]; ++i)
      for (index_t r = 0; r < d_; ++r) {
        float s = 0;
        for (index_t k = 0; k < d_; ++k) s += w_[std::size_t(r * d_ + k)] * x(i, k);
        v(i, r) = s;
      }
  }
  void forward(dnft::tensor_view<const float, 2> x, dnft::tensor_view<const float, 1> t, std::span<const int> c,
               dnft::tensor_view<float, 2> v) {
    x_.assign(std::size_t(x.extents[0] * d_), 0.0f);
    for (index_t i = 0; i < x.extents[0]; ++i)
      for (index_t k = 0; k < d_; ++k) x_[std::size_t(i * d_ + k)] = x(i, k);
    predict(x, t, c, v);
  }
  void backward(dnft::tensor_view<const float, 2> dv) {
    for (index_t r = 0; r < d_; ++r)
      for (index_t k = 0; k < d_; ++k) {
        float s = 0;
        for (index_t i = 0; i < dv.extents[0]; ++i) s += dv(i, r) * x_[std::size_t(i * d_ + k)];
        g_[std::size_t(r * d_ + k)] += s;
      }
  }
  dnft::tensor_view<float, 1> parameters() { return dnft::make_view(w_.data(), {d_ * d_}); }
  dnft::tensor_view<const float, 1> parameters() const { return dnft::make_view(w_.data(), {d_ * d_}); }
  dnft::tensor_view<float, 1> gradients() { return dnft::make_view(g_.data(), {d_ * d_}); }
  void zero_grad() { std::fill(g_.begin(), g_.end(), 0.0f); }

 private:
  index_t d_ = 0;
  std::vector<float> w_, g_, x_;
};

//! A host reward: -|x - c/2|^2 per sample.
struct host_reward {
  void operator()(dnft::tensor_view<const float, 2> x, std::span<const int> c, std::span<double> out) const {
    for (index_t i = 0; i < x.extents[0]; ++i) {
      double s = 0;
      for (index_t k = 0; k < x.extents[1]; ++k) {
        const double e = double(x(i, k)) - 0.5 * c[std::size_t(i)];
        s += e * e;
      }
      out[std::size_t(i)] = -s;
    }
  }
};

//! A reward that takes device views only. It reads them with a plain cudaMemcpy (the legacy
//! stream, not the trainer's): by the rule of dnft::reward the trainer's work is finished when a
//! reward is called with its samples in place.
struct device_reward {
  void operator()(dnft::tensor_view<const float, 2, dnft::device_space> x, std::span<const int> c,
                  std::span<double> out) const {
    std::vector<float> h(std::size_t(x.size()));
    dnft::cuda::check(cudaMemcpy(h.data(), x.data, h.size() * sizeof(float), cudaMemcpyDeviceToHost));
    host_reward{}(dnft::make_view(static_cast<const float*>(h.data()), {x.extents[0], x.extents[1]}), c, out);
  }
};

//! Prompt (condition) k of iteration it.
struct prompts {
  void operator()(std::uint64_t it, std::span<int> out) const {
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = int((it + k) % 3);
  }
};

static_assert(dnft::trainable_policy<device_linear> && dnft::guidable_field<device_linear>);
static_assert(dnft::trainable_policy<host_linear> && dnft::guidable_field<host_linear>);
// the reward rule: a host reward serves device samples too (through a host copy); a device-only
// reward serves device samples only
static_assert(dnft::host_reward<host_reward, float, int>);
static_assert(dnft::reward<host_reward, float, int, dnft::device_space>);
static_assert(!dnft::host_reward<device_reward, float, int>);
static_assert(dnft::reward<device_reward, float, int, dnft::device_space>);
static_assert(!dnft::reward<device_reward, float, int, dnft::host_space>);

using device_nft = dnft::nft_trainer<device_linear, dnft::euler_solver<dnft::cuda::executor>, host_reward, prompts,
                                     dnft::cuda::executor>;
using device_grpo = dnft::flow_grpo_trainer<device_linear, device_reward, prompts, dnft::cuda::executor>;
using host_nft = dnft::nft_trainer<host_linear, dnft::euler_solver<>, host_reward, prompts>;
using host_grpo = dnft::flow_grpo_trainer<host_linear, host_reward, prompts>;

constexpr index_t dim = 3;

std::vector<float> initial_w() { return {0.9f, -0.2f, 0.1f, 0.3f, 1.1f, -0.4f, -0.1f, 0.2f, 0.8f}; }

template <class Config>
Config small_config() {
  Config c;
  c.prompts_per_iteration = 3;
  c.group_size = 4;
  c.sampling_steps = 5;
  c.seed = 11;
  c.optimizer.lr = 1e-3;
  return c;
}

//! Parameters of a device policy on the host.
std::vector<double> params_of(const dnft::cuda::executor& ex, const device_linear& p) {
  std::vector<float> h(std::size_t(dim * dim));
  ex.copy_to_host(p.parameters().data, h.data(), dim * dim);
  return std::vector<double>(h.begin(), h.end());
}

std::vector<double> params_of(const host_linear& p) {
  const auto v = p.parameters();
  return std::vector<double>(v.data, v.data + v.extents[0]);
}

}  // namespace

// Every member of the trainers over the device policy (checkpoints included) compiles.
template class dnft::nft_trainer<device_linear, dnft::euler_solver<dnft::cuda::executor>, host_reward, prompts,
                                 dnft::cuda::executor>;
template class dnft::flow_grpo_trainer<device_linear, device_reward, prompts, dnft::cuda::executor>;

TEST_SUITE("cuda_device") {
  TEST_CASE("nft_trainer on the device: one iteration matches the host run; checkpoints round-trip") {
    dnft::cuda::executor ex;
    const auto cfg = small_config<dnft::nft_config>();
    host_nft h(host_linear(initial_w(), dim), dnft::euler_solver<>{}, host_reward{}, prompts{}, cfg);
    device_nft d(device_linear(ex, initial_w(), dim), dnft::euler_solver<dnft::cuda::executor>{ex}, host_reward{},
                 prompts{}, cfg, ex);
    const auto hs = h.step();
    const auto ds = d.step();
    // the device's Philox normals differ from the host's by float ulps: everything after by ~1e-6
    CHECK(ds.iteration == 1);
    CHECK(ds.images == hs.images);
    CHECK(ds.model_evals == hs.model_evals);
    CHECK(ds.reward_mean == doctest::Approx(hs.reward_mean).epsilon(1e-4));
    CHECK(ds.reward_std == doctest::Approx(hs.reward_std).epsilon(1e-4));
    CHECK(ds.grad_norm == doctest::Approx(hs.grad_norm).epsilon(1e-3));
    CHECK(ds.loss.loss == doctest::Approx(hs.loss.loss).epsilon(1e-3));
    CHECK(ds.old_decay == hs.old_decay);
    CHECK(ds.ema_decay == hs.ema_decay);
    dnft_cuda_test::check_close(params_of(ex, d.policy()), params_of(h.policy()), 0.0, 0.0, 1e-5);
    dnft_cuda_test::check_close(params_of(ex, d.old_policy()), params_of(h.old_policy()), 0.0, 0.0, 1e-5);
    dnft_cuda_test::check_close(params_of(ex, *d.ema_policy()), params_of(*h.ema_policy()), 0.0, 0.0, 1e-5);
    CHECK(params_of(ex, d.reference()) == params_of(h.reference()));  // never trained
    const auto moved = params_of(ex, d.policy());
    CHECK(moved != params_of(ex, d.reference()));

    // a checkpoint written from device memory restores the same state
    const auto path = std::filesystem::temp_directory_path() / "dnft_cuda_nft_trainer.safetensors";
    d.save_checkpoint(path);
    device_nft e(device_linear(ex, initial_w(), dim), dnft::euler_solver<dnft::cuda::executor>{ex}, host_reward{},
                 prompts{}, cfg, ex);
    e.load_checkpoint(path);
    std::filesystem::remove(path);
    CHECK(params_of(ex, e.policy()) == moved);
    CHECK(e.iteration() == 1);
    const auto es = e.step();
    const auto ds2 = d.step();
    CHECK(es.loss.loss == ds2.loss.loss);  // resumed bit for bit on the same device
    CHECK(params_of(ex, e.policy()) == params_of(ex, d.policy()));
  }

  TEST_CASE("flow_grpo_trainer on the device (guided flow SDE, device reward): one iteration matches the host run") {
    dnft::cuda::executor ex;
    const auto cfg = small_config<dnft::flow_grpo_config>();
    host_grpo h(host_linear(initial_w(), dim), host_reward{}, prompts{}, cfg);
    device_grpo d(device_linear(ex, initial_w(), dim), device_reward{}, prompts{}, cfg, ex);
    const auto hs = h.step();
    const auto ds = d.step();
    CHECK(ds.images == hs.images);
    CHECK(ds.model_evals == hs.model_evals);
    CHECK(ds.reward_mean == doctest::Approx(hs.reward_mean).epsilon(1e-4));
    CHECK(ds.grad_norm == doctest::Approx(hs.grad_norm).epsilon(1e-3));
    // on-policy: every ratio is 1 to rounding, so no sample is clipped
    CHECK(ds.loss.clip_fraction == 0.0);
    CHECK(ds.loss.mean_ratio == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(ds.loss.loss == doctest::Approx(hs.loss.loss).epsilon(1e-3));
    dnft_cuda_test::check_close(params_of(ex, d.policy()), params_of(h.policy()), 0.0, 0.0, 1e-5);
    CHECK(params_of(ex, d.policy()) != params_of(ex, d.reference()));
  }
}
