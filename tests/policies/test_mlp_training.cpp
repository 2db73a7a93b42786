// SPDX-License-Identifier: Apache-2.0
// mlp_policy: a small regression onto the exact flow-matching velocity of a conditional 2-D
// mixture of Gaussians (closed form), with a plain Adam loop written here.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "dnft/policies/mlp.hpp"

namespace {

struct component {
  double w, mx, my, sigma;
};

//! Condition 0: two modes on the x axis; condition 1: two modes on the y axis;
//! the null condition 2: the equal mixture of both.
std::vector<component> components(int c) {
  const std::vector<component> a = {{0.5, -2.0, 0.0, 0.3}, {0.5, 2.0, 0.0, 0.3}};
  const std::vector<component> b = {{0.5, 0.0, -2.0, 0.3}, {0.5, 0.0, 2.0, 0.3}};
  if (c == 0) return a;
  if (c == 1) return b;
  std::vector<component> m;
  for (auto k : a) m.push_back({0.5 * k.w, k.mx, k.my, k.sigma});
  for (auto k : b) m.push_back({0.5 * k.w, k.mx, k.my, k.sigma});
  return m;
}

//! The exact marginal velocity E[eps - x0 | x_t = x] of x_t = (1 - t) x0 + t eps for a mixture
//! of isotropic Gaussians: per component s^2 = (1-t)^2 sigma^2 + t^2,
//! u_j = (t - (1-t) sigma^2) / s^2 (x - (1-t) mu) - mu, weighted by the posterior of j given x.
void exact_velocity(int c, double t, double x, double y, double& vx, double& vy) {
  const auto comps = components(c);
  std::vector<double> logp(comps.size());
  double lmax = -1e300;
  for (std::size_t j = 0; j < comps.size(); ++j) {
    const auto& k = comps[j];
    const double s2 = (1 - t) * (1 - t) * k.sigma * k.sigma + t * t;
    const double dx = x - (1 - t) * k.mx, dy = y - (1 - t) * k.my;
    logp[j] = std::log(k.w) - std::log(s2) - 0.5 * (dx * dx + dy * dy) / s2;
    lmax = std::max(lmax, logp[j]);
  }
  double z = 0;
  vx = vy = 0;
  for (std::size_t j = 0; j < comps.size(); ++j) {
    const auto& k = comps[j];
    const double r = std::exp(logp[j] - lmax);
    const double s2 = (1 - t) * (1 - t) * k.sigma * k.sigma + t * t;
    const double g = (t - (1 - t) * k.sigma * k.sigma) / s2;
    vx += r * (g * (x - (1 - t) * k.mx) - k.mx);
    vy += r * (g * (y - (1 - t) * k.my) - k.my);
    z += r;
  }
  vx /= z;
  vy /= z;
}

struct training_batch {
  std::vector<float> x, t, target;
  std::vector<int> c;
};

training_batch draw(int B, std::mt19937_64& g) {
  std::normal_distribution<double> n01;
  std::uniform_real_distribution<double> u01;
  training_batch b;
  for (int i = 0; i < B; ++i) {
    const int c = int(u01(g) * 3);  // 0, 1 or the null condition 2
    const auto comps = components(c);
    double acc = 0, pick = u01(g);
    component k = comps.back();
    for (const auto& q : comps) {
      acc += q.w;
      if (pick < acc) {
        k = q;
        break;
      }
    }
    const double x0 = k.mx + k.sigma * n01(g), y0 = k.my + k.sigma * n01(g);
    const double t = u01(g);
    const double xt = (1 - t) * x0 + t * n01(g), yt = (1 - t) * y0 + t * n01(g);
    double vx, vy;
    exact_velocity(c, t, xt, yt, vx, vy);
    b.x.push_back(float(xt));
    b.x.push_back(float(yt));
    b.t.push_back(float(t));
    b.target.push_back(float(vx));
    b.target.push_back(float(vy));
    b.c.push_back(c);
  }
  return b;
}

double mse(dnft::mlp_policy<float>& p, const training_batch& b) {
  const int B = int(b.t.size());
  std::vector<float> v(b.x.size());
  p.predict(dnft::make_view(static_cast<const float*>(b.x.data()), {B, 2}), b.t, b.c, dnft::make_view(v.data(), {B, 2}));
  double s = 0;
  for (std::size_t k = 0; k < v.size(); ++k) s += (double(v[k]) - b.target[k]) * (double(v[k]) - b.target[k]);
  return s / double(v.size());
}

}  // namespace

TEST_SUITE("policies") {
  TEST_CASE("mlp_policy: fits the exact velocity of a conditional 2-D mixture") {
    dnft::mlp_config cfg;
    cfg.dim = 2;
    cfg.num_conditions = 2;
    cfg.cond_dim = 8;
    cfg.time_frequencies = 8;
    cfg.width = 32;
    cfg.depth = 2;
    cfg.seed = 3;
    dnft::mlp_policy<float> p(cfg);

    std::mt19937_64 g(17);
    const training_batch eval = draw(512, g);
    const double loss0 = mse(p, eval);

    // Adam (lr 1e-2, betas 0.9 / 0.999, eps 1e-8) on the mean squared error
    const auto n = std::size_t(p.parameter_count());
    std::vector<double> m(n, 0.0), s(n, 0.0);
    const int B = 64, steps = 300;
    const double lr = 1e-2, b1 = 0.9, b2 = 0.999;
    std::vector<float> v(std::size_t(2 * B)), dv(std::size_t(2 * B));
    for (int step = 1; step <= steps; ++step) {
      const training_batch b = draw(B, g);
      p.zero_grad();
      p.forward(dnft::make_view(static_cast<const float*>(b.x.data()), {B, 2}), b.t, b.c, dnft::make_view(v.data(), {B, 2}));
      for (std::size_t k = 0; k < v.size(); ++k) dv[k] = 2.0f * (v[k] - b.target[k]) / float(v.size());
      p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {B, 2}));
      float* th = p.parameters().data;
      const float* gr = p.gradients().data;
      const double c1 = 1 - std::pow(b1, step), c2 = 1 - std::pow(b2, step);
      for (std::size_t k = 0; k < n; ++k) {
        m[k] = b1 * m[k] + (1 - b1) * gr[k];
        s[k] = b2 * s[k] + (1 - b2) * double(gr[k]) * gr[k];
        th[k] -= float(lr * (m[k] / c1) / (std::sqrt(s[k] / c2) + 1e-8));
      }
    }
    const double loss1 = mse(p, eval);
    MESSAGE("exact-velocity MSE on 512 held-out samples: " << loss0 << " -> " << loss1 << " after " << steps
                                                           << " Adam steps");
    CHECK(loss1 < 0.15 * loss0);  // measured: 1.43 -> 0.100 (ratio 0.07)

    // the condition matters: at t = 1, x = 0 the exact velocity is -E[x0 | c] = 0 for all three
    // conditions, but at t = 0.5 near (1, 0) condition 0 pulls towards (2, 0) and condition 1
    // towards the y axis; the model must tell them apart in the same direction.
    std::vector<float> x = {1.0f, 0.0f, 1.0f, 0.0f}, t = {0.5f, 0.5f}, out(4);
    std::vector<int> c = {0, 1};
    p.predict(dnft::make_view(static_cast<const float*>(x.data()), {2, 2}), t, c, dnft::make_view(out.data(), {2, 2}));
    double e0x, e0y, e1x, e1y;
    exact_velocity(0, 0.5, 1.0, 0.0, e0x, e0y);
    exact_velocity(1, 0.5, 1.0, 0.0, e1x, e1y);
    MESSAGE("v(c=0) = (" << out[0] << ", " << out[1] << ") exact (" << e0x << ", " << e0y << "); v(c=1) = (" << out[2]
                         << ", " << out[3] << ") exact (" << e1x << ", " << e1y << ")");
    CHECK((out[0] - out[2]) * (e0x - e1x) > 0);
  }
}
