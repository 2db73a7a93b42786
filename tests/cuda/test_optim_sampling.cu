// SPDX-License-Identifier: Apache-2.0
// The flat-buffer operations (soft update, EMA, gradient norm and clipping, AdamW), lincomb,
// sde_step / transition_log_prob and flow_grpo_loss on dnft::cuda::executor against the host
// backends on identical inputs, with stated tolerances; determinism, layouts and bad input.

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "dnft/solvers/flow_sde.hpp"
#include "kernel_support.cuh"

using namespace dnft_cuda_test;

namespace {

// Device against host on identical inputs where the device may fuse a multiply and an add: an
// ulp or two of the terms, relative to the largest value (cancellation makes single elements
// small).
template <class T>
constexpr double fused_tol = std::is_same_v<T, float> ? 3e-7 : 1e-15;

}  // namespace

TEST_SUITE("cuda_device") {
  // ---- flat-buffer operations -----------------------------------------------------------------

  TEST_CASE_TEMPLATE("soft_update, ema_update, l2_norm, clip_grad_norm and adamw_step match the host backends", T,
                     float, double) {
    dnft::cuda::executor ex;
    const long n = 5 * 8192 + 77;
    const auto th = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(n), 201));
    const auto g0 = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(n), 202, 0.1));
    const auto dth = ex.to_device(th);
    // soft update and EMA
    auto old_h = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(n), 203));
    auto old_d = ex.to_device(old_h);
    const double d = dnft::soft_update(dnft::host, old_h, th, dnft::decay_schedule::of_type(2), 200);
    CHECK(dnft::soft_update(ex, old_d, dth, dnft::decay_schedule::of_type(2), 200) == d);
    check_close(widen(ex.to_host(old_d)), widen(old_h), fused_tol<T>, fused_tol<T>);
    auto ema_d = ex.to_device(old_h);
    auto ema_h = old_h;
    CHECK(dnft::ema_update(ex, ema_d, dth, 3) == dnft::ema_update(dnft::host, ema_h, th, 3));
    check_close(widen(ex.to_host(ema_d)), widen(ema_h), fused_tol<T>, fused_tol<T>);
    // the norm: fixed chunks, so the same value for every launch configuration, run after run
    const auto dg = ex.to_device(g0);
    const double norm = dnft::l2_norm(ex, dg);
    CHECK(norm == doctest::Approx(dnft::l2_norm(dnft::host, g0)).epsilon(1e-13));
    CHECK(dnft::l2_norm(ex, dg) == norm);
    dnft::cuda::executor small = ex;
    small.set_launch_config({.blocks_per_sm = 1, .min_elements_per_block = 4, .max_blocks_per_sample = 1});
    CHECK(dnft::l2_norm(small, dg) == norm);
    // strided
    auto wide = ex.allocate<T>(2 * n);
    ex.copy(dg, dnft::make_view(wide.data(), {n}, {1}, dnft::device_space{}));
    const auto sv = dnft::make_view(static_cast<const T*>(wide.data()), {n / 2}, {2}, dnft::device_space{});
    std::vector<T> every_other(static_cast<std::size_t>(n / 2));
    for (long k = 0; k < n / 2; ++k) every_other[std::size_t(k)] = g0[std::size_t(2 * k)];
    CHECK(dnft::l2_norm(ex, sv) == doctest::Approx(dnft::l2_norm(dnft::host, every_other)).epsilon(1e-13));
    // clipping: the norm before, the gradient scaled by the same factor
    auto gc_h = g0;
    auto gc_d = ex.to_device(g0);
    const double nh = dnft::clip_grad_norm(dnft::host, gc_h, 0.5);
    const double nd = dnft::clip_grad_norm(ex, gc_d, 0.5);
    CHECK(nd == doctest::Approx(nh).epsilon(1e-13));
    // the factor max_norm / (norm + 1e-6) from norms equal to ~1e-15: rounded to float alike, or one ulp apart
    check_close(widen(ex.to_host(gc_d)), widen(gc_h), std::is_same_v<T, float> ? 1.2e-7 : 1e-12, 0.0);
    // three AdamW steps
    auto p_h = th, m_h = std::vector<T>(std::size_t(n), T(0)), v_h = m_h;
    auto p_d = ex.to_device(p_h), m_d = ex.to_device(m_h), v_d = ex.to_device(v_h);
    const dnft::adamw_options o{.lr = 1e-2, .weight_decay = 0.1};
    for (std::int64_t step = 1; step <= 3; ++step) {
      dnft::adamw_step(dnft::host, p_h, g0, m_h, v_h, step, o);
      dnft::adamw_step(ex, p_d, dg, m_d, v_d, step, o);
    }
    // fused multiply-adds and the device's sqrt / division (correctly rounded) against the host's
    check_close(widen(ex.to_host(m_d)), widen(m_h), 4 * fused_tol<T>, fused_tol<T>);
    check_close(widen(ex.to_host(v_d)), widen(v_h), 4 * fused_tol<T>, fused_tol<T>);
    check_close(widen(ex.to_host(p_d)), widen(p_h), 4 * fused_tol<T>, fused_tol<T>);
  }

  TEST_CASE("clip_grad_norm and adamw_step on the device: a non-finite gradient is refused, nothing changes") {
    dnft::cuda::executor ex;
    const long n = 3 * 8192;
    auto g = dnft_test::cast<float>(dnft_test::normal_data(std::size_t(n), 204));
    g[9001] = float(inf_v);
    g[20000] = float(nan_v);
    auto dg = ex.to_device(g);
    // the front door names the element; its value is only printed for memory the host can read
    CHECK(message_of<dnft::value_error>([&] { (void)dnft::clip_grad_norm(ex, dg, 1.0); }) ==
          "dnft::clip_grad_norm: grads: the gradient norm is not finite: non-finite value at element 9001");
    CHECK(message_of<dnft::value_error>([&] { (void)dnft::clip_grad_norm(dnft::host, g, 1.0); }) ==
          "dnft::clip_grad_norm: grads: the gradient norm is not finite: non-finite value inf at element 9001");
    const auto after = ex.to_host(dg);
    for (std::size_t k = 0; k < g.size(); ++k) CHECK(std::memcmp(&after[k], &g[k], sizeof(float)) == 0);
    auto p = ex.to_device(std::vector<float>(std::size_t(n), 1.0f)), m = ex.allocate<float>(n),
         v = ex.allocate<float>(n);
    CHECK(message_of<dnft::value_error>([&] { dnft::adamw_step(ex, p, dg, m, v, 1); }) ==
          "dnft::adamw_step: grads: non-finite value at element 9001; nothing was updated");
    CHECK(ex.to_host(p) == std::vector<float>(std::size_t(n), 1.0f));
    CHECK(dnft::l2_norm(ex, ex.allocate<double>(0)) == 0.0);
  }

  // ---- lincomb --------------------------------------------------------------------------------

  TEST_CASE_TEMPLATE("lincomb on the device matches the host backend; layouts agree bit for bit", T, float, double) {
    dnft::cuda::executor ex;
    const long B = 5, D = 4099;
    auto a = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 205));
    auto b = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 206));
    auto c = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 207));
    auto da = ex.to_device(a), db = ex.to_device(b), dc = ex.to_device(c), out = ex.allocate<T>(B * D);
    std::vector<T> h(a.size());
    dnft::lincomb(dnft::host, view2(h, B, D), {0.5, -1.25, 0.1}, view2(a, B, D), view2(b, B, D), view2(c, B, D));
    dnft::lincomb(ex, dview(out, B, D), {0.5, -1.25, 0.1}, dview(da, B, D), dview(db, B, D), dview(dc, B, D));
    const auto first = ex.to_host(out);
    check_close(widen(first), widen(h), 2 * fused_tol<T>, 2 * fused_tol<T>);
    // a misaligned start (scalar accesses) gives the same values
    auto shifted = ex.allocate<T>(B * D + 1), sa = ex.allocate<T>(B * D + 1), sb = ex.allocate<T>(B * D + 1),
         sc = ex.allocate<T>(B * D + 1);
    auto sv = [&](dnft::cuda::device_buffer<T>& x) {
      return dnft::make_view(x.data() + 1, {B, D}, dnft::device_space{});
    };
    ex.copy(da, sv(sa));
    ex.copy(db, sv(sb));
    ex.copy(dc, sv(sc));
    dnft::lincomb(ex, sv(shifted), {0.5, -1.25, 0.1}, sv(sa), sv(sb), sv(sc));
    const auto sh = ex.to_host(shifted);
    CHECK(std::vector<T>(sh.begin() + 1, sh.end()) == first);
    // in place (x += dt v, the Euler step) and a fill
    dnft::lincomb(dnft::host, view2(a, B, D), {1.0, -0.1}, view2(a, B, D), view2(b, B, D));
    dnft::lincomb(ex, dview(da, B, D), {1.0, -0.1}, dview(da, B, D), dview(db, B, D));
    check_close(widen(ex.to_host(da)), widen(a), 2 * fused_tol<T>, 2 * fused_tol<T>);
    dnft::lincomb(ex, out.view(), std::array<double, 0>{});
    CHECK(ex.to_host(out) == std::vector<T>(a.size(), T(0)));
  }

  // ---- sde_step and transition_log_prob -------------------------------------------------------

  TEST_CASE_TEMPLATE("sde_step and transition_log_prob on the device match the host backend", T, float, double) {
    dnft::cuda::executor ex;
    const long B = 6, D = 3001;
    const auto tr = dnft::flow_sde_transition(0.9, 0.8, 0.9, 0.7);
    const dnft::philox_normal gen{.seed = 208, .stream = dnft::stream_id(3, 4)};
    auto x = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 209));
    auto v = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 210));
    auto dx = ex.to_device(x), dv = ex.to_device(v), dxn = ex.allocate<T>(B * D);
    auto dlp = ex.allocate<double>(B);
    std::vector<T> xn(x.size());
    std::vector<double> lp(static_cast<std::size_t>(B));
    dnft::sde_step(dnft::host, tr, view2(x, B, D), view2(v, B, D), view2(xn, B, D), gen, lp);
    dnft::sde_step(ex, tr, dview(dx, B, D), dview(dv, B, D), dview(dxn, B, D), gen, dlp);
    auto gxn = ex.to_host(dxn);
    const auto glp = ex.to_host(dlp);
    // the device's normals differ by up to ~2e-6 (see test_execution.cu): x' by scale times that,
    // the log-probability (mean squared noise / 2) by about as much relative
    check_close(widen(gxn), widen(xn), fused_tol<T>, 0.0, tr.scale * 3e-6);
    check_close(glp, lp, 1e-5, 0.0, 1e-5);
    // the recomputation on the device gives the step's log-probabilities (to the compiler's
    // multiply-add contraction in the two kernels), and the host's on the same transition
    std::vector<double> lp2_h(static_cast<std::size_t>(B));
    auto dlp2 = ex.allocate<double>(B);
    auto dgrad = ex.allocate<T>(B * D);
    std::vector<T> hgrad(x.size());
    dnft::transition_log_prob(ex, tr, dview(dx, B, D), dview(dxn, B, D), dview(dv, B, D), dlp2, dview(dgrad, B, D));
    dnft::transition_log_prob(dnft::host, tr, view2(x, B, D), view2(gxn, B, D), view2(v, B, D), lp2_h,
                              view2(hgrad, B, D));
    const auto glp2 = ex.to_host(dlp2);
    check_close(glp2, glp, 1e-13, 0.0);
    check_close(glp2, lp2_h, 1e-12, 0.0);
    check_close(widen(ex.to_host(dgrad)), widen(hgrad), std::is_same_v<T, float> ? 2e-7 : 1e-12, 1e-12);
    // deterministic, and without log_prob the same x'
    auto dxn2 = ex.allocate<T>(B * D);
    dnft::sde_step(ex, tr, dview(dx, B, D), dview(dv, B, D), dview(dxn2, B, D), gen, dnft::none);
    CHECK(ex.to_host(dxn2) == gxn);
    // in place (x' over x)
    dnft::sde_step(ex, tr, dview(dx, B, D), dview(dv, B, D), dview(dx, B, D), gen, dnft::none);
    CHECK(ex.to_host(dx) == gxn);
  }

  TEST_CASE("sde_step and transition_log_prob on the device: a non-finite sample is reported") {
    dnft::cuda::executor ex;
    const long B = 4, D = 50;
    const dnft::gaussian_transition tr{.cx = 1.0, .cv = -0.1, .scale = 0.2};
    auto x = dnft_test::normal_data(std::size_t(B * D), 211);
    x[std::size_t(2 * D + 17)] = nan_v;
    auto dx = ex.to_device(x), dv = ex.to_device(dnft_test::normal_data(std::size_t(B * D), 212)),
         dxn = ex.allocate<double>(B * D);
    // device memory: the front door cannot read the values to name the element
    CHECK(message_of<dnft::value_error>([&] {
            dnft::sde_step(ex, tr, dview(dx, B, D), dview(dv, B, D), dview(dxn, B, D), dnft::philox_normal{1, 2},
                           dnft::none);
          }) ==
          "dnft::sde_step: the squared deviations of sample 2 did not sum to a finite value (non-finite input, or "
          "magnitudes above about 1e150)");
    auto lp = ex.allocate<float>(B);
    CHECK(message_of<dnft::value_error>([&] {
            dnft::transition_log_prob(ex, tr, dview(dx, B, D), dview(dv, B, D), dview(dv, B, D), lp, dnft::none);
          }) ==
          "dnft::transition_log_prob: the squared deviations of sample 2 did not sum to a finite value "
          "(non-finite input, or magnitudes above about 1e150)");
  }

  // ---- flow_grpo_loss -------------------------------------------------------------------------

  TEST_CASE_TEMPLATE("flow_grpo_loss on the device matches the host backend", T, float, double) {
    dnft::cuda::executor ex;
    const long B = 9, D = 2049;
    const dnft::gaussian_transition tr{.cx = 1.01, .cv = -0.2, .scale = 0.3, .std_dev = 0.45};
    const dnft::flow_grpo_options o{.clip_range = 0.05, .adv_clip_max = 2.0, .kl_weight = 0.3};
    const auto xr = dnft_test::normal_data(std::size_t(B * D), 213),
               vtr = dnft_test::normal_data(std::size_t(B * D), 214);
    auto xnr = dnft_test::normal_data(std::size_t(B * D), 215, tr.scale);
    for (std::size_t k = 0; k < xnr.size(); ++k) xnr[k] += tr.cx * xr[k] + tr.cv * vtr[k];
    auto x = dnft_test::cast<T>(xr), xn = dnft_test::cast<T>(xnr), vt = dnft_test::cast<T>(vtr),
         vr = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 216));
    std::vector<double> lps(static_cast<std::size_t>(B));
    dnft::transition_log_prob(dnft::host, tr, view2(x, B, D), view2(xn, B, D), view2(vt, B, D), lps, dnft::none);
    const auto shift = dnft_test::normal_data(std::size_t(B), 217, 0.1);
    for (long i = 0; i < B; ++i) lps[std::size_t(i)] -= shift[std::size_t(i)];
    const auto adv = dnft_test::normal_data(std::size_t(B), 218, 2.0);
    auto dx = ex.to_device(x), dxn = ex.to_device(xn), dvt = ex.to_device(vt), dvr = ex.to_device(vr),
         dg = ex.allocate<T>(B * D);
    const auto dlps = ex.to_device(lps);
    const auto dadv = ex.to_device(dnft_test::cast<float>(adv));  // advantages as float: any storage type
    const auto adv_f = dnft_test::rounded<float>(adv);
    for (bool with_ref : {true, false}) {
      CAPTURE(with_ref);
      std::vector<T> hg(x.size());
      const auto h = with_ref ? dnft::flow_grpo_loss(dnft::host, tr, view2(x, B, D), view2(xn, B, D), view2(vt, B, D),
                                                     view2(vr, B, D), lps, adv_f, view2(hg, B, D), o)
                              : dnft::flow_grpo_loss(dnft::host, tr, view2(x, B, D), view2(xn, B, D), view2(vt, B, D),
                                                     dnft::none, lps, adv_f, view2(hg, B, D), o);
      const auto g = with_ref ? dnft::flow_grpo_loss(ex, tr, dview(dx, B, D), dview(dxn, B, D), dview(dvt, B, D),
                                                     dview(dvr, B, D), dlps, dadv, dview(dg, B, D), o)
                              : dnft::flow_grpo_loss(ex, tr, dview(dx, B, D), dview(dxn, B, D), dview(dvt, B, D),
                                                     dnft::none, dlps, dadv, dview(dg, B, D), o);
      CHECK(h.clip_fraction > 0.0);
      CHECK(h.clip_fraction < 1.0);
      const double tol = 1e-11;  // double sums in another order (and fused multiply-adds)
      CHECK(g.loss == doctest::Approx(h.loss).epsilon(tol));
      CHECK(g.policy_loss == doctest::Approx(h.policy_loss).epsilon(tol));
      CHECK(g.kl == doctest::Approx(h.kl).epsilon(tol));
      CHECK(g.mean_ratio == doctest::Approx(h.mean_ratio).epsilon(tol));
      CHECK(g.clip_fraction == h.clip_fraction);
      CHECK(g.mean_log_prob == doctest::Approx(h.mean_log_prob).epsilon(tol));
      CHECK(g.approx_kl_sample == doctest::Approx(h.approx_kl_sample).epsilon(1e-9));
      CHECK(g.batch == B);
      CHECK(g.elements == D);
      check_close(widen(ex.to_host(dg)), widen(hg), std::is_same_v<T, float> ? 3e-7 : 1e-11, 1e-11);
    }
  }

  TEST_CASE("flow_grpo_loss on the device: bad values give the host backend's errors") {
    dnft::cuda::executor ex;
    const long B = 5, D = 21;
    const dnft::gaussian_transition tr{.cx = 1.0, .cv = -0.1, .scale = 0.2, .std_dev = 0.3};
    struct poison {
      const char* what;
      void (*apply)(std::vector<double>& xn, std::vector<double>& vr, std::vector<double>& lps,
                    std::vector<double>& adv);
    };
    const poison cases[] = {
        {"log_prob_sample NaN", [](auto&, auto&, auto& l, auto&) { l[3] = nan_v; }},
        {"adv inf", [](auto&, auto&, auto&, auto& a) { a[1] = inf_v; }},
        {"x_next NaN", [](auto& xn, auto&, auto&, auto&) { xn[4 * 21 + 20] = nan_v; }},
        {"v_ref -inf", [](auto&, auto& vr, auto&, auto&) { vr[2 * 21 + 3] = -inf_v; }},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      auto x = dnft_test::normal_data(std::size_t(B * D), 219), xn = dnft_test::normal_data(std::size_t(B * D), 220),
           vt = dnft_test::normal_data(std::size_t(B * D), 221), vr = dnft_test::normal_data(std::size_t(B * D), 222);
      std::vector<double> lps(std::size_t(B), -1.0), adv(std::size_t(B), 0.5), g(x.size());
      c.apply(xn, vr, lps, adv);
      const std::string host_msg = message_of<dnft::value_error>([&] {
        (void)dnft::flow_grpo_loss(dnft::host, tr, view2(x, B, D), view2(xn, B, D), view2(vt, B, D), view2(vr, B, D),
                                   lps, adv, view2(g, B, D));
      });
      auto dx = ex.to_device(x), dxn = ex.to_device(xn), dvt = ex.to_device(vt), dvr = ex.to_device(vr),
           dg = ex.allocate<double>(B * D);
      const auto dl = ex.to_device(lps), da = ex.to_device(adv);
      const std::string dev_msg = message_of<dnft::value_error>([&] {
        (void)dnft::flow_grpo_loss(ex, tr, dview(dx, B, D), dview(dxn, B, D), dview(dvt, B, D), dview(dvr, B, D), dl,
                                   da, dview(dg, B, D));
      });
      CHECK(dev_msg == host_msg);
      CHECK(dev_msg.rfind("dnft::flow_grpo_loss: ", 0) == 0);
    }
  }
}
