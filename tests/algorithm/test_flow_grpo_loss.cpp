// SPDX-License-Identifier: Apache-2.0
// flow_grpo_loss against a naive double reference of ALGORITHM.md section 5 (written from the
// Gaussian density directly), central finite differences of its gradient, and bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "dnft/algorithm/flow_grpo_loss.hpp"
#include "support/random_data.hpp"

namespace {

struct ref_out {
  double loss, policy_loss, kl, clip_fraction;
  std::vector<double> logp;
};

ref_out reference(int B, int D, const dnft::gaussian_transition& tr, const std::vector<double>& x,
                  const std::vector<double>& xn, const std::vector<double>& vt, const std::vector<double>* vr,
                  const std::vector<double>& logp_s, const std::vector<double>& adv, const dnft::flow_grpo_options& o) {
  ref_out r{0, 0, 0, 0, {}};
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < B; ++i) {
    double lp = 0, kl = 0;
    for (int d = 0; d < D; ++d) {
      const int k = i * D + d;
      const double mean = tr.cx * x[k] + tr.cv * vt[k];
      // log N(x'; mean, scale^2) per element
      lp += -(xn[k] - mean) * (xn[k] - mean) / (2 * tr.scale * tr.scale) - std::log(tr.scale) - 0.5 * std::log(2 * pi);
      if (vr) {
        const double mref = tr.cx * x[k] + tr.cv * (*vr)[k];
        kl += (mean - mref) * (mean - mref) / (2 * tr.std_dev * tr.std_dev);
      }
    }
    lp /= D;
    kl /= D;
    r.logp.push_back(lp);
    const double a = std::clamp(adv[i], -o.adv_clip_max, o.adv_clip_max);
    const double ratio = std::exp(lp - logp_s[i]);
    const double l1 = -a * ratio, l2 = -a * std::clamp(ratio, 1 - o.clip_range, 1 + o.clip_range);
    r.policy_loss += std::max(l1, l2) / B;
    r.kl += kl / B;
    r.clip_fraction += (l2 > l1 ? 1.0 : 0.0) / B;
  }
  r.loss = r.policy_loss + (vr ? o.kl_weight * r.kl : 0.0);
  return r;
}

struct problem {
  int B = 7, D = 13;
  dnft::gaussian_transition tr{0.97, -0.11, 0.08, 0.5, 0.6, 0.5};
  std::vector<double> x, xn, vt, vr, logp_s, adv;
  explicit problem(std::uint64_t seed, double spread) {
    const auto n = std::size_t(B * D);
    x = dnft_test::normal_data(n, seed);
    vt = dnft_test::normal_data(n, seed + 1);
    vr = dnft_test::normal_data(n, seed + 2);
    const auto xi = dnft_test::normal_data(n, seed + 3);
    xn.resize(n);
    for (std::size_t k = 0; k < n; ++k) xn[k] = tr.cx * x[k] + tr.cv * vt[k] + tr.scale * xi[k];
    adv = dnft_test::normal_data(std::size_t(B), seed + 4, 3.0);
    // logp of the sampling policy: near logp_theta, some ratios inside the clip range, some outside
    const auto offs = dnft_test::uniform_data(std::size_t(B), seed + 5, -spread, spread);
    dnft::flow_grpo_options o;
    const auto base = reference(B, D, tr, x, xn, vt, nullptr, std::vector<double>(std::size_t(B), 0.0), adv, o);
    for (int i = 0; i < B; ++i) logp_s.push_back(base.logp[std::size_t(i)] + offs[std::size_t(i)]);
  }
};

}  // namespace

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("flow_grpo_loss matches the naive reference", T, float, double) {
    problem pr(101, 0.3);
    dnft::flow_grpo_options o;
    o.clip_range = 0.2;
    auto c = [](const std::vector<double>& v) { return dnft_test::cast<T>(v); };
    auto x = c(pr.x), xn = c(pr.xn), vt = c(pr.vt), vr = c(pr.vr);
    auto v = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    const auto rx = dnft_test::rounded<T>(pr.x), rxn = dnft_test::rounded<T>(pr.xn), rvt = dnft_test::rounded<T>(pr.vt),
               rvr = dnft_test::rounded<T>(pr.vr);
    const auto ref = reference(pr.B, pr.D, pr.tr, rx, rxn, rvt, &rvr, pr.logp_s, pr.adv, o);
    const auto st = dnft::flow_grpo_loss(dnft::host, pr.tr, v(x), v(xn), v(vt), v(vr), pr.logp_s, pr.adv, dnft::none, o);
    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-12;
    CHECK(st.loss == doctest::Approx(ref.loss).epsilon(tol));
    CHECK(st.policy_loss == doctest::Approx(ref.policy_loss).epsilon(tol));
    CHECK(st.kl == doctest::Approx(ref.kl).epsilon(tol));
    CHECK(st.clip_fraction == doctest::Approx(ref.clip_fraction));
    CHECK(st.clip_fraction > 0.0);  // the problem exercises both branches
    CHECK(st.clip_fraction < 1.0);
    const auto no_ref = dnft::flow_grpo_loss(dnft::host, pr.tr, v(x), v(xn), v(vt), dnft::none, pr.logp_s, pr.adv, dnft::none, o);
    CHECK(no_ref.kl == 0.0);
    CHECK(no_ref.loss == doctest::Approx(ref.policy_loss).epsilon(tol));
  }

  TEST_CASE("flow_grpo_loss gradient matches central finite differences") {
    for (double clip : {0.2, 1e-4}) {
      problem pr(202, 0.3);
      dnft::flow_grpo_options o;
      o.clip_range = clip;
      o.kl_weight = 0.3;
      std::vector<double> g(pr.vt.size());
      dnft::flow_grpo_loss(dnft::host, pr.tr, dnft::make_view(pr.x.data(), {pr.B, pr.D}),
                           dnft::make_view(pr.xn.data(), {pr.B, pr.D}), dnft::make_view(pr.vt.data(), {pr.B, pr.D}),
                           dnft::make_view(pr.vr.data(), {pr.B, pr.D}), pr.logp_s, pr.adv,
                           dnft::make_view(g.data(), {pr.B, pr.D}), o);
      const double h = 1e-6;
      for (std::size_t k = 0; k < pr.vt.size(); ++k) {
        auto vp = pr.vt, vm = pr.vt;
        vp[k] += h;
        vm[k] -= h;
        const double fd = (reference(pr.B, pr.D, pr.tr, pr.x, pr.xn, vp, &pr.vr, pr.logp_s, pr.adv, o).loss -
                           reference(pr.B, pr.D, pr.tr, pr.x, pr.xn, vm, &pr.vr, pr.logp_s, pr.adv, o).loss) /
                          (2 * h);
        CAPTURE(clip);
        CAPTURE(k);
        CHECK(g[k] == doctest::Approx(fd).epsilon(1e-6).scale(1e-4));
      }
    }
  }

  TEST_CASE("flow_grpo_loss on-policy: ratio 1, gradient -A * dlogp/dv / B") {
    problem pr(303, 0.0);
    for (int i = 0; i < pr.B; ++i) pr.adv[std::size_t(i)] = std::clamp(pr.adv[std::size_t(i)], -4.0, 4.0);
    std::vector<double> g(pr.vt.size());
    const auto st = dnft::flow_grpo_loss(dnft::host, pr.tr, dnft::make_view(pr.x.data(), {pr.B, pr.D}),
                                         dnft::make_view(pr.xn.data(), {pr.B, pr.D}),
                                         dnft::make_view(pr.vt.data(), {pr.B, pr.D}), dnft::none, pr.logp_s, pr.adv,
                                         dnft::make_view(g.data(), {pr.B, pr.D}));
    CHECK(st.mean_ratio == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(st.clip_fraction == 0.0);
    for (int i = 0; i < pr.B; ++i)
      for (int d = 0; d < pr.D; ++d) {
        const int k = i * pr.D + d;
        const double dev = pr.xn[std::size_t(k)] - pr.tr.cx * pr.x[std::size_t(k)] - pr.tr.cv * pr.vt[std::size_t(k)];
        const double expect = -pr.adv[std::size_t(i)] * pr.tr.cv * dev / (pr.D * pr.tr.scale * pr.tr.scale) / pr.B;
        CHECK(g[std::size_t(k)] == doctest::Approx(expect).epsilon(1e-10));
      }
  }

  TEST_CASE("flow_grpo_loss: bad input") {
    problem pr(404, 0.1);
    auto v = [&](std::vector<double>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    dnft::flow_grpo_options o;
    o.clip_range = -1;
    CHECK_THROWS_WITH_AS(dnft::flow_grpo_loss(dnft::host, pr.tr, v(pr.x), v(pr.xn), v(pr.vt), dnft::none, pr.logp_s, pr.adv,
                                              dnft::none, o),
                         doctest::Contains("dnft::flow_grpo_loss: clip_range: expected"), dnft::value_error);
    auto short_adv = pr.adv;
    short_adv.pop_back();
    CHECK_THROWS_WITH_AS(dnft::flow_grpo_loss(dnft::host, pr.tr, v(pr.x), v(pr.xn), v(pr.vt), dnft::none, pr.logp_s,
                                              short_adv, dnft::none),
                         doctest::Contains("adv: expected one value per sample"), dnft::shape_error);
    auto bad = pr.vt;
    bad[std::size_t(3 * pr.D + 2)] = std::nan("");
    CHECK_THROWS_WITH_AS(dnft::flow_grpo_loss(dnft::host, pr.tr, v(pr.x), v(pr.xn), v(bad), dnft::none, pr.logp_s, pr.adv,
                                              dnft::none),
                         doctest::Contains("v_theta: non-finite value nan at sample 3, element 2"), dnft::value_error);
    auto bad_lp = pr.logp_s;
    bad_lp[1] = INFINITY;
    CHECK_THROWS_WITH_AS(dnft::flow_grpo_loss(dnft::host, pr.tr, v(pr.x), v(pr.xn), v(pr.vt), dnft::none, bad_lp, pr.adv,
                                              dnft::none),
                         doctest::Contains("log_prob_sample: non-finite value inf at sample 1"), dnft::value_error);
  }
}
