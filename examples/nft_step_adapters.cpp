// SPDX-License-Identifier: Apache-2.0
// The NFT training step of nft_step.cpp written once, generically, and run twice: with Eigen
// tensors (column-major matrices: each sample strided) and with xtensor tensors (row-major). Every
// dnft call takes the library's own objects; the two runs must agree.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>
#if __has_include(<xtensor/containers/xtensor.hpp>)
#include <xtensor/containers/xtensor.hpp>
#else
#include <xtensor/xtensor.hpp>
#endif

#include "dnft/adapters/eigen.hpp"
#include "dnft/adapters/xtensor.hpp"
#include "dnft/algorithm/fill_normal.hpp"
#include "dnft/algorithm/forward_noise.hpp"
#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/schedule/time_grid.hpp"
#include "dnft/schedule/time_sampler.hpp"

namespace {

constexpr int D = 2, groups = 8, K = 8, B = groups * K, P = D * D + D;

struct eigen_lib {
  static constexpr const char* name = "Eigen (column-major)";
  using matrix = Eigen::MatrixXf;  // (B, D), column-major: sample stride 1, element stride B
  using vec_f = Eigen::VectorXf;
  using vec_d = Eigen::VectorXd;
  using vec_i = Eigen::VectorXi;
  static matrix make_matrix() { return matrix::Zero(B, D); }
  static vec_f make_f(int n) { return vec_f::Zero(n); }
  static vec_d make_d(int n) { return vec_d::Zero(n); }
  static vec_i make_i(int n) { return vec_i::Zero(n); }
};

struct xtensor_lib {
  static constexpr const char* name = "xtensor (row-major)";
  using matrix = xt::xtensor<float, 2>;
  using vec_f = xt::xtensor<float, 1>;
  using vec_d = xt::xtensor<double, 1>;
  using vec_i = xt::xtensor<int, 1>;
  static matrix make_matrix() { return matrix(std::array<std::size_t, 2>{B, D}, 0.0f); }
  static vec_f make_f(int n) { return vec_f(std::array<std::size_t, 1>{std::size_t(n)}, 0.0f); }
  static vec_d make_d(int n) { return vec_d(std::array<std::size_t, 1>{std::size_t(n)}, 0.0); }
  static vec_i make_i(int n) { return vec_i(std::array<std::size_t, 1>{std::size_t(n)}, 0); }
};

//! v = W x + b on any (B, D) tensors, through dnft views (W row-major then b in theta).
template <class Theta, class X, class V>
void predict(const Theta& theta, const X& x, V& v) {
  const auto th = dnft::as_view(theta);
  const auto xv = dnft::as_view(x);
  const auto vv = dnft::as_view(v);
  for (int i = 0; i < B; ++i)
    for (int r = 0; r < D; ++r) {
      float s = th(D * D + r);
      for (int c = 0; c < D; ++c) s += th(r * D + c) * xv(i, c);
      vv(i, r) = s;
    }
}

template <class X, class G, class Grads>
void backward(const X& x, const G& dv, float scale, Grads& grads) {
  const auto xv = dnft::as_view(x);
  const auto gv = dnft::as_view(dv);
  const auto out = dnft::as_view(grads);
  for (int i = 0; i < B; ++i)
    for (int r = 0; r < D; ++r) {
      const float g = scale * gv(i, r);
      for (int c = 0; c < D; ++c) out(r * D + c) += g * xv(i, c);
      out(D * D + r) += g;
    }
}

struct result {
  double before = 0, after = 0, norm = 0;
  std::vector<float> theta, theta_old;
};

template <class Lib>
result run_step() {
  using matrix = typename Lib::matrix;
  auto theta = Lib::make_f(P);
  const dnft::philox_normal init{.seed = 1, .stream = 0};
  for (int k = 0; k < P; ++k) dnft::as_view(theta)(k) = 0.3f * init(0, std::uint64_t(k));
  auto theta_old = theta, theta_ref = theta;

  matrix x0 = Lib::make_matrix();
  dnft::fill_normal(dnft::host, x0, dnft::philox_normal{.seed = 7, .stream = 1});
  const auto xv = dnft::as_view(x0);
  auto reward = Lib::make_d(B);
  auto prompt = Lib::make_i(B);
  for (int i = 0; i < B; ++i) {
    xv(i, 0) = ((i % 2) ? 2.0f : -2.0f) + 0.3f * xv(i, 0);
    xv(i, 1) = ((i / 2 % 2) ? 2.0f : -2.0f) + 0.3f * xv(i, 1);
    const double dx = xv(i, 0) - 2.0, dy = xv(i, 1) - 2.0;
    dnft::as_view(reward)(i) = -(dx * dx + dy * dy);
    dnft::as_view(prompt)(i) = i / K;
  }
  auto adv = Lib::make_d(B);
  dnft::group_advantages(dnft::host, reward, prompt, adv);

  const auto grid = dnft::shifted_sigma_grid(10);
  const dnft::index_t slots = dnft::train_time_count(10);
  std::vector<std::vector<dnft::index_t>> perm;
  for (int i = 0; i < B; ++i) perm.push_back(dnft::grid_time_permutation(10, 2024, 0, std::uint64_t(i)));

  auto objective = [&](auto* grads) {
    auto t = Lib::make_f(B);
    matrix xt = Lib::make_matrix(), vth = xt, vold = xt, vref = xt, g = xt;
    double loss = 0;
    for (dnft::index_t j = 0; j < slots; ++j) {
      for (int i = 0; i < B; ++i) dnft::as_view(t)(i) = float(grid[std::size_t(perm[std::size_t(i)][std::size_t(j)])]);
      const dnft::philox_normal eps{.seed = 2024, .stream = dnft::stream_id(0, std::uint32_t(j))};
      dnft::forward_noise(dnft::host, x0, eps, t, xt);
      predict(theta, xt, vth);
      predict(theta_old, xt, vold);
      predict(theta_ref, xt, vref);
      if (grads) {
        loss += dnft::nft_loss(dnft::host, x0, eps, t, adv, vth, vold, vref, g).loss / double(slots);
        backward(xt, g, 1.0f / float(slots), *grads);
      } else {
        loss += dnft::nft_loss(dnft::host, x0, eps, t, adv, vth, vold, vref, dnft::none).loss / double(slots);
      }
    }
    return loss;
  };

  result res;
  auto grads = Lib::make_f(P), m = Lib::make_f(P), v = Lib::make_f(P);
  res.before = objective(&grads);
  res.norm = dnft::clip_grad_norm(dnft::host, grads, 1.0);
  dnft::adamw_step(dnft::host, theta, grads, m, v, 1);
  res.after = objective(static_cast<decltype(&grads)>(nullptr));
  dnft::soft_update(dnft::host, theta_old, theta, dnft::decay_schedule::of_type(1), 1);
  for (int k = 0; k < P; ++k) {
    res.theta.push_back(dnft::as_view(theta)(k));
    res.theta_old.push_back(dnft::as_view(theta_old)(k));
  }
  std::printf("%-22s loss %.9f -> %.9f, gradient norm %.6g\n", Lib::name, res.before, res.after, res.norm);
  return res;
}

}  // namespace

int main() {
  const result e = run_step<eigen_lib>();
  const result x = run_step<xtensor_lib>();
  double dmax = 0;
  for (int k = 0; k < P; ++k) {
    dmax = std::max(dmax, double(std::abs(e.theta[std::size_t(k)] - x.theta[std::size_t(k)])));
    dmax = std::max(dmax, double(std::abs(e.theta_old[std::size_t(k)] - x.theta_old[std::size_t(k)])));
  }
  const double dloss = std::max(std::abs(e.before - x.before), std::abs(e.after - x.after));
  std::printf("largest difference: parameters %.3g, losses %.3g\n", dmax, dloss);
  // The layouts differ (so do the summation orders inside a sample), hence agreement to float
  // rounding rather than bit for bit.
  const bool agree = dmax <= 1e-6 && dloss <= 1e-6 * std::abs(e.before);
  const bool decreased = e.after < e.before && x.after < x.before;
  std::printf("%s\n", agree && decreased ? "the two runs agree" : "MISMATCH");
  return agree && decreased ? 0 : 1;
}
