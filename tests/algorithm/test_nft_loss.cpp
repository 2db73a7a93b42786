// SPDX-License-Identifier: Apache-2.0
// nft_loss against a naive double-precision reference of ALGORITHM.md section 2, finite
// differences of its gradient, the on-policy closed form, thread-count invariance and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "dnft/algorithm/nft_loss.hpp"
#include "support/nft_reference.hpp"
#include "support/random_data.hpp"

using dnft_test::cast;
using dnft_test::rounded;

namespace {

struct problem {
  int B, D;
  std::vector<double> x0, eps, t, adv, vth, vold, vref;
  problem(int b, int d, std::uint64_t seed) : B(b), D(d) {
    const auto n = std::size_t(b) * std::size_t(d);
    x0 = dnft_test::normal_data(n, seed + 1, 1.0);
    eps = dnft_test::normal_data(n, seed + 2, 1.0);
    t = dnft_test::uniform_data(std::size_t(b), seed + 3, 0.0, 1.0);
    adv = dnft_test::normal_data(std::size_t(b), seed + 4, 4.0);  // some beyond |5| to exercise clipping
    // velocities near the target u = eps - x0, so the branch errors are realistic
    vth = dnft_test::normal_data(n, seed + 5, 0.3);
    vold = dnft_test::normal_data(n, seed + 6, 0.3);
    vref = dnft_test::normal_data(n, seed + 7, 0.3);
    for (std::size_t k = 0; k < n; ++k) {
      const double u = eps[k] - x0[k];
      vth[k] += u;
      vold[k] += u;
      vref[k] += u;
    }
    if (b > 2) {
      t[0] = 0.0;  // the end points of the time range are legal
      t[1] = 1.0;
      adv[2] = 0.0;
    }
  }
};

std::vector<dnft::nft_options> all_options() {
  std::vector<dnft::nft_options> out;
  for (auto mode : {dnft::advantage_mode::all, dnft::advantage_mode::positive_only, dnft::advantage_mode::negative_only,
                    dnft::advantage_mode::one_only, dnft::advantage_mode::binary})
    for (auto space : {dnft::loss_space::data, dnft::loss_space::velocity})
      for (auto w : {dnft::loss_weighting::adaptive, dnft::loss_weighting::uniform, dnft::loss_weighting::time,
                     dnft::loss_weighting::one_minus_time}) {
        dnft::nft_options o;
        o.mode = mode;
        o.space = space;
        o.weighting = w;
        out.push_back(o);
      }
  dnft::nft_options b;
  b.beta = 0.1;
  b.adv_clip_max = 2.0;
  b.kl_weight = 0.5;
  out.push_back(b);
  b.beta = 3.0;
  b.weight_floor = 0.5;  // large floor: exercises the max()
  out.push_back(b);
  return out;
}

std::string describe(const dnft::nft_options& o) {
  return "mode " + std::to_string(int(o.mode)) + " space " + std::to_string(int(o.space)) + " weighting " +
         std::to_string(int(o.weighting)) + " beta " + std::to_string(o.beta) + " C " + std::to_string(o.adv_clip_max);
}

}  // namespace

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("nft_loss matches the naive double reference for every option", T, float, double) {
    const problem pr(13, 37, 11);
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    auto x0 = cast<T>(pr.x0), eps = cast<T>(pr.eps), vth = cast<T>(pr.vth), vold = cast<T>(pr.vold),
         vref = cast<T>(pr.vref);
    const auto rx0 = rounded<T>(pr.x0), reps = rounded<T>(pr.eps), rvth = rounded<T>(pr.vth),
               rvold = rounded<T>(pr.vold), rvref = rounded<T>(pr.vref);
    auto view = [&](std::vector<T>& v) { return dnft::make_view(v.data(), {pr.B, pr.D}); };
    for (const auto& o : all_options()) {
      for (bool with_ref : {true, false}) {
        CAPTURE(describe(o));
        CAPTURE(with_ref);
        const auto ref = dnft_test::nft_reference(pr.B, pr.D, rx0, reps, pr.t, pr.adv, rvth, rvold,
                                                  with_ref ? &rvref : nullptr, o);
        dnft::nft_stats st;
        if (with_ref)
          st = dnft::nft_loss(dnft::host, view(x0), view(eps), pr.t, pr.adv, view(vth), view(vold), view(vref),
                              dnft::none, o);
        else
          st = dnft::nft_loss(dnft::host, view(x0), view(eps), pr.t, pr.adv, view(vth), view(vold), dnft::none,
                              dnft::none, o);
        CHECK(st.loss == doctest::Approx(ref.loss).epsilon(tol));
        CHECK(st.policy_loss == doctest::Approx(ref.policy_loss).epsilon(tol));
        CHECK(st.kl == doctest::Approx(ref.kl).epsilon(tol));
        CHECK(st.theta_old == doctest::Approx(ref.theta_old).epsilon(tol));
        CHECK(st.old_ref == doctest::Approx(ref.old_ref).epsilon(tol));
        CHECK(st.x0_sq == doctest::Approx(ref.x0_sq).epsilon(tol));
        CHECK(st.mean_r == doctest::Approx(ref.mean_r).epsilon(tol));
        CHECK(st.clipped_fraction == doctest::Approx(ref.clipped).epsilon(tol));
        CHECK(st.batch == pr.B);
        CHECK(st.elements == pr.D);
      }
    }
  }

  TEST_CASE("nft_loss gradient matches central finite differences (double, weights held constant)") {
    const problem pr(5, 11, 21);
    for (const auto& o : all_options()) {
      CAPTURE(describe(o));
      auto x0 = pr.x0, eps = pr.eps, vth = pr.vth, vold = pr.vold, vref = pr.vref;
      std::vector<double> grad(vth.size(), -7.0);
      dnft::nft_loss(dnft::host, dnft::make_view(x0.data(), {pr.B, pr.D}), dnft::make_view(eps.data(), {pr.B, pr.D}),
                     pr.t, pr.adv, dnft::make_view(vth.data(), {pr.B, pr.D}),
                     dnft::make_view(vold.data(), {pr.B, pr.D}), dnft::make_view(vref.data(), {pr.B, pr.D}),
                     dnft::make_view(grad.data(), {pr.B, pr.D}), o);
      const auto base = dnft_test::nft_reference(pr.B, pr.D, x0, eps, pr.t, pr.adv, vth, vold, &vref, o);
      const double h = 1e-6;
      for (std::size_t k = 0; k < vth.size(); ++k) {
        auto vp = vth, vm = vth;
        vp[k] += h;
        vm[k] -= h;
        const double lp = dnft_test::nft_reference(pr.B, pr.D, x0, eps, pr.t, pr.adv, vp, vold, &vref, o, &base).loss;
        const double lm = dnft_test::nft_reference(pr.B, pr.D, x0, eps, pr.t, pr.adv, vm, vold, &vref, o, &base).loss;
        const double fd = (lp - lm) / (2 * h);
        CAPTURE(k);
        CHECK(grad[k] == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
      }
    }
  }

  TEST_CASE("on-policy gradient is the advantage-weighted flow-matching step") {
    // v_theta = v_old: grad = 2 t^2 / (B D w) * A_hat * (v_old - u), w = t mean |v_old - u|, no KL.
    problem pr(6, 19, 31);
    pr.vth = pr.vold;
    for (auto& a : pr.adv) a = std::max(-4.9, std::min(4.9, a));  // inside the clip range
    std::vector<double> grad(pr.vth.size());
    dnft::nft_options o;
    o.beta = 0.37;  // beta cancels
    const auto st = dnft::nft_loss(dnft::host, dnft::make_view(pr.x0.data(), {pr.B, pr.D}),
                                   dnft::make_view(pr.eps.data(), {pr.B, pr.D}), pr.t, pr.adv,
                                   dnft::make_view(pr.vth.data(), {pr.B, pr.D}),
                                   dnft::make_view(pr.vold.data(), {pr.B, pr.D}), dnft::none,
                                   dnft::make_view(grad.data(), {pr.B, pr.D}), o);
    CHECK(st.theta_old == 0.0);
    for (int i = 0; i < pr.B; ++i) {
      double mabs = 0;
      for (int d = 0; d < pr.D; ++d) {
        const int k = i * pr.D + d;
        mabs += std::abs(pr.vold[k] - (pr.eps[k] - pr.x0[k]));
      }
      const double w = std::max(pr.t[i] * mabs / pr.D, 1e-5);
      for (int d = 0; d < pr.D; ++d) {
        const int k = i * pr.D + d;
        const double expect =
            2 * pr.t[i] * pr.t[i] / (pr.B * pr.D * w) * pr.adv[i] * (pr.vold[k] - (pr.eps[k] - pr.x0[k]));
        CHECK(grad[k] == doctest::Approx(expect).epsilon(1e-12).scale(1e-12));
      }
    }
  }

  TEST_CASE_TEMPLATE("nft_loss is bit-identical for 1 and 2 threads", T, float, double) {
    const problem pr(9, 5000, 41);
    auto x0 = cast<T>(pr.x0), eps = cast<T>(pr.eps), vth = cast<T>(pr.vth), vold = cast<T>(pr.vold),
         vref = cast<T>(pr.vref);
    auto v = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    std::vector<T> g1(vth.size()), g2(vth.size()), g3(vth.size());
    dnft::host_executor one{1}, two{2}, three{3};
    two.min_parallel_work = three.min_parallel_work = 1;
    const auto s1 = dnft::nft_loss(one, v(x0), v(eps), pr.t, pr.adv, v(vth), v(vold), v(vref), v(g1));
    const auto s2 = dnft::nft_loss(two, v(x0), v(eps), pr.t, pr.adv, v(vth), v(vold), v(vref), v(g2));
    const auto s3 = dnft::nft_loss(three, v(x0), v(eps), pr.t, pr.adv, v(vth), v(vold), v(vref), v(g3));
    CHECK(s1.loss == s2.loss);
    CHECK(s1.loss == s3.loss);
    CHECK(s1.kl == s2.kl);
    CHECK(g1 == g2);
    CHECK(g1 == g3);
  }

  TEST_CASE("nft_loss with Philox noise equals nft_loss with the same noise stored") {
    const problem pr(7, 1500, 51);  // D not a multiple of the chunk or of 4
    const dnft::philox_normal gen{.seed = 1234, .stream = dnft::stream_id(3, 4)};
    std::vector<float> eps(pr.x0.size());
    for (int i = 0; i < pr.B; ++i) gen.fill(std::uint64_t(i), 0, std::uint64_t(pr.D), eps.data() + i * pr.D);
    auto x0 = cast<float>(pr.x0), vth = cast<float>(pr.vth), vold = cast<float>(pr.vold);
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    std::vector<float> g1(x0.size()), g2(x0.size());
    const auto s1 = dnft::nft_loss(dnft::host, v(x0), v(eps), pr.t, pr.adv, v(vth), v(vold), dnft::none, v(g1));
    const auto s2 = dnft::nft_loss(dnft::host, v(x0), gen, pr.t, pr.adv, v(vth), v(vold), dnft::none, v(g2));
    CHECK(s1.loss == s2.loss);
    CHECK(g1 == g2);
  }

  TEST_CASE("nft_loss: grad may alias v_theta; strided inputs give the same result") {
    const problem pr(4, 33, 61);
    auto x0 = pr.x0, eps = pr.eps, vth = pr.vth, vold = pr.vold;
    auto v = [&](std::vector<double>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}); };
    std::vector<double> g(vth.size());
    const auto s1 = dnft::nft_loss(dnft::host, v(x0), v(eps), pr.t, pr.adv, v(vth), v(vold), dnft::none, v(g));
    auto inplace = vth;
    const auto s2 = dnft::nft_loss(dnft::host, v(x0), v(eps), pr.t, pr.adv, v(inplace), v(vold), dnft::none, v(inplace));
    CHECK(s1.loss == s2.loss);
    CHECK(inplace == g);
    // the same data stored column-major (sample stride 1, element stride B)
    auto transpose = [&](const std::vector<double>& a) {
      std::vector<double> r(a.size());
      for (int i = 0; i < pr.B; ++i)
        for (int d = 0; d < pr.D; ++d) r[std::size_t(d * pr.B + i)] = a[std::size_t(i * pr.D + d)];
      return r;
    };
    auto cx0 = transpose(x0), ceps = transpose(eps), cvth = transpose(vth), cvold = transpose(vold);
    std::vector<double> cg(g.size());
    auto cv = [&](std::vector<double>& a) { return dnft::make_view(a.data(), {pr.B, pr.D}, {1, pr.B}); };
    const auto s3 = dnft::nft_loss(dnft::host, cv(cx0), cv(ceps), pr.t, pr.adv, cv(cvth), cv(cvold), dnft::none, cv(cg));
    CHECK(s3.loss == doctest::Approx(s1.loss).epsilon(1e-14));
    for (int i = 0; i < pr.B; ++i)
      for (int d = 0; d < pr.D; ++d)
        CHECK(cg[std::size_t(d * pr.B + i)] == doctest::Approx(g[std::size_t(i * pr.D + d)]).epsilon(1e-13));
  }
}
