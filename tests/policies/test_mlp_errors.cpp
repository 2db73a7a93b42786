// SPDX-License-Identifier: Apache-2.0
// mlp_policy: every bad input gets a dnft::error naming the function and the argument.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/expect_error.hpp"
#include "dnft/policies/mlp.hpp"

namespace {

using dnft_test::message_of;

using dnft_test::contains;

dnft::mlp_config config() {
  dnft::mlp_config c;
  c.dim = 2;
  c.num_conditions = 3;
  c.cond_dim = 4;
  c.time_frequencies = 2;
  c.width = 5;
  c.depth = 2;
  return c;
}

//! A valid call with B = 4, D = 2, K = 3; tests break one piece.
struct call {
  int B = 4, D = 2, vB = 4, vD = 2;
  std::vector<float> x = std::vector<float>(8, 0.5f), v = std::vector<float>(8);
  std::vector<float> t = {0.1f, 0.2f, 0.3f, 1.0f};
  std::vector<int> c = {0, 1, 2, 3};
  void predict(dnft::mlp_policy<float>& p) {
    p.predict(dnft::make_view(static_cast<const float*>(x.data()), {B, D}), t, c, dnft::make_view(v.data(), {vB, vD}));
  }
  void forward(dnft::mlp_policy<float>& p) {
    p.forward(dnft::make_view(static_cast<const float*>(x.data()), {B, D}), t, c, dnft::make_view(v.data(), {vB, vD}));
  }
};

}  // namespace

TEST_SUITE("policies") {
  TEST_CASE("mlp_policy: a valid call passes") {
    dnft::mlp_policy<float> p(config());
    call k;
    CHECK_NOTHROW(k.predict(p));
    CHECK_NOTHROW(k.forward(p));
    CHECK_NOTHROW(p.backward(dnft::make_view(static_cast<const float*>(k.v.data()), {4, 2})));
  }

  TEST_CASE("mlp_policy: bad configuration fields are named") {
    struct bad {
      const char* name;
      dnft::mlp_config c;
    };
    std::vector<bad> cases;
    auto add = [&](const char* name, auto edit) {
      dnft::mlp_config c = config();
      edit(c);
      cases.push_back({name, c});
    };
    add("config.dim", [](dnft::mlp_config& c) { c.dim = 0; });
    add("config.num_conditions", [](dnft::mlp_config& c) { c.num_conditions = -1; });
    add("config.cond_dim", [](dnft::mlp_config& c) { c.cond_dim = 0; });
    add("config.time_frequencies", [](dnft::mlp_config& c) { c.time_frequencies = 0; });
    add("config.time_min_frequency", [](dnft::mlp_config& c) { c.time_min_frequency = 0; });
    add("config.time_min_frequency", [](dnft::mlp_config& c) { c.time_min_frequency = std::nan(""); });
    add("config.time_max_frequency", [](dnft::mlp_config& c) { c.time_max_frequency = 0.5; });
    add("config.time_max_frequency",
        [](dnft::mlp_config& c) { c.time_max_frequency = std::numeric_limits<double>::infinity(); });
    add("config.width", [](dnft::mlp_config& c) { c.width = 0; });
    add("config.depth", [](dnft::mlp_config& c) { c.depth = 0; });
    for (const auto& b : cases) {
      const auto msg = message_of<dnft::value_error>([&] { dnft::mlp_policy<double> p(b.c); });
      CAPTURE(msg);
      CHECK(contains(msg, std::string("dnft::mlp_policy: ") + b.name + ": expected"));
    }
  }

  TEST_CASE("mlp_policy: x with the wrong number of elements per sample") {
    dnft::mlp_policy<float> p(config());
    call k;
    k.D = 1;  // (8, 1)
    k.B = 8;
    const auto msg = message_of<dnft::shape_error>([&] { k.predict(p); });
    CHECK(msg == "dnft::mlp_policy::predict: x: expected (B, 2) (batch, dim()), got shape (8, 1)");
    const auto msg2 = message_of<dnft::shape_error>([&] { k.forward(p); });
    CHECK(contains(msg2, "dnft::mlp_policy::forward: x: expected (B, 2)"));
    // a rank-1 x is not a batch of 2-vectors either
    std::vector<float> x1(4, 0.f);
    const auto msg3 = message_of<dnft::shape_error>([&] { p.predict(x1, k.t, k.c, dnft::make_view(k.v.data(), {4, 2})); });
    CHECK(contains(msg3, "dnft::mlp_policy::predict: x: expected (B, 2) (batch, dim()), got shape (4)"));
  }

  TEST_CASE("mlp_policy: t, c and v must match the batch of x") {
    dnft::mlp_policy<float> p(config());
    {
      call k;
      k.t.push_back(0.5f);
      CHECK(message_of<dnft::shape_error>([&] { k.predict(p); }) ==
            "dnft::mlp_policy::predict: t: expected one time per sample (4), got 5");
    }
    {
      call k;
      k.c.pop_back();
      CHECK(message_of<dnft::shape_error>([&] { k.forward(p); }) ==
            "dnft::mlp_policy::forward: c: expected one condition per sample (4), got 3");
    }
    {
      call k;
      k.vB = 2;
      k.vD = 4;
      CHECK(message_of<dnft::shape_error>([&] { k.predict(p); }) ==
            "dnft::mlp_policy::predict: v: expected the shape of x (4, 2), got shape (2, 4)");
    }
  }

  TEST_CASE("mlp_policy: an output with overlapping rows") {
    dnft::mlp_policy<float> p(config());
    call k;
    const auto msg = message_of<dnft::layout_error>([&] {
      p.predict(dnft::make_view(static_cast<const float*>(k.x.data()), {4, 2}), k.t, k.c,
                dnft::make_view(k.v.data(), {4, 2}, {0, 1}));
    });
    CHECK(contains(msg, "dnft::mlp_policy::predict: v: an output tensor has overlapping elements"));
  }

  TEST_CASE("mlp_policy: condition ids outside [0, K]") {
    dnft::mlp_policy<float> p(config());
    for (int bad : {-1, 4, 1000}) {
      call k;
      k.c[2] = bad;
      const auto msg = message_of<dnft::value_error>([&] { k.predict(p); });
      CHECK(msg == "dnft::mlp_policy::predict: c: expected condition ids in [0, 3] (3 is the null condition), got " +
                       std::to_string(bad) + " at sample 2");
    }
  }

  TEST_CASE("mlp_policy: non-finite x, t or dv") {
    dnft::mlp_policy<float> p(config());
    const float inf = std::numeric_limits<float>::infinity();
    for (float bad : {std::nanf(""), inf, -inf}) {
      call k;
      k.x[5] = bad;  // sample 2, element 1
      const auto msg = message_of<dnft::value_error>([&] { k.forward(p); });
      CAPTURE(msg);
      CHECK(contains(msg, "dnft::mlp_policy::forward: x: non-finite value"));
      CHECK(contains(msg, "at sample 2, element 1"));
      call kt;
      kt.t[3] = bad;
      const auto msg_t = message_of<dnft::value_error>([&] { kt.predict(p); });
      CAPTURE(msg_t);
      CHECK(contains(msg_t, "dnft::mlp_policy::predict: t: non-finite value"));
      CHECK(contains(msg_t, "at sample 3"));
      call kg;
      kg.forward(p);
      std::vector<float> dv(8, 0.f);
      dv[6] = bad;
      const auto msg_g = message_of<dnft::value_error>(
          [&] { p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {4, 2})); });
      CAPTURE(msg_g);
      CHECK(contains(msg_g, "dnft::mlp_policy::backward: dv: non-finite value"));
      CHECK(contains(msg_g, "at sample 3, element 0"));
    }
  }

  TEST_CASE("mlp_policy: backward needs a forward of the same batch") {
    dnft::mlp_policy<float> p(config());
    std::vector<float> dv(8, 0.f);
    const auto msg = message_of<dnft::error>([&] { p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {4, 2})); });
    CHECK(contains(msg, "dnft::mlp_policy::backward: dv: no forward pass to differentiate"));
    call k;
    k.predict(p);  // predict keeps nothing
    CHECK(contains(message_of<dnft::error>([&] { p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {4, 2})); }),
                   "no forward pass to differentiate"));
    k.forward(p);
    std::vector<float> dv3(6, 0.f);
    CHECK(message_of<dnft::shape_error>([&] { p.backward(dnft::make_view(static_cast<const float*>(dv3.data()), {3, 2})); }) ==
          "dnft::mlp_policy::backward: dv: expected the shape of the last forward's output (4, 2), got shape (3, 2)");
    CHECK(message_of<dnft::shape_error>([&] { p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {2, 4})); }) ==
          "dnft::mlp_policy::backward: dv: expected (B, 2) (batch, dim()), got shape (2, 4)");
    // a failed forward leaves nothing to differentiate
    call bad;
    bad.c[0] = 9;
    CHECK_THROWS_AS(bad.forward(p), dnft::value_error);
    CHECK(contains(message_of<dnft::error>([&] { p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {4, 2})); }),
                   "no forward pass to differentiate"));
  }
}
