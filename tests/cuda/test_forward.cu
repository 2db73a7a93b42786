// SPDX-License-Identifier: Apache-2.0
// forward_noise, fill_normal, fill_times, flow_matching_loss and group_advantages on
// dnft::cuda::executor against the host backends on identical inputs, with stated tolerances;
// layouts, Philox noise in the kernel, half and bfloat16 storage, and bad input (the host
// backends' messages).
#include <doctest/doctest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kernel_support.cuh"

using namespace dnft_cuda_test;

namespace {

//! Column-major copy of a row-major (B, D) array.
std::vector<double> transpose(const std::vector<double>& a, long B, long D) {
  std::vector<double> r(a.size());
  for (long i = 0; i < B; ++i)
    for (long k = 0; k < D; ++k) r[std::size_t(k * B + i)] = a[std::size_t(i * D + k)];
  return r;
}

//! A (B, D) column-major device view (sample stride 1, element stride B).
template <class T>
auto colmajor(dnft::cuda::device_buffer<T>& b, long B, long D) {
  return dnft::make_view(b.data(), {B, D}, {1, B}, dnft::device_space{});
}

// Tolerances of device against host on identical inputs where the device may fuse a multiply and
// an add (x_t = (1 - t) x0 + t eps): an ulp of the larger term, relative to the largest value.
template <class T>
constexpr double noising_tol = std::is_same_v<T, float> ? 2e-7 : 1e-15;

// The device's Philox normals differ from the host's by up to ~2e-6 absolute (sincospif / logf
// against the host libm; see test_execution.cu): anything computed from them by that much.
constexpr double philox_abs = 5e-6;

}  // namespace

TEST_SUITE("cuda_device") {
  // ---- forward_noise --------------------------------------------------------------------------

  TEST_CASE_TEMPLATE("forward_noise on the device matches the host backend (stored and Philox noise)", T, float,
                     double) {
    dnft::cuda::executor ex;
    for (long D : {1036L, 70001L}) {
      const long B = D > 10000 ? 3 : 9;
      CAPTURE(D);
      const auto x0 = dnft_test::normal_data(std::size_t(B * D), 101),
                 eps = dnft_test::normal_data(std::size_t(B * D), 102);
      const auto t = times(B, 103);
      const dnft::philox_normal gen{.seed = 104, .stream = dnft::stream_id(1, 2)};
      auto hx0 = to_storage<T>(x0), heps = to_storage<T>(eps);
      auto dx0 = ex.to_device(hx0), deps = ex.to_device(heps);
      const auto dt = ex.to_device(t);
      auto dxt = ex.allocate<T>(B * D), deo = ex.allocate<T>(B * D), duo = ex.allocate<T>(B * D);
      for (bool philox : {false, true}) {
        CAPTURE(philox);
        std::vector<T> hxt(hx0.size()), heo(hx0.size()), huo(hx0.size());
        if (philox) {
          dnft::forward_noise(dnft::host, view2(hx0, B, D), gen, t, view2(hxt, B, D), view2(heo, B, D),
                              view2(huo, B, D));
          dnft::forward_noise(ex, dview(dx0, B, D), gen, dt, dview(dxt, B, D), dview(deo, B, D), dview(duo, B, D));
        } else {
          dnft::forward_noise(dnft::host, view2(hx0, B, D), view2(heps, B, D), t, view2(hxt, B, D), view2(heo, B, D),
                              view2(huo, B, D));
          dnft::forward_noise(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dxt, B, D), dview(deo, B, D),
                              dview(duo, B, D));
        }
        const auto gxt = widen(ex.to_host(dxt)), geo = widen(ex.to_host(deo)), guo = widen(ex.to_host(duo));
        if (philox) {
          check_close(gxt, widen(hxt), 4e-6, 0.0, philox_abs);
          check_close(geo, widen(heo), 4e-6, 0.0, philox_abs);
          check_close(guo, widen(huo), 4e-6, 0.0, philox_abs);
        } else {
          check_close(gxt, widen(hxt), noising_tol<T>, noising_tol<T>);
          CHECK(geo == widen(heo));  // eps copied
          CHECK(guo == widen(huo));  // eps - x0: one rounding on both
        }
      }
    }
  }

  TEST_CASE_TEMPLATE("forward_noise: Philox in the kernel equals fill_normal's stored noise; layouts agree bit for bit",
                     T, float, __nv_bfloat16) {
    dnft::cuda::executor ex;
    const long B = 6, D = 1030;
    const auto x0 = dnft_test::normal_data(std::size_t(B * D), 105);
    const auto t = ex.to_device(dnft_test::cast<float>(times(B, 106)));
    const dnft::philox_normal gen{.seed = 107, .stream = 3};
    auto dx0 = ex.to_device(to_storage<T>(x0)), eps = ex.allocate<T>(B * D), a = ex.allocate<T>(B * D),
         b = ex.allocate<T>(B * D), eo = ex.allocate<T>(B * D);
    dnft::cuda::fill_normal(ex, gen, dview(eps, B, D));
    dnft::forward_noise(ex, dview(dx0, B, D), dview(eps, B, D), t, dview(a, B, D));
    dnft::forward_noise(ex, dview(dx0, B, D), gen, t, dview(b, B, D), dview(eo, B, D), dnft::none);
    const auto ha = widen(ex.to_host(a));
    CHECK(widen(ex.to_host(b)) == ha);
    CHECK(widen(ex.to_host(eo)) == widen(ex.to_host(eps)));
    // column-major: strided scalar accesses; the same values
    auto cx0 = ex.to_device(to_storage<T>(transpose(x0, B, D))), cxt = ex.allocate<T>(B * D);
    dnft::forward_noise(ex, colmajor(cx0, B, D), gen, t, colmajor(cxt, B, D));
    const auto hc = widen(ex.to_host(cxt));
    CHECK(hc == transpose(ha, B, D));
    // in place: x_t over x0
    dnft::forward_noise(ex, dview(dx0, B, D), gen, t, dview(dx0, B, D));
    CHECK(widen(ex.to_host(dx0)) == ha);
  }

  TEST_CASE_TEMPLATE("forward_noise with half and bfloat16 storage matches double on the rounded values", T,
                     __nv_bfloat16, __half) {
    dnft::cuda::executor ex;
    const long B = 5, D = 1003;
    auto x0 = widen(to_storage<T>(dnft_test::normal_data(std::size_t(B * D), 108)));
    auto eps = widen(to_storage<T>(dnft_test::normal_data(std::size_t(B * D), 109)));
    const auto t = dnft_test::rounded<float>(times(B, 110));
    auto dx0 = ex.to_device(to_storage<T>(x0)), deps = ex.to_device(to_storage<T>(eps)), dxt = ex.allocate<T>(B * D),
         duo = ex.allocate<T>(B * D);
    const auto dt = ex.to_device(dnft_test::cast<float>(t));
    dnft::forward_noise(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dxt, B, D), dnft::none, dview(duo, B, D));
    std::vector<double> xt(x0.size()), uo(x0.size());
    dnft::forward_noise(dnft::host, view2(x0, B, D), view2(eps, B, D), t, view2(xt, B, D), dnft::none, view2(uo, B, D));
    const double rel = std::is_same_v<T, __nv_bfloat16> ? 0x1p-8 : 0x1p-10;  // float arithmetic, one rounding to T
    check_close(widen(ex.to_host(dxt)), xt, rel, 0.0, underflow_error<T> + 1e-7);
    check_close(widen(ex.to_host(duo)), uo, rel, 0.0, underflow_error<T> + 1e-7);
  }

  TEST_CASE("forward_noise on the device: bad t, x0 and noise give the host backend's errors") {
    dnft::cuda::executor ex;
    const long B = 5, D = 41;
    struct poison {
      const char* what;
      void (*apply)(std::vector<double>& x0, std::vector<double>& eps, std::vector<double>& t);
    };
    const poison cases[] = {
        {"t above 1", [](auto&, auto&, auto& t) { t[2] = 1.5; }},
        {"t NaN", [](auto&, auto&, auto& t) { t[3] = nan_v; }},
        {"x0 inf", [](auto& x0, auto&, auto&) { x0[3 * 41 + 9] = inf_v; }},
        {"noise NaN", [](auto&, auto& eps, auto&) { eps[4 * 41 + 40] = nan_v; }},
        {"x0 and noise",
         [](auto& x0, auto& eps, auto&) {
           x0[1 * 41 + 2] = -inf_v;
           eps[1 * 41 + 1] = nan_v;
         }},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      auto x0 = dnft_test::normal_data(std::size_t(B * D), 111), eps = dnft_test::normal_data(std::size_t(B * D), 112);
      auto t = times(B, 113);
      c.apply(x0, eps, t);
      auto hx0 = to_storage<float>(x0), heps = to_storage<float>(eps);
      std::vector<float> hxt(hx0.size());
      const std::string host_msg = message_of<dnft::value_error>(
          [&] { dnft::forward_noise(dnft::host, view2(hx0, B, D), view2(heps, B, D), t, view2(hxt, B, D)); });
      auto dx0 = ex.to_device(hx0), deps = ex.to_device(heps), dxt = ex.allocate<float>(B * D);
      const auto dt = ex.to_device(t);
      const std::string dev_msg = message_of<dnft::value_error>(
          [&] { dnft::forward_noise(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dxt, B, D)); });
      CHECK(dev_msg == host_msg);
      CHECK(dev_msg.rfind("dnft::forward_noise: ", 0) == 0);
    }
    // spelled out, so the test does not rest on the host alone
    auto x0 = to_storage<float>(dnft_test::normal_data(std::size_t(B * D), 114));
    x0[std::size_t(2 * D + 5)] = std::numeric_limits<float>::quiet_NaN();
    auto dx0 = ex.to_device(x0), dxt = ex.allocate<float>(B * D);
    const auto dt = ex.to_device(times(B, 115));
    CHECK(message_of<dnft::value_error>([&] {
            dnft::forward_noise(ex, dview(dx0, B, D), dnft::philox_normal{1, 2}, dt, dview(dxt, B, D));
          }) == "dnft::forward_noise: x0: non-finite value nan at sample 2, element 5");
  }

  // ---- fill_normal and fill_times ---------------------------------------------------------------

  TEST_CASE_TEMPLATE("fill_normal's CUDA backend (dnft::fill_normal) writes dnft::cuda::fill_normal's values", T, float,
                     double) {
    dnft::cuda::executor ex;
    const long B = 4, D = 777;
    const dnft::philox_normal gen{.seed = 116, .stream = 5};
    auto a = ex.allocate<T>(B * D), b = ex.allocate<T>(B * D);
    dnft::fill_normal(ex, dview(a, B, D), gen);
    dnft::cuda::fill_normal(ex, gen, dview(b, B, D));
    CHECK(ex.to_host(a) == ex.to_host(b));
    auto empty = ex.allocate<T>(0);
    CHECK(message_of<dnft::shape_error>([&] { dnft::fill_normal(ex, empty.view(0, 3), gen); }) ==
          "dnft::fill_normal: out: expected a non-empty batch, got 0 samples");
  }

  TEST_CASE_TEMPLATE("fill_times on the device: uniform times bit for bit, logit-normal to the device's libm", T, float,
                     double) {
    dnft::cuda::executor ex;
    const long n = 1000;
    for (auto dist : {dnft::time_distribution::uniform, dnft::time_distribution::logit_normal}) {
      CAPTURE(int(dist));
      const dnft::time_sampler s{.distribution = dist, .logit_mean = 0.2, .logit_std = 1.3, .seed = 117, .stream = 6};
      auto d = ex.allocate<T>(2 * n);
      dnft::fill_times(ex, dnft::make_view(d.data(), {n}, {2}, dnft::device_space{}), s, 500);
      std::vector<T> h(static_cast<std::size_t>(n));
      dnft::fill_times(dnft::host, h, s, 500);
      const auto g = ex.to_host(d);
      std::vector<double> got(static_cast<std::size_t>(n));
      for (long k = 0; k < n; ++k) got[std::size_t(k)] = double(g[std::size_t(2 * k)]);
      if (dist == dnft::time_distribution::uniform) {
        CHECK(got == widen(h));
      } else {
        // log, cos, sqrt and exp of the device (correctly rounded to within 2 ulps) against glibc's;
        // float storage may then round to the neighbouring float
        check_close(got, widen(h), std::is_same_v<T, float> ? 1.2e-7 : 1e-14, 0.0);
      }
    }
  }

  // ---- flow_matching_loss ---------------------------------------------------------------------

  TEST_CASE_TEMPLATE("flow_matching_loss on the device matches the host backend for every weighting", T, float,
                     double) {
    dnft::cuda::executor ex;
    const long B = 7, D = 1037;
    const auto x0 = dnft_test::normal_data(std::size_t(B * D), 118),
               eps = dnft_test::normal_data(std::size_t(B * D), 119);
    auto v = dnft_test::normal_data(std::size_t(B * D), 120, 0.3);
    for (std::size_t k = 0; k < v.size(); ++k) v[k] += eps[k] - x0[k];
    auto t = times(B, 121);
    t[0] = 0.125;  // sigma_sqrt needs t > 0
    auto hx0 = to_storage<T>(x0), heps = to_storage<T>(eps), hv = to_storage<T>(v);
    auto dx0 = ex.to_device(hx0), deps = ex.to_device(heps), dv = ex.to_device(hv), dg = ex.allocate<T>(B * D);
    const auto dt = ex.to_device(t);
    const dnft::philox_normal gen{.seed = 122, .stream = 7};
    for (auto w : {dnft::time_weighting::uniform, dnft::time_weighting::time, dnft::time_weighting::one_minus_time,
                   dnft::time_weighting::cosmap, dnft::time_weighting::sigma_sqrt})
      for (bool philox : {false, true}) {
        CAPTURE(int(w));
        CAPTURE(philox);
        const dnft::flow_matching_options o{w};
        std::vector<T> hg(hx0.size());
        dnft::flow_matching_stats h, g;
        if (philox) {
          h = dnft::flow_matching_loss(dnft::host, view2(hx0, B, D), gen, t, view2(hv, B, D), view2(hg, B, D), o);
          g = dnft::flow_matching_loss(ex, dview(dx0, B, D), gen, dt, dview(dv, B, D), dview(dg, B, D), o);
        } else {
          h = dnft::flow_matching_loss(dnft::host, view2(hx0, B, D), view2(heps, B, D), t, view2(hv, B, D),
                                       view2(hg, B, D), o);
          g = dnft::flow_matching_loss(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dv, B, D), dview(dg, B, D),
                                       o);
        }
        const auto gg = widen(ex.to_host(dg));
        // cosmap's weight 2 / (pi (1 - 2 t + 2 t^2)) may be computed with fused multiply-adds on the
        // device: an ulp or so; the other weights (and so the gradient coefficients) are exact
        const bool exact_weight = w != dnft::time_weighting::cosmap;
        if (exact_weight)
          CHECK(g.mean_weight == h.mean_weight);
        else
          CHECK(g.mean_weight == doctest::Approx(h.mean_weight).epsilon(1e-15));
        CHECK(g.batch == B);
        CHECK(g.elements == D);
        if (philox) {  // the normals differ by float ulps: the squared errors by ~1e-6 relative
          CHECK(g.loss == doctest::Approx(h.loss).epsilon(1e-4));
          CHECK(g.mse == doctest::Approx(h.mse).epsilon(1e-4));
          check_close(gg, widen(hg), 1e-4, 1e-4);
        } else {  // the same double terms summed in another order; the gradient's operations are the host's
          CHECK(g.loss == doctest::Approx(h.loss).epsilon(1e-12));
          CHECK(g.mse == doctest::Approx(h.mse).epsilon(1e-12));
          if (exact_weight)
            CHECK(gg == widen(hg));
          else
            check_close(gg, widen(hg), 2 * noising_tol<T>, 0.0);
        }
      }
    // without a gradient: the same statistics; deterministic
    const auto a = dnft::flow_matching_loss(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dv, B, D), dnft::none);
    const auto b =
        dnft::flow_matching_loss(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dv, B, D), dview(dg, B, D));
    CHECK(a.loss == b.loss);
    CHECK(a.mse == b.mse);
    // the gradient over v itself
    const auto gv = widen(ex.to_host(dg));
    dnft::flow_matching_loss(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dv, B, D), dview(dv, B, D));
    CHECK(widen(ex.to_host(dv)) == gv);
  }

  TEST_CASE_TEMPLATE("flow_matching_loss with half and bfloat16 storage matches double on the rounded values", T,
                     __nv_bfloat16, __half) {
    dnft::cuda::executor ex;
    const long B = 6, D = 1001;
    auto x0 = widen(to_storage<T>(dnft_test::normal_data(std::size_t(B * D), 123)));
    auto eps = widen(to_storage<T>(dnft_test::normal_data(std::size_t(B * D), 124)));
    auto vr = dnft_test::normal_data(std::size_t(B * D), 125, 0.3);
    for (std::size_t k = 0; k < vr.size(); ++k) vr[k] += eps[k] - x0[k];
    auto v = widen(to_storage<T>(vr));
    const auto t = dnft_test::rounded<float>(times(B, 126));
    auto dx0 = ex.to_device(to_storage<T>(x0)), deps = ex.to_device(to_storage<T>(eps)),
         dv = ex.to_device(to_storage<T>(v)), dg = ex.allocate<T>(B * D);
    const auto dt = ex.to_device(dnft_test::cast<float>(t));
    std::vector<double> g(x0.size());
    const auto h = dnft::flow_matching_loss(dnft::host, view2(x0, B, D), view2(eps, B, D), t, view2(v, B, D),
                                            view2(g, B, D), dnft::flow_matching_options{dnft::time_weighting::cosmap});
    const auto d = dnft::flow_matching_loss(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dv, B, D),
                                            dview(dg, B, D), dnft::flow_matching_options{dnft::time_weighting::cosmap});
    CHECK(d.loss == doctest::Approx(h.loss).epsilon(1e-12));  // elements widened exactly, sums in double
    CHECK(d.mse == doctest::Approx(h.mse).epsilon(1e-12));
    check_close(widen(ex.to_host(dg)), g, std::is_same_v<T, __nv_bfloat16> ? 0x1p-8 : 0x1p-10, 1e-6,
                underflow_error<T>);
  }

  TEST_CASE("flow_matching_loss on the device: bad t and elements give the host backend's errors") {
    dnft::cuda::executor ex;
    const long B = 5, D = 33;
    struct poison {
      const char* what;
      dnft::time_weighting w;
      void (*apply)(std::vector<double>& x0, std::vector<double>& eps, std::vector<double>& v, std::vector<double>& t);
    };
    const poison cases[] = {
        {"t below 0", dnft::time_weighting::uniform, [](auto&, auto&, auto&, auto& t) { t[3] = -0.5; }},
        {"t = 0 with sigma_sqrt", dnft::time_weighting::sigma_sqrt, [](auto&, auto&, auto&, auto& t) { t[2] = 0.0; }},
        {"x0 NaN", dnft::time_weighting::uniform, [](auto& x0, auto&, auto&, auto&) { x0[2 * 33 + 4] = nan_v; }},
        {"noise inf", dnft::time_weighting::time, [](auto&, auto& e, auto&, auto&) { e[4 * 33 + 32] = inf_v; }},
        {"v NaN", dnft::time_weighting::cosmap, [](auto&, auto&, auto& v, auto&) { v[1 * 33] = nan_v; }},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      auto x0 = dnft_test::normal_data(std::size_t(B * D), 127), eps = dnft_test::normal_data(std::size_t(B * D), 128),
           v = dnft_test::normal_data(std::size_t(B * D), 129);
      auto t = dnft_test::uniform_data(std::size_t(B), 130, 0.1, 0.9);
      c.apply(x0, eps, v, t);
      std::vector<double> g(x0.size());
      const dnft::flow_matching_options o{c.w};
      const std::string host_msg = message_of<dnft::value_error>([&] {
        dnft::flow_matching_loss(dnft::host, view2(x0, B, D), view2(eps, B, D), t, view2(v, B, D), view2(g, B, D), o);
      });
      auto dx0 = ex.to_device(x0), deps = ex.to_device(eps), dv = ex.to_device(v), dg = ex.allocate<double>(B * D);
      const auto dt = ex.to_device(t);
      const std::string dev_msg = message_of<dnft::value_error>([&] {
        dnft::flow_matching_loss(ex, dview(dx0, B, D), dview(deps, B, D), dt, dview(dv, B, D), dview(dg, B, D), o);
      });
      CHECK(dev_msg == host_msg);
      CHECK(dev_msg.rfind("dnft::flow_matching_loss: ", 0) == 0);
    }
    // overflow without a non-finite input
    auto x0 = dnft_test::normal_data(std::size_t(B * D), 131);
    for (long k = 0; k < D; ++k) x0[std::size_t(3 * D + k)] = 1e200;
    auto dx0 = ex.to_device(x0), dv = ex.to_device(dnft_test::normal_data(std::size_t(B * D), 132));
    const auto dt = ex.to_device(dnft_test::uniform_data(std::size_t(B), 133, 0.1, 0.9));
    CHECK(message_of<dnft::value_error>([&] {
            dnft::flow_matching_loss(ex, dview(dx0, B, D), dnft::philox_normal{1, 1}, dt, dview(dv, B, D), dnft::none);
          }) ==
          "dnft::flow_matching_loss: the squared error of sample 3 overflowed (inputs of magnitude above about "
          "1e150); rescale the inputs");
  }

  // ---- group_advantages -----------------------------------------------------------------------

  TEST_CASE("group_advantages on the device equals the host backend bit for bit (any id order, any group sizes)") {
    dnft::cuda::executor ex;
    // 48 prompts x 24 samples, shuffled; ids far apart and negative
    const long G = 48, K = 24, B = G * K;
    std::vector<std::int64_t> ids(static_cast<std::size_t>(B));
    for (long i = 0; i < B; ++i) ids[std::size_t(i)] = (i / K) * 1000003 - 20000000;
    std::mt19937_64 rng(134);
    std::shuffle(ids.begin(), ids.end(), rng);
    auto rewards = dnft_test::normal_data(std::size_t(B), 135, 3.0, 1.0);
    for (long i = 0; i < B; ++i)  // one group with all rewards equal
      if (ids[std::size_t(i)] == 5 * 1000003 - 20000000) rewards[std::size_t(i)] = 0.5;
    const auto dr = ex.to_device(rewards);
    const auto di = ex.to_device(ids);
    for (bool global : {true, false}) {
      CAPTURE(global);
      const dnft::group_advantage_options opt{global, 1e-4};
      std::vector<double> h(static_cast<std::size_t>(B));
      const auto hs = dnft::group_advantages(dnft::host, rewards, ids, h, opt);
      auto d = ex.allocate<double>(B);
      const auto ds = dnft::group_advantages(ex, dr, di, d, opt);
      CHECK(ex.to_host(d) == h);
      CHECK(ds.reward_mean == hs.reward_mean);
      CHECK(ds.reward_std == hs.reward_std);
      CHECK(ds.groups == G);
      CHECK(ds.min_group_size == K);
      CHECK(ds.max_group_size == K);
      CHECK(ds.zero_std_fraction == hs.zero_std_fraction);
      CHECK(ds.zero_std_fraction == doctest::Approx(1.0 / double(G)));
    }
    // float rewards and advantages, int ids of different group sizes, a strided output
    const std::vector<int> small_ids{4, 1, 4, 9, 1, 4, 9, 1, 1, 4};
    const auto fr = dnft_test::cast<float>(dnft_test::normal_data(small_ids.size(), 136));
    std::vector<float> hf(small_ids.size());
    const auto hs = dnft::group_advantages(dnft::host, fr, small_ids, hf);
    const auto dfr = ex.to_device(fr);
    const auto dsi = ex.to_device(small_ids);
    auto df = ex.allocate<float>(2 * long(small_ids.size()));
    const auto ds = dnft::group_advantages(
        ex, dfr, dsi, dnft::make_view(df.data(), {long(small_ids.size())}, {2}, dnft::device_space{}));
    const auto back = ex.to_host(df);
    for (std::size_t i = 0; i < hf.size(); ++i) CHECK(back[2 * i] == hf[i]);
    CHECK(ds.groups == 3);
    CHECK(ds.min_group_size == hs.min_group_size);
    CHECK(ds.max_group_size == hs.max_group_size);
    // the advantages written over the rewards
    auto over = ex.to_device(rewards);
    std::vector<double> h(rewards.size());
    (void)dnft::group_advantages(dnft::host, rewards, ids, h);
    (void)dnft::group_advantages(ex, over, di, over);
    CHECK(ex.to_host(over) == h);
  }

  TEST_CASE("group_advantages on the device: bad input gives the host backend's errors and leaves out unchanged") {
    dnft::cuda::executor ex;
    const std::vector<std::int64_t> ids{3, 1, 3, 2, 1, 2, 2};
    std::vector<double> rewards{1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0};
    const long B = long(ids.size());
    auto both = [&](const std::vector<std::int64_t>& id, const std::vector<double>& r,
                    const dnft::group_advantage_options& opt) {
      std::vector<double> h(r.size());
      const std::string host_msg =
          message_of<dnft::value_error>([&] { (void)dnft::group_advantages(dnft::host, r, id, h, opt); });
      const auto dr = ex.to_device(r);
      const auto di = ex.to_device(id);
      auto out = ex.to_device(std::vector<double>(r.size(), -3.0));
      const std::string dev_msg =
          message_of<dnft::value_error>([&] { (void)dnft::group_advantages(ex, dr, di, out, opt); });
      CHECK(dev_msg == host_msg);
      CHECK(ex.to_host(out) == std::vector<double>(r.size(), -3.0));
      return dev_msg;
    };
    rewards[5] = inf_v;
    CHECK(both(ids, rewards, {}) == "dnft::group_advantages: rewards: non-finite value inf at sample 5");
    rewards[5] = 6.0;
    auto single = ids;
    single[6] = 8;  // group 8: one member
    CHECK(both(single, rewards, {false, 1e-4}) ==
          "dnft::group_advantages: group_ids: group 8 has a single member (sample 6); the per-group std needs at least "
          "2 members: use global_std = true or larger groups");
    const std::vector<double> equal(static_cast<std::size_t>(B), 2.5);
    CHECK(both(ids, equal, {false, 0.0}) ==
          "dnft::group_advantages: eps: the rewards of group 1 are all equal and eps is 0: the advantages would be 0 / "
          "0; use eps > 0");
  }
}
