// SPDX-License-Identifier: Apache-2.0
// flow_sde_solver and ddim_solver: recorded log-probabilities against the Gaussian densities
// they claim, the documented noise streams, recomputation with transition_log_prob (and its
// gradient by finite differences), the distribution of the samples against the exact moments of
// the discrete chain and against the data distribution, reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "dnft/solvers/solvers.hpp"
#include "solvers/solver_problem.hpp"
#include "solvers/stochastic_reference.hpp"
#include "support/gaussian_field.hpp"
#include "support/grids.hpp"
#include "support/random_data.hpp"

using dnft_test::gaussian_field;

namespace {

template <class T>
struct recorded {
  int B = 3, D = 5;
  gaussian_field<T> f = gaussian_field<T>::make(5, 3, 4);
  std::vector<int> c{0, 2, 1};
  std::vector<T> x = dnft_test::cast<T>(dnft_test::normal_data(15, 9));
  std::vector<T> x_start = x;
  dnft::trajectory<T> rec;
};

//! Checks every recorded step of `r` against the independent reference `ref(g, k)`.
template <class T, class Ref>
void check_recording(recorded<T>& r, const std::vector<double>& g, Ref ref, std::uint64_t seed, std::uint64_t stream,
                     double tol) {
  REQUIRE(r.rec.steps() == dnft::index_t(g.size()) - 1);
  REQUIRE(r.rec.batch() == r.B);
  REQUIRE(r.rec.dim() == r.D);
  for (int i = 0; i < r.B; ++i)
    for (int d = 0; d < r.D; ++d) {
      CHECK(r.rec.state(0)(i, d) == r.x_start[std::size_t(i * r.D + d)]);  // x_0 is the input
      CHECK(r.rec.state(r.rec.steps())(i, d) == r.x[std::size_t(i * r.D + d)]);  // x_N is the output
    }
  for (std::size_t k = 0; k + 1 < g.size(); ++k) {
    const auto st = ref(g, k);
    CHECK(r.rec.sigma(dnft::index_t(k)) == g[k]);
    const auto& tr = r.rec.transition(dnft::index_t(k));
    CHECK(tr.sigma == g[k]);
    CHECK(tr.sigma_next == g[k + 1]);
    CHECK(tr.scale == doctest::Approx(st.sd).epsilon(1e-12));
    const dnft::philox_normal noise{seed, dnft::stream_id(std::uint32_t(stream), std::uint32_t(k))};
    for (int i = 0; i < r.B; ++i) {
      double logp = 0;
      for (int d = 0; d < r.D; ++d) {
        const double xk = double(r.rec.state(dnft::index_t(k))(i, d)), xn = double(r.rec.state(dnft::index_t(k) + 1)(i, d));
        const double v = r.f.velocity(xk, g[k], r.c[std::size_t(i)], d);
        const double m = st.mean(xk, v);
        if (st.sd > 0) {
          logp += dnft_test::normal_log_density(xn, m, st.sd);
          CHECK(std::abs((xn - m) / st.sd - double(noise(std::uint64_t(i), std::uint64_t(d)))) < tol * 10);
        } else {
          CHECK(std::abs(xn - m) < tol);
        }
      }
      logp = st.sd > 0 ? logp / r.D : 0.0;
      CAPTURE(k);
      CAPTURE(i);
      CHECK(std::abs(r.rec.log_prob(dnft::index_t(k))(i) - logp) < tol * (1 + std::abs(logp)));
    }
  }
}

//! Exact per-dimension moments of a chain of Gaussian steps on the affine field.
template <class Ref>
void chain_moments(const gaussian_field<double>& f, int c, dnft::index_t d, const std::vector<double>& g, double m0,
                   double var0, Ref ref, double& m, double& var, bool drift_correction = true) {
  m = m0;
  var = var0;
  for (std::size_t k = 0; k + 1 < g.size(); ++k) {
    const auto st = ref(g, k);
    const double b = f.velocity(0.0, g[k], c, d), A = f.velocity(1.0, g[k], c, d) - b;
    // mean(x, v) is affine in (x, v): read off its coefficients
    double cx = st.mean(1.0, 0.0) - st.mean(0.0, 0.0), cv = st.mean(0.0, 1.0) - st.mean(0.0, 0.0);
    if (!drift_correction) {
      cx = 1.0;
      cv = g[k + 1] - g[k];
    }
    m = cx * m + cv * (A * m + b);
    var = (cx + cv * A) * (cx + cv * A) * var + st.sd * st.sd;
  }
}

struct moments {
  double mean = 0, var = 0;
};

moments sample_moments(const std::vector<double>& x, int B, int D, int d) {
  moments r;
  for (int i = 0; i < B; ++i) r.mean += x[std::size_t(i * D + d)];
  r.mean /= B;
  for (int i = 0; i < B; ++i) r.var += (x[std::size_t(i * D + d)] - r.mean) * (x[std::size_t(i * D + d)] - r.mean);
  r.var /= (B - 1);
  return r;
}

}  // namespace

TEST_SUITE("solvers") {
  TEST_CASE_TEMPLATE("flow_sde_solver: each recorded log-probability is the Gaussian density of the step", T, float,
                     double) {
    const double tol = std::is_same_v<T, float> ? 2e-4 : 1e-10;
    for (const auto& g : {dnft_test::shifted_grid(10), dnft_test::linear_grid(6), std::vector<double>{0.9, 0.5, 0.2}}) {
      recorded<T> r;
      dnft::flow_sde_solver<> solver{.noise_level = 0.7, .seed = 123, .stream = 5};
      solver.sample(r.f, dnft::make_view(r.x.data(), {r.B, r.D}), r.c, g, r.rec);
      CHECK(solver.stream == 6);
      check_recording(r, g, [](const auto& gg, std::size_t k) { return dnft_test::flow_sde_reference(gg, k, 0.7); }, 123,
                      5, tol);
    }
  }

  TEST_CASE_TEMPLATE("ddim_solver: each recorded log-probability is the Gaussian density of the step", T, float, double) {
    const double tol = std::is_same_v<T, float> ? 2e-4 : 1e-10;
    for (double eta : {1.0, 0.5}) {
      const auto g = dnft_test::shifted_grid(8);
      recorded<T> r;
      dnft::ddim_solver<> solver{.eta = eta, .seed = 77, .stream = 0};
      solver.sample(r.f, dnft::make_view(r.x.data(), {r.B, r.D}), r.c, g, r.rec);
      check_recording(r, g, [&](const auto& gg, std::size_t k) { return dnft_test::ddim_reference(gg, k, eta); }, 77, 0,
                      tol);
      // the step into sigma = 0 is deterministic: log-probability 0
      for (int i = 0; i < r.B; ++i) CHECK(r.rec.log_prob(r.rec.steps() - 1)(i) == 0.0);
    }
  }

  TEST_CASE("sampling with and without a recording gives the same samples") {
    recorded<double> r;
    const auto g = dnft_test::shifted_grid(10);
    std::vector<double> y = r.x;
    dnft::flow_sde_solver<> s1{.seed = 3}, s2{.seed = 3};
    s1.sample(r.f, dnft::make_view(r.x.data(), {r.B, r.D}), r.c, g, r.rec);
    s2.sample(r.f, dnft::make_view(y.data(), {r.B, r.D}), r.c, g);
    CHECK(r.x == y);
  }

  TEST_CASE("transition_log_prob recomputes the recorded log-probabilities, and its gradient") {
    recorded<double> r;
    const auto g = dnft_test::shifted_grid(10);
    dnft::flow_sde_solver<> solver{.seed = 9};
    solver.sample(r.f, dnft::make_view(r.x.data(), {r.B, r.D}), r.c, g, r.rec);
    for (dnft::index_t k = 0; k < r.rec.steps(); ++k) {
      // the sampling velocity
      std::vector<double> v(15), t(3, g[std::size_t(k)]), lp(3), grad(15);
      r.f.predict(r.rec.state(k), dnft::make_view(static_cast<const double*>(t.data()), {3}), r.c,
                  dnft::make_view(v.data(), {3, 5}));
      dnft::transition_log_prob(dnft::host, r.rec.transition(k), r.rec.state(k), r.rec.state(k + 1),
                                dnft::make_view(v.data(), {3, 5}), lp, dnft::make_view(grad.data(), {3, 5}));
      // the same arithmetic: equal up to multiply-add contraction (bit for bit without FMA)
      for (int i = 0; i < 3; ++i) CHECK(lp[std::size_t(i)] == doctest::Approx(r.rec.log_prob(k)(i)).epsilon(1e-14));
      // another velocity (a "theta" policy): against the reference density and finite differences
      std::vector<double> w = v;
      for (std::size_t j = 0; j < w.size(); ++j) w[j] += 0.1 * std::sin(double(j) + double(k));
      dnft::transition_log_prob(dnft::host, r.rec.transition(k), r.rec.state(k), r.rec.state(k + 1),
                                dnft::make_view(w.data(), {3, 5}), lp, dnft::make_view(grad.data(), {3, 5}));
      const auto st = dnft_test::flow_sde_reference(g, std::size_t(k), 0.7);
      auto ref_logp = [&](const std::vector<double>& vv, int i) {
        double s = 0;
        for (int d = 0; d < 5; ++d)
          s += dnft_test::normal_log_density(r.rec.state(k + 1)(i, d),
                                             st.mean(r.rec.state(k)(i, d), vv[std::size_t(i * 5 + d)]), st.sd);
        return s / 5;
      };
      for (int i = 0; i < 3; ++i) {
        CHECK(lp[std::size_t(i)] == doctest::Approx(ref_logp(w, i)).epsilon(1e-11));
        for (int d = 0; d < 5; ++d) {
          const double h = 1e-5;
          std::vector<double> wp = w, wm = w;
          wp[std::size_t(i * 5 + d)] += h;
          wm[std::size_t(i * 5 + d)] -= h;
          const double fd = (ref_logp(wp, i) - ref_logp(wm, i)) / (2 * h);
          CHECK(grad[std::size_t(i * 5 + d)] == doctest::Approx(fd).epsilon(1e-6).scale(1e-6));
        }
      }
    }
  }

  TEST_CASE("flow_sde_solver: samples have the moments of the exact discrete chain, and of the data") {
    // one condition, B samples of D = 2 dimensions
    const int B = 10000, D = 2;
    const auto f = gaussian_field<double>::make(D, 1, 3);
    auto field = f;
    const std::vector<int> c(B, 0);
    auto ref = [](const auto& gg, std::size_t k) { return dnft_test::flow_sde_reference(gg, k, 0.7); };
    // (a) the FlowGRPO setting: 10 steps on the shifted grid from pure noise
    {
      const auto g = dnft_test::shifted_grid(10);
      std::vector<double> x = dnft_test::normal_data(std::size_t(B * D), 21);
      dnft::flow_sde_solver<> solver{.seed = 2024};
      solver.sample(field, dnft::make_view(x.data(), {B, D}), c, g);
      for (int d = 0; d < D; ++d) {
        double m, var;
        chain_moments(f, 0, d, g, 0.0, 1.0, ref, m, var);
        const auto mc = sample_moments(x, B, D, d);
        CAPTURE(d);
        CHECK(std::abs(mc.mean - m) < 5 * std::sqrt(var / B));
        CHECK(std::abs(mc.var - var) < 5 * var * std::sqrt(2.0 / B));
      }
    }
    // (b) 100 steps from the exact marginal at sigma = 0.98: the chain is consistent, so the
    // samples have the data's mean and variance (bias of the chain below 1 %); without the drift
    // correction std^2 / (2 sigma) (x + (1 - sigma) v) dt the variance would be 3 times too large.
    {
      std::vector<double> g(101);
      for (int k = 0; k <= 100; ++k) g[std::size_t(k)] = 0.98 * (1 - k / 100.0);
      std::vector<double> x = dnft_test::normal_data(std::size_t(B * D), 22);
      for (int i = 0; i < B; ++i)
        for (int d = 0; d < D; ++d) x[std::size_t(i * D + d)] = f.flow(x[std::size_t(i * D + d)], 1.0, 0.98, 0, d);
      dnft::flow_sde_solver<> solver{.seed = 2025};
      solver.sample(field, dnft::make_view(x.data(), {B, D}), c, g);
      for (int d = 0; d < D; ++d) {
        const double mu = f.mean(0, d), s2 = f.stddev[std::size_t(d)] * f.stddev[std::size_t(d)];
        double m, var, m_nc, var_nc;
        chain_moments(f, 0, d, g, (1 - 0.98) * mu, f.variance(0.98, d), ref, m, var);
        chain_moments(f, 0, d, g, (1 - 0.98) * mu, f.variance(0.98, d), ref, m_nc, var_nc, false);
        const auto mc = sample_moments(x, B, D, d);
        CAPTURE(d);
        CHECK(std::abs(m - mu) < 1e-12);
        CHECK(std::abs(var / s2 - 1) < 0.01);
        CHECK(var_nc > 3 * s2);
        CHECK(std::abs(mc.mean - mu) < 5 * std::sqrt(s2 / B));
        CHECK(std::abs(mc.var - s2) < 5 * s2 * std::sqrt(2.0 / B) + 0.01 * s2);
      }
    }
  }

  TEST_CASE("ddim_solver: samples have the moments of the exact discrete chain") {
    const int B = 10000, D = 2;
    const auto f = gaussian_field<double>::make(D, 1, 3);
    auto field = f;
    const std::vector<int> c(B, 0);
    const auto g = dnft_test::shifted_grid(10);
    for (double eta : {1.0, 0.6}) {
      std::vector<double> x = dnft_test::normal_data(std::size_t(B * D), 23);
      dnft::ddim_solver<> solver{.eta = eta, .seed = 7};
      solver.sample(field, dnft::make_view(x.data(), {B, D}), c, g);
      for (int d = 0; d < D; ++d) {
        double m, var;
        chain_moments(f, 0, d, g, 0.0, 1.0, [&](const auto& gg, std::size_t k) { return dnft_test::ddim_reference(gg, k, eta); },
                      m, var);
        const auto mc = sample_moments(x, B, D, d);
        CAPTURE(eta);
        CAPTURE(d);
        CHECK(std::abs(mc.mean - m) < 5 * std::sqrt(var / B));
        CHECK(std::abs(mc.var - var) < 5 * var * std::sqrt(2.0 / B));
      }
    }
  }

  TEST_CASE("stochastic solvers: seeded runs reproduce; other seeds and streams differ; the stream advances") {
    dnft_test::solver_problem p;
    const auto g = dnft_test::shifted_grid(10);
    auto run = [&](auto& solver) {
      std::vector<double> x = p.x1;
      solver.sample(p.f, dnft::make_view(x.data(), {p.B, p.D}), p.c, g);
      return x;
    };
    auto check_solver = [&](auto make) {
      auto a = make(1, 0), b = make(1, 0), other_seed = make(2, 0), other_stream = make(1, 1);
      const auto xa = run(a);
      CHECK(a.stream == 1);
      CHECK(xa == run(b));
      CHECK(xa != run(other_seed));
      const auto xs = run(other_stream);
      CHECK(xa != xs);
      CHECK(run(a) == xs);  // a's second call uses stream 1
      CHECK(a.stream == 2);
    };
    check_solver([](std::uint64_t seed, std::uint64_t stream) {
      return dnft::flow_sde_solver<>{.noise_level = 0.7, .seed = seed, .stream = stream};
    });
    check_solver([](std::uint64_t seed, std::uint64_t stream) {
      return dnft::ddim_solver<>{.eta = 1.0, .seed = seed, .stream = stream};
    });
  }

  TEST_CASE("flow_sde_solver with noise level 0 is the Euler solver") {
    dnft_test::solver_problem p;
    for (const auto& g : {dnft_test::shifted_grid(10), dnft_test::linear_grid(7)}) {
      std::vector<double> x = p.x1, y = p.x1;
      dnft::flow_sde_solver<>{.noise_level = 0.0}.sample(p.f, dnft::make_view(x.data(), {p.B, p.D}), p.c, g);
      dnft::euler_solver<>{}.sample(p.f, dnft::make_view(y.data(), {p.B, p.D}), p.c, g);
      for (std::size_t k = 0; k < x.size(); ++k) CHECK(x[k] == doctest::Approx(y[k]).epsilon(1e-14));
    }
  }

  TEST_CASE("transition coefficients: flow_sde_solver::transition and the free functions") {
    const auto g = dnft_test::shifted_grid(10);
    const dnft::flow_sde_solver<> solver{.noise_level = 0.5};
    for (dnft::index_t k = 0; k < 10; ++k) {
      const auto tr = solver.transition(g, k);
      const auto st = dnft_test::flow_sde_reference(g, std::size_t(k), 0.5);
      CHECK(tr.cx == doctest::Approx(st.mean(1, 0) - st.mean(0, 0)).epsilon(1e-13));
      CHECK(tr.cv == doctest::Approx(st.mean(0, 1) - st.mean(0, 0)).epsilon(1e-13));
      CHECK(tr.scale == doctest::Approx(st.sd).epsilon(1e-13));
      CHECK(tr.std_dev * std::sqrt(g[std::size_t(k)] - g[std::size_t(k) + 1]) == doctest::Approx(st.sd).epsilon(1e-13));
    }
    // sigma~ = grid[1] only for a step from sigma = 1
    CHECK(solver.transition(g, 0).std_dev == doctest::Approx(0.5 * std::sqrt(1 / (1 - g[1]))).epsilon(1e-14));
    CHECK(dnft::flow_sde_transition(0.5, 0.25, 0.5, 0.5).std_dev == doctest::Approx(0.5).epsilon(1e-14));
    const auto dd = dnft::ddim_transition(0.6, 0.3, 0.0);
    CHECK(dd.cx == doctest::Approx(1.0).epsilon(1e-15));
    CHECK(dd.cv == doctest::Approx(-0.3).epsilon(1e-14));
    CHECK(dd.scale == 0.0);
    const auto d1 = dnft::ddim_transition(1.0, 0.7, 1.0);  // from sigma = 1: rho = eta sigma'
    CHECK(d1.scale == doctest::Approx(0.7).epsilon(1e-15));
  }
}
