// SPDX-License-Identifier: Apache-2.0
// The host nft_loss kernel on samples large enough to reach every code path of the fast loop:
// several float blocks and a tail per sample, unaligned samples, streaming gradient stores,
// threads, in-place gradients and regenerated noise. Compared against a double reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dnft/algorithm/nft_loss.hpp"
#include "support/nft_reference.hpp"
#include "support/random_data.hpp"

namespace {

// B * D * sizeof(float) is just above 4 MiB (gradients are streamed), D % 8 == 3 (a tail after
// the lanes) and D is odd, so every sample but the first starts unaligned.
constexpr int big_b = 4;
constexpr int big_d = 262147;

struct big_problem {
  int B = big_b, D = big_d;
  std::vector<double> x0, eps, t, adv, vth, vold, vref;
  big_problem() {
    const auto n = std::size_t(B) * std::size_t(D);
    x0 = dnft_test::rounded<float>(dnft_test::normal_data(n, 101, 1.0));
    eps = dnft_test::rounded<float>(dnft_test::normal_data(n, 102, 1.0));
    t = {0.9, 0.35, 0.6, 0.05};
    adv = {2.5, -1.0, 7.0, 0.3};
    vth = dnft_test::normal_data(n, 105, 0.3);
    vold = dnft_test::normal_data(n, 106, 0.3);
    vref = dnft_test::normal_data(n, 107, 0.3);
    for (std::size_t k = 0; k < n; ++k) {
      const double u = eps[k] - x0[k];
      vth[k] = double(float(vth[k] + u));
      vold[k] = double(float(vold[k] + u));
      vref[k] = double(float(vref[k] + u));
    }
  }
};

//! dloss/dv_theta straight from ALGORITHM.md section 2 (default options: data space, adaptive
//! weights held constant), in double, using the reference's weights.
std::vector<double> reference_grad(const big_problem& p, const dnft_test::nft_ref_result& ref) {
  const double C = 5.0, lambda = 1e-4, beta = 1.0;
  std::vector<double> g(p.x0.size());
  for (int i = 0; i < p.B; ++i) {
    const double r = std::min(std::max(dnft_test::ref_adv(p.adv[std::size_t(i)], C, dnft::advantage_mode::all) / C / 2 + 0.5, 0.0), 1.0);
    const double t = p.t[std::size_t(i)];
    for (int d = 0; d < p.D; ++d) {
      const auto k = std::size_t(i) * std::size_t(p.D) + std::size_t(d);
      const double xt = (1 - t) * p.x0[k] + t * p.eps[k];
      const double vpos = beta * p.vth[k] + (1 - beta) * p.vold[k];
      const double vneg = (1 + beta) * p.vold[k] - beta * p.vth[k];
      const double epos = xt - t * vpos - p.x0[k], eneg = xt - t * vneg - p.x0[k];
      g[k] = (C / p.B) * (2 * t / p.D) *
                 ((1 - r) * eneg * ref.w_neg[std::size_t(i)] - r * epos * ref.w_pos[std::size_t(i)]) +
             2 * lambda / (double(p.B) * p.D) * (p.vth[k] - p.vref[k]);
    }
  }
  return g;
}

const big_problem& problem() {
  static const big_problem p;
  return p;
}

}  // namespace

TEST_SUITE("host") {
  TEST_CASE("host nft_loss on large float samples matches the double reference") {
    const auto& p = problem();
    auto x0 = dnft_test::cast<float>(p.x0), eps = dnft_test::cast<float>(p.eps), vth = dnft_test::cast<float>(p.vth),
         vold = dnft_test::cast<float>(p.vold), vref = dnft_test::cast<float>(p.vref);
    std::vector<float> grad(x0.size());
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {p.B, p.D}); };
    const auto st = dnft::nft_loss(dnft::host, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref), v(grad));
    const auto ref = dnft_test::nft_reference(p.B, p.D, p.x0, p.eps, p.t, p.adv, p.vth, p.vold, &p.vref, {});
    // float terms summed in blocks of 32 per lane, blocks in double: about 1e-7 relative
    const double tol = 1e-6;
    CHECK(st.loss == doctest::Approx(ref.loss).epsilon(tol));
    CHECK(st.policy_loss == doctest::Approx(ref.policy_loss).epsilon(tol));
    CHECK(st.kl == doctest::Approx(ref.kl).epsilon(tol));
    CHECK(st.theta_old == doctest::Approx(ref.theta_old).epsilon(tol));
    CHECK(st.old_ref == doctest::Approx(ref.old_ref).epsilon(tol));
    CHECK(st.x0_sq == doctest::Approx(ref.x0_sq).epsilon(tol));
    CHECK(st.clipped_fraction == doctest::Approx(0.25));
    const auto g = reference_grad(p, ref);
    double gmax = 0, err = 0;
    for (std::size_t k = 0; k < g.size(); ++k) {
      gmax = std::max(gmax, std::abs(g[k]));
      err = std::max(err, std::abs(double(grad[k]) - g[k]));
    }
    CAPTURE(gmax);
    CHECK(gmax > 0);
    CHECK(err <= 1e-5 * gmax);
  }

  TEST_CASE("host nft_loss on large samples: any thread count, in place and with Philox noise, bit for bit") {
    const auto& p = problem();
    auto x0 = dnft_test::cast<float>(p.x0), vth = dnft_test::cast<float>(p.vth), vold = dnft_test::cast<float>(p.vold),
         vref = dnft_test::cast<float>(p.vref);
    const dnft::philox_normal gen{.seed = 77, .stream = dnft::stream_id(1, 2)};
    std::vector<float> eps(x0.size());
    for (int i = 0; i < p.B; ++i)
      gen.fill(std::uint64_t(i), 0, std::uint64_t(p.D), eps.data() + std::size_t(i) * std::size_t(p.D));
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {p.B, p.D}); };

    std::vector<float> g1(x0.size());
    dnft::host_executor one{1};
    const auto s1 = dnft::nft_loss(one, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref), v(g1));
    for (int threads : {2, 3}) {
      CAPTURE(threads);
      dnft::host_executor ex{threads};
      ex.min_parallel_work = 1;
      std::vector<float> g(x0.size());
      const auto s = dnft::nft_loss(ex, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref), v(g));
      CHECK(s.loss == s1.loss);
      CHECK(s.theta_old == s1.theta_old);
      CHECK(g == g1);
      if (threads == 2) {  // the same noise regenerated from Philox instead of read
        std::fill(g.begin(), g.end(), 0.0f);
        const auto sp = dnft::nft_loss(ex, v(x0), gen, p.t, p.adv, v(vth), v(vold), v(vref), v(g));
        CHECK(sp.loss == s1.loss);
        CHECK(g == g1);
      } else {  // the gradient written over v_theta
        auto inplace = vth;
        const auto si = dnft::nft_loss(ex, v(x0), v(eps), p.t, p.adv, v(inplace), v(vold), v(vref), v(inplace));
        CHECK(si.loss == s1.loss);
        CHECK(inplace == g1);
      }
    }
    // a gradient view that starts one element past an aligned address (peeled stores)
    std::vector<float> shifted(x0.size() + 1);
    const auto ss = dnft::nft_loss(one, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref),
                                   dnft::make_view(shifted.data() + 1, {p.B, p.D}));
    CHECK(ss.loss == s1.loss);
    CHECK(std::equal(g1.begin(), g1.end(), shifted.begin() + 1));
  }

  TEST_CASE("host nft_loss: short samples, block edges and tails; nothing leaks between samples") {
    // Samples shorter than one group of lanes, exactly one block, and with a tail: the stats
    // match the double reference, and each sample's gradient is that of the same sample passed
    // alone, divided by B (so no sum leaks from one sample into the next).
    for (int D : {1, 7, 8, 255, 256, 257, 1031}) {
      CAPTURE(D);
      const int B = 5;
      const auto n = std::size_t(B) * std::size_t(D);
      auto x0 = dnft_test::cast<float>(dnft_test::normal_data(n, 1, 1.0));
      auto eps = dnft_test::cast<float>(dnft_test::normal_data(n, 2, 1.0));
      auto vth = dnft_test::cast<float>(dnft_test::normal_data(n, 3, 1.0));
      auto vold = dnft_test::cast<float>(dnft_test::normal_data(n, 4, 1.0));
      const std::vector<double> t{0.1, 0.3, 0.5, 0.7, 0.9}, adv{-3, -1, 0, 1, 3};
      std::vector<float> g(n);
      auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {B, D}); };
      const auto st = dnft::nft_loss(dnft::host, v(x0), v(eps), t, adv, v(vth), v(vold), dnft::none, v(g));
      const auto d64 = [](const std::vector<float>& a) { return std::vector<double>(a.begin(), a.end()); };
      const auto ref = dnft_test::nft_reference(B, D, d64(x0), d64(eps), t, adv, d64(vth), d64(vold), nullptr, {});
      CHECK(st.loss == doctest::Approx(ref.loss).epsilon(1e-6));
      CHECK(st.theta_old == doctest::Approx(ref.theta_old).epsilon(1e-6));
      CHECK(st.x0_sq == doctest::Approx(ref.x0_sq).epsilon(1e-6));
      for (int i = 0; i < B; ++i) {
        auto one = [&](std::vector<float>& a) { return dnft::make_view(a.data() + std::size_t(i) * std::size_t(D), {1, D}); };
        std::vector<float> gi(static_cast<std::size_t>(D));
        const std::vector<double> ti{t[std::size_t(i)]}, ai{adv[std::size_t(i)]};
        dnft::nft_loss(dnft::host, one(x0), one(eps), ti, ai, one(vth), one(vold), dnft::none,
                       dnft::make_view(gi.data(), {1, D}));
        // the coefficients differ by the batch size only (a power of two would be exact; 5 is not)
        for (int d = 0; d < D; ++d)
          CHECK(g[std::size_t(i) * std::size_t(D) + std::size_t(d)] ==
                doctest::Approx(gi[std::size_t(d)] / B).epsilon(1e-6));
      }
    }
  }
}
