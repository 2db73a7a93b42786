// SPDX-License-Identifier: Apache-2.0
// dnft::cuda::toy::geneval_reward (the toy-GenEval rewards on the device): the kernel's per-thread
// work run on the CPU (cuda_host) and the reward itself on a GPU (cuda_device), both against the
// host rewards dnft::toy::hit_reward / distance_reward and a naive reference written here.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "dnft/concepts/reward.hpp"
#include "dnft/cuda/cuda.cuh"
#include "dnft/cuda/tasks/toy_geneval.cuh"
#include "dnft/tasks/toy_geneval.hpp"
#include "support/random_data.hpp"

namespace {

using dnft::index_t;
namespace ct = dnft::cuda::toy;

//! B samples near the modes (prompt i % (K + 1), the null prompt K included; even samples lie
//! near their prompt's mode, odd ones near mode (i * 7) % K), spread so that about half land
//! within the hit radius; stored (B, D) row-major (layout 0) or column-major (1).
struct samples {
  index_t B, D;
  std::vector<float> mem;
  std::vector<int> prompts;
  int layout;
  samples(const dnft::toy::geneval_task& task, index_t b, int lay) : B(b), D(task.dim()), layout(lay) {
    const double spread = task.hit_radius() / std::sqrt(double(D));  // |noise| ~ hit radius
    const auto noise = dnft_test::normal_data(std::size_t(B * D), 41 + std::uint64_t(lay), spread);
    mem.assign(std::size_t(B * D), 0.0f);
    for (index_t i = 0; i < B; ++i) {
      prompts.push_back(int(i % (task.modes() + 1)));
      const auto c = task.centre(int((i % 2 == 0 ? i % (task.modes() + 1) : i * 7) % task.modes()));
      for (index_t d = 0; d < D; ++d) at(i, d) = float(c[std::size_t(d)] + noise[std::size_t(i * D + d)]);
    }
  }
  float& at(index_t i, index_t d) { return mem[std::size_t(layout == 0 ? i * D + d : d * B + i)]; }
  dnft::tensor_view<const float, 2> view() const {
    return dnft::make_view(static_cast<const float*>(mem.data()), {B, D}, {layout == 0 ? D : 1, layout == 0 ? 1 : B});
  }
};

//! Naive references in double: hit = the prompt's centre is within the hit radius and no other
//! centre is nearer; distance = -|x - c_prompt| / mode_std (centre 0 for the null prompt).
std::vector<double> naive(const dnft::toy::geneval_task& task, const samples& s, ct::reward_kind kind) {
  std::vector<double> r;
  const auto x = s.view();
  for (index_t i = 0; i < s.B; ++i) {
    std::vector<double> dist;
    for (int k = 0; k < task.modes(); ++k) {
      double d2 = 0;
      for (index_t d = 0; d < s.D; ++d) d2 += std::pow(double(x(i, d)) - task.centre(k)[std::size_t(d)], 2);
      dist.push_back(std::sqrt(d2));
    }
    const int p = s.prompts[std::size_t(i)];
    if (kind == ct::reward_kind::distance) {
      r.push_back(-dist[std::size_t(p < task.modes() ? p : 0)] / task.config().mode_std);
      continue;
    }
    bool hit = p < task.modes() && dist[std::size_t(p)] < task.hit_radius();
    for (int k = 0; hit && k < task.modes(); ++k)
      if (k != p && dist[std::size_t(k)] < dist[std::size_t(p)]) hit = false;
    r.push_back(hit ? 1.0 : 0.0);
  }
  return r;
}

std::vector<double> host_rewards(const dnft::toy::geneval_task& task, const samples& s, ct::reward_kind kind) {
  std::vector<double> out(std::size_t(s.B));
  if (kind == ct::reward_kind::hit)
    dnft::toy::hit_reward{&task}(s.view(), std::span<const int>(s.prompts), std::span<double>(out));
  else
    dnft::toy::distance_reward{&task}(s.view(), std::span<const int>(s.prompts), std::span<double>(out));
  return out;
}

dnft::toy::geneval_task task_of(index_t dim) {
  dnft::toy::geneval_config c;
  c.dim = dim;
  c.modes = dim == 2 ? 8 : 5;
  return dnft::toy::geneval_task(c);
}

void check_rewards(const std::vector<double>& got, const std::vector<double>& host, const std::vector<double>& ref,
                   ct::reward_kind kind) {
  REQUIRE(got.size() == host.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    if (kind == ct::reward_kind::hit) {
      CHECK(got[i] == host[i]);
      CHECK(got[i] == ref[i]);
    } else {
      CHECK(got[i] == doctest::Approx(host[i]).epsilon(1e-12));
      CHECK(got[i] == doctest::Approx(ref[i]).epsilon(1e-12));
    }
  }
}

static_assert(dnft::reward<ct::geneval_reward, float, int, dnft::device_space>);
static_assert(dnft::reward<ct::geneval_reward, double, int, dnft::device_space>);
static_assert(!dnft::reward<ct::geneval_reward, float, int, dnft::host_space>);

}  // namespace

TEST_SUITE("cuda_host") {
  TEST_CASE("toy-GenEval rewards: the kernel's per-thread work on the CPU matches the host rewards") {
    for (const index_t dim : {index_t(2), index_t(5)}) {
      const auto task = task_of(dim);
      for (const int layout : {0, 1}) {
        const samples s(task, 203, layout);
        for (const auto kind : {ct::reward_kind::hit, ct::reward_kind::distance}) {
          CAPTURE(dim);
          CAPTURE(layout);
          CAPTURE(int(kind));
          ct::geneval_reward_params p;
          p.centres = task.centres().data();
          p.modes = task.modes();
          p.dim = task.dim();
          p.hit_radius = task.hit_radius();
          p.mode_std = task.config().mode_std;
          p.kind = kind;
          std::vector<double> got(std::size_t(s.B), -7.0);
          for (index_t i = 0; i < s.B; ++i) ct::geneval_reward_thread(s.view(), s.prompts.data(), got.data(), p, i);
          const auto host = host_rewards(task, s, kind);
          const auto ref = naive(task, s, kind);
          check_rewards(got, host, ref, kind);
          if (kind == ct::reward_kind::hit) {  // the data has both outcomes
            double hits = 0;
            for (double v : got) hits += v;
            CHECK(hits > 5);
            CHECK(hits < double(s.B) - 5);
          }
        }
      }
    }
  }
}

TEST_SUITE("cuda_device") {
  TEST_CASE("toy-GenEval rewards on the device match the host rewards; bad shapes are refused") {
    dnft::cuda::executor ex;
    for (const index_t dim : {index_t(2), index_t(5)}) {
      const auto task = task_of(dim);
      for (const int layout : {0, 1}) {
        const samples s(task, 1003, layout);
        const auto dev = ex.to_device(s.mem);
        const auto hv = s.view();
        const dnft::tensor_view<const float, 2, dnft::device_space> dv{dev.data(), {s.B, s.D}, {hv.strides[0], hv.strides[1]}};
        for (const auto kind : {ct::reward_kind::hit, ct::reward_kind::distance}) {
          CAPTURE(dim);
          CAPTURE(layout);
          CAPTURE(int(kind));
          const ct::geneval_reward reward(task, kind, ex);
          std::vector<double> got(std::size_t(s.B), -7.0);
          reward(dv, std::span<const int>(s.prompts), std::span<double>(got));
          check_rewards(got, host_rewards(task, s, kind), naive(task, s, kind), kind);
        }
      }
    }
    const auto task = task_of(2);
    const ct::geneval_reward reward(task, ct::reward_kind::hit, ex);
    const auto x = ex.allocate<float>(12);  // const: views of const float
    std::vector<int> prompts(4, 0);
    std::vector<double> out(4);
    CHECK_THROWS_WITH_AS(reward(x.view(4, 3), std::span<const int>(prompts), std::span<double>(out)),
                         "dnft::cuda::toy::hit_reward: x0: expected 2 elements per sample, got 3", dnft::shape_error);
    CHECK_THROWS_WITH_AS(reward(x.view(6, 2), std::span<const int>(prompts), std::span<double>(out)),
                         "dnft::cuda::toy::hit_reward: prompts: expected one prompt per sample (6), got 4",
                         dnft::shape_error);
    CHECK_THROWS_WITH_AS(reward(x.view(4, 2), std::span<const int>(prompts), std::span<double>(out).first(3)),
                         "dnft::cuda::toy::hit_reward: out: expected one value per sample (4), got 3",
                         dnft::shape_error);
  }
}
