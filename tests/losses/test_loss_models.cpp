// SPDX-License-Identifier: Apache-2.0
// nft_loss_model and flow_matching_loss_model satisfy dnft::loss and give exactly the values and
// gradients of the algorithms they wrap.
#include <doctest/doctest.h>

#include <vector>

#include "dnft/losses/flow_matching.hpp"
#include "dnft/losses/nft.hpp"
#include "support/random_data.hpp"

static_assert(dnft::loss<dnft::nft_loss_model, dnft::host_executor, float, dnft::host_space>);
static_assert(dnft::loss<dnft::nft_loss_model, dnft::host_executor, double, dnft::host_space>);
static_assert(dnft::loss<dnft::flow_matching_loss_model, dnft::host_executor, float, dnft::host_space>);
static_assert(dnft::loss<dnft::flow_matching_loss_model, dnft::host_executor, double, dnft::host_space>);
static_assert(!dnft::loss<int, dnft::host_executor, float, dnft::host_space>);

namespace {

template <class T>
struct batch_data {
  int B = 5, D = 33;
  std::vector<T> x0, eps, t, adv, vth, vold, vref;
  batch_data() {
    const auto n = std::size_t(B * D);
    x0 = dnft_test::cast<T>(dnft_test::normal_data(n, 1));
    eps = dnft_test::cast<T>(dnft_test::normal_data(n, 2));
    t = dnft_test::cast<T>(dnft_test::uniform_data(std::size_t(B), 3, 0.0, 1.0));
    adv = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B), 4, 3.0));
    vth = dnft_test::cast<T>(dnft_test::normal_data(n, 5));
    vold = dnft_test::cast<T>(dnft_test::normal_data(n, 6));
    vref = dnft_test::cast<T>(dnft_test::normal_data(n, 7));
  }
  dnft::tensor_view<const T, 2> m(const std::vector<T>& a) const { return dnft::make_view(a.data(), {B, D}); }
  dnft::tensor_view<const T, 1> s(const std::vector<T>& a) const { return dnft::make_view(a.data(), {B}); }
  dnft::loss_batch<T, dnft::host_space> batch(bool with_ref) const {
    dnft::loss_batch<T, dnft::host_space> b{m(x0), m(eps), s(t), s(adv), m(vold), {}};
    if (with_ref) b.v_ref = m(vref);
    return b;
  }
};

}  // namespace

TEST_SUITE("losses") {
  TEST_CASE_TEMPLATE("nft_loss_model gives nft_loss's value and gradient", T, float, double) {
    const batch_data<T> d;
    dnft::nft_loss_model model;
    model.options.beta = 0.3;
    model.options.kl_weight = 0.01;
    for (bool with_ref : {true, false}) {
      CAPTURE(with_ref);
      std::vector<T> g1(d.x0.size()), g2(d.x0.size());
      const auto s1 = model(dnft::host, d.batch(with_ref), d.m(d.vth), dnft::make_view(g1.data(), {d.B, d.D}));
      dnft::nft_stats s2;
      if (with_ref)
        s2 = dnft::nft_loss(dnft::host, d.m(d.x0), d.m(d.eps), d.t, d.adv, d.m(d.vth), d.m(d.vold), d.m(d.vref),
                            dnft::make_view(g2.data(), {d.B, d.D}), model.options);
      else
        s2 = dnft::nft_loss(dnft::host, d.m(d.x0), d.m(d.eps), d.t, d.adv, d.m(d.vth), d.m(d.vold), dnft::none,
                            dnft::make_view(g2.data(), {d.B, d.D}), model.options);
      CHECK(s1.loss == s2.loss);
      CHECK(s1.kl == s2.kl);
      CHECK(g1 == g2);
      CHECK((with_ref ? s1.kl > 0 : s1.kl == 0));
      // value only (empty grad view)
      const auto s3 = model(dnft::host, d.batch(with_ref), d.m(d.vth), dnft::tensor_view<T, 2>{});
      CHECK(s3.loss == s2.loss);
    }
  }

  TEST_CASE_TEMPLATE("flow_matching_loss_model gives flow_matching_loss's value and gradient", T, float, double) {
    const batch_data<T> d;
    const dnft::flow_matching_loss_model model{{dnft::time_weighting::time}};
    std::vector<T> g1(d.x0.size()), g2(d.x0.size());
    const auto s1 = model(dnft::host, d.batch(false), d.m(d.vth), dnft::make_view(g1.data(), {d.B, d.D}));
    const auto s2 = dnft::flow_matching_loss(dnft::host, d.m(d.x0), d.m(d.eps), d.t, d.m(d.vth),
                                             dnft::make_view(g2.data(), {d.B, d.D}), model.options);
    CHECK(s1.loss == s2.loss);
    CHECK(s1.mse == s2.mse);
    CHECK(g1 == g2);
    const auto s3 = model(dnft::host, d.batch(true), d.m(d.vth), dnft::tensor_view<T, 2>{});
    CHECK(s3.loss == s2.loss);
    // an unweighted model differs (t < 1), so the option is honoured
    const auto s4 = dnft::flow_matching_loss_model{}(dnft::host, d.batch(false), d.m(d.vth), dnft::tensor_view<T, 2>{});
    CHECK(s4.loss > s1.loss);
  }
}
