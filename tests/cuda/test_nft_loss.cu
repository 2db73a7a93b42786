// SPDX-License-Identifier: Apache-2.0
// nft_loss on dnft::cuda::executor (float, double) against the host backend and the naive double
// reference on identical inputs; layouts, launch configurations, determinism and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nft_support.cuh"

using namespace dnft_cuda_test;

namespace {

struct result {
  dnft::nft_stats st;
  std::vector<double> grad;
};

template <class T>
result run_host(const problem& p, const dnft::nft_options& o, bool with_ref) {
  auto x0 = to_storage<T>(p.x0), eps = to_storage<T>(p.eps), vth = to_storage<T>(p.vth), vold = to_storage<T>(p.vold),
       vref = to_storage<T>(p.vref);
  std::vector<T> g(x0.size());
  auto v = [&](std::vector<T>& a) { return dnft::make_view(a.data(), {p.B, p.D}); };
  const dnft::nft_stats st =
      with_ref ? dnft::nft_loss(dnft::host, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref), v(g), o)
               : dnft::nft_loss(dnft::host, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), dnft::none, v(g), o);
  return {st, widen(g)};
}

template <class T>
result run_device(const dnft::cuda::executor& ex, device_problem<T>& d, const dnft::nft_options& o, bool with_ref) {
  const dnft::nft_stats st =
      with_ref ? dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref),
                                d.v(d.grad), o)
               : dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), dnft::none,
                                d.v(d.grad), o);
  return {st, widen(ex.to_host(d.grad))};
}

// Tolerances, device against host on identical T inputs. float: the device computes the branch
// residuals in float (the host in double) and sums in double; both round the gradient to float
// with possibly different FMA contraction. double: only the summation order differs.
template <class T>
constexpr double stats_tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
template <class T>
constexpr double grad_tol = std::is_same_v<T, float> ? 1e-5 : 1e-11;

}  // namespace

TEST_SUITE("cuda_device") {
  TEST_CASE_TEMPLATE("nft_loss on the device matches the host backend for every option", T, float, double) {
    dnft::cuda::executor ex;
    const problem p(13, 37, 11);
    device_problem<T> d(ex, p);
    for (const auto& o : all_options()) {
      for (bool with_ref : {true, false}) {
        CAPTURE(describe(o));
        CAPTURE(with_ref);
        const result h = run_host<T>(p, o, with_ref);
        const result g = run_device<T>(ex, d, o, with_ref);
        check_stats(g.st, h.st, stats_tol<T>);
        check_close(g.grad, h.grad, grad_tol<T>, grad_tol<T>);
        if constexpr (std::is_same_v<T, double>) {  // and the naive reference of ALGORITHM.md, independently
          const auto ref = dnft_test::nft_reference(int(p.B), int(p.D), p.x0, p.eps, p.t, p.adv, p.vth, p.vold,
                                                    with_ref ? &p.vref : nullptr, o);
          CHECK(g.st.loss == doctest::Approx(ref.loss).epsilon(1e-12));
          CHECK(g.st.policy_loss == doctest::Approx(ref.policy_loss).epsilon(1e-12));
          CHECK(g.st.kl == doctest::Approx(ref.kl).epsilon(1e-12));
          CHECK(g.st.mean_r == doctest::Approx(ref.mean_r).epsilon(1e-12));
        }
      }
    }
  }

  TEST_CASE("nft_loss on the device without a gradient output returns the same statistics") {
    dnft::cuda::executor ex;
    const problem p(7, 129, 12);
    device_problem<float> d(ex, p);
    const auto with_grad =
        dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), dnft::none, d.v(d.grad));
    const auto without =
        dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), dnft::none, dnft::none);
    check_identical(without, with_grad);
  }

  TEST_CASE("nft_loss on the device: many blocks per sample, odd sizes, other launch configurations") {
    dnft::cuda::executor ex;
    const problem p(3, 70001, 13);  // D odd: a partial group at the end of each sample
    device_problem<float> d(ex, p);
    const dnft::nft_options o;
    const result h = run_host<float>(p, o, true);
    const result g = run_device<float>(ex, d, o, true);
    check_stats(g.st, h.st, 1e-5);
    check_close(g.grad, h.grad, 1e-5, 1e-5);
    dnft::cuda::executor small = ex;
    small.set_launch_config({.blocks_per_sm = 1, .min_elements_per_block = 4, .max_blocks_per_sample = 7});
    const result s = run_device<float>(small, d, o, true);
    check_stats(s.st, h.st, 1e-5);
    check_close(s.grad, h.grad, 1e-5, 1e-5);
    dnft::cuda::executor one_block = ex;
    one_block.set_launch_config({.blocks_per_sm = 1, .min_elements_per_block = 1 << 30, .max_blocks_per_sample = 1});
    const result b = run_device<float>(one_block, d, o, true);
    check_stats(b.st, h.st, 1e-5);
    check_close(b.grad, h.grad, 1e-5, 1e-5);
    CHECK(dnft_cuda_test::message_of<dnft::value_error>([&] { small.set_launch_config({.blocks_per_sm = 0}); }) ==
          "dnft::cuda::executor::set_launch_config: launch_config.blocks_per_sm: expected a value >= 1, got 0");
  }

  TEST_CASE("nft_loss on the device is deterministic and layout-independent (bit for bit)") {
    dnft::cuda::executor ex;
    const problem p(6, 1030, 14);  // 1030 = 4 * 257 + 2
    const long B = p.B, D = p.D;
    device_problem<float> d(ex, p);
    const dnft::nft_options o;
    const result first = run_device<float>(ex, d, o, true);
    const result again = run_device<float>(ex, d, o, true);
    check_identical(again.st, first.st);
    CHECK(again.grad == first.grad);

    // column-major storage (sample stride 1, element stride B): strided scalar accesses
    auto transpose = [&](const std::vector<double>& a) {
      std::vector<double> r(a.size());
      for (long i = 0; i < B; ++i)
        for (long k = 0; k < D; ++k) r[std::size_t(k * B + i)] = a[std::size_t(i * D + k)];
      return r;
    };
    auto cx0 = ex.to_device(to_storage<float>(transpose(p.x0))), ceps = ex.to_device(to_storage<float>(transpose(p.eps))),
         cvth = ex.to_device(to_storage<float>(transpose(p.vth))),
         cvold = ex.to_device(to_storage<float>(transpose(p.vold))),
         cvref = ex.to_device(to_storage<float>(transpose(p.vref)));
    auto cg = ex.allocate<float>(B * D);
    auto cv = [&](dnft::cuda::device_buffer<float>& a) {
      return dnft::make_view(a.data(), {B, D}, {1, B}, dnft::device_space{});
    };
    const auto cs = dnft::nft_loss(ex, cv(cx0), cv(ceps), d.t, d.adv, cv(cvth), cv(cvold), cv(cvref), cv(cg), o);
    check_identical(cs, first.st);
    const auto cgh = ex.to_host(cg);
    for (long i = 0; i < B; ++i)
      for (long k = 0; k < D; ++k) CHECK(double(cgh[std::size_t(k * B + i)]) == first.grad[std::size_t(i * D + k)]);

    // a misaligned start (one float past an allocation): no vector loads
    auto shifted = [&](const std::vector<double>& a) {
      std::vector<float> r(a.size() + 1, 0.0f);
      for (std::size_t k = 0; k < a.size(); ++k) r[k + 1] = float(a[k]);
      return ex.to_device(r);
    };
    auto sx0 = shifted(p.x0), seps = shifted(p.eps), svth = shifted(p.vth), svold = shifted(p.vold),
         svref = shifted(p.vref);
    auto sg = ex.allocate<float>(B * D + 1);
    auto sv = [&](dnft::cuda::device_buffer<float>& a) {
      return dnft::make_view(a.data() + 1, {B, D}, dnft::device_space{});
    };
    const auto ss = dnft::nft_loss(ex, sv(sx0), sv(seps), d.t, d.adv, sv(svth), sv(svold), sv(svref), sv(sg), o);
    check_identical(ss, first.st);
    const auto sgh = ex.to_host(sg);
    for (std::size_t k = 0; k < first.grad.size(); ++k) CHECK(double(sgh[k + 1]) == first.grad[k]);

    // the gradient written over v_theta
    const auto in_place =
        dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.vth), o);
    check_identical(in_place, first.st);
    CHECK(widen(ex.to_host(d.vth)) == first.grad);
  }

  TEST_CASE("nft_loss on the device: bad values give the host backend's errors") {
    dnft::cuda::executor ex;
    struct poison {
      const char* what;
      void (*apply)(problem&);
    };
    const poison cases[] = {
        {"t above 1", [](problem& p) { p.t[2] = 1.5; }},
        {"t NaN", [](problem& p) { p.t[3] = std::numeric_limits<double>::quiet_NaN(); }},
        {"adv NaN", [](problem& p) { p.adv[1] = std::numeric_limits<double>::quiet_NaN(); }},
        {"x0 inf", [](problem& p) { p.x0[std::size_t(3 * p.D + 9)] = std::numeric_limits<double>::infinity(); }},
        {"noise NaN", [](problem& p) { p.eps[std::size_t(0 * p.D + 3)] = std::numeric_limits<double>::quiet_NaN(); }},
        {"v_theta -inf", [](problem& p) { p.vth[std::size_t(4 * p.D)] = -std::numeric_limits<double>::infinity(); }},
        {"v_old NaN", [](problem& p) { p.vold[std::size_t(2 * p.D + 5)] = std::numeric_limits<double>::quiet_NaN(); }},
        {"v_ref NaN", [](problem& p) { p.vref[std::size_t(p.D - 1)] = std::numeric_limits<double>::quiet_NaN(); }},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      problem p(5, 41, 15);
      c.apply(p);
      auto x0 = to_storage<float>(p.x0), eps = to_storage<float>(p.eps), vth = to_storage<float>(p.vth),
           vold = to_storage<float>(p.vold), vref = to_storage<float>(p.vref);
      std::vector<float> g(x0.size());
      auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {p.B, p.D}); };
      const std::string host_msg = message_of<dnft::value_error>(
          [&] { dnft::nft_loss(dnft::host, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref), v(g)); });
      device_problem<float> d(ex, p);
      const std::string dev_msg = message_of<dnft::value_error>([&] {
        dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad));
      });
      CHECK(dev_msg == host_msg);
      CHECK(dev_msg.rfind("dnft::nft_loss: ", 0) == 0);
    }
    // two of them spelled out, so the test does not rest on the host alone
    problem p(5, 41, 15);
    p.vold[std::size_t(2 * p.D + 5)] = std::numeric_limits<double>::quiet_NaN();
    p.t[4] = -0.25;
    {
      device_problem<float> d(ex, p);
      CHECK(message_of<dnft::value_error>([&] {
              dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), dnft::none, dnft::none);
            }) == "dnft::nft_loss: t: expected values in [0, 1], got -0.25 at sample 4");
    }
    p.t[4] = 0.25;
    {
      device_problem<float> d(ex, p);
      CHECK(message_of<dnft::value_error>([&] {
              dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), dnft::none, dnft::none);
            }) == "dnft::nft_loss: v_old: non-finite value nan at sample 2, element 5");
    }
    // overflow without a non-finite input (double: the squares overflow)
    problem big(3, 16, 16);
    for (long k = 0; k < big.D; ++k) big.x0[std::size_t(big.D + k)] = 1e200;
    device_problem<double> d(ex, big);
    CHECK(message_of<dnft::value_error>([&] {
            dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad));
          }) == "dnft::nft_loss: the sums of sample 1 overflowed (inputs of magnitude above about 1e150); rescale the "
                "inputs");
    // the executor is still usable after errors
    const problem ok(4, 40, 17);
    device_problem<float> fine(ex, ok);
    CHECK_NOTHROW(dnft::nft_loss(ex, fine.v(fine.x0), fine.v(fine.eps), fine.t, fine.adv, fine.v(fine.vth),
                                 fine.v(fine.vold), fine.v(fine.vref), fine.v(fine.grad)));
  }

  TEST_CASE("nft_loss on the device: shape errors are the front door's") {
    dnft::cuda::executor ex;
    const problem p(3, 8, 18);
    device_problem<float> d(ex, p);
    auto wide = ex.allocate<float>(27);
    CHECK(message_of<dnft::shape_error>([&] {
            dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), dnft::none,
                           wide.view(3, 9));
          }) == "dnft::nft_loss: grad: expected the shape of x0 (3, 8) (batch, elements per sample), got (3, 9)");
  }
}
