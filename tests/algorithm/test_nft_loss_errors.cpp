// SPDX-License-Identifier: Apache-2.0
// nft_loss: every bad input gets a dnft::error naming the function and the argument.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/expect_error.hpp"
#include "dnft/algorithm/nft_loss.hpp"

namespace {

struct inputs {
  int B = 3, D = 8;
  std::vector<float> x0, eps, vth, vold, vref, grad;
  std::vector<double> t, adv;
  inputs() : x0(24, 0.5f), eps(24, -0.25f), vth(24, 0.1f), vold(24, 0.2f), vref(24, 0.3f), grad(24), t{0.1, 0.5, 0.9},
             adv{1.0, -1.0, 0.0} {}
  dnft::nft_stats run(const dnft::nft_options& o = {}) {
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {B, int(a.size()) / B}); };
    return dnft::nft_loss(dnft::host, v(x0), v(eps), t, adv, v(vth), v(vold), v(vref), v(grad), o);
  }
};

using dnft_test::message_of;

using dnft_test::contains;

}  // namespace

TEST_SUITE("algorithm") {
  TEST_CASE("nft_loss: valid input passes") {
    inputs in;
    CHECK_NOTHROW(in.run());
  }

  TEST_CASE("nft_loss: shape mismatches name the argument") {
    for (const char* name : {"noise", "v_theta", "v_old", "v_ref", "grad"}) {
      inputs in;
      std::vector<float>* target = std::string(name) == "noise"     ? &in.eps
                                   : std::string(name) == "v_theta" ? &in.vth
                                   : std::string(name) == "v_old"   ? &in.vold
                                   : std::string(name) == "v_ref"   ? &in.vref
                                                                    : &in.grad;
      target->resize(27);  // (3, 9) instead of (3, 8)
      const auto msg = message_of<dnft::shape_error>([&] { in.run(); });
      CAPTURE(msg);
      CHECK(contains(msg, "dnft::nft_loss"));
      CHECK(contains(msg, name));
      CHECK(contains(msg, "(3, 8)"));
      CHECK(contains(msg, "(3, 9)"));
    }
  }

  TEST_CASE("nft_loss: t and adv need one value per sample") {
    inputs in;
    in.t.push_back(0.5);
    CHECK(contains(message_of<dnft::shape_error>([&] { in.run(); }), "t: expected one value per sample (3), got 4"));
    inputs in2;
    in2.adv.pop_back();
    CHECK(contains(message_of<dnft::shape_error>([&] { in2.run(); }), "adv: expected one value per sample (3), got 2"));
  }

  TEST_CASE("nft_loss: empty batch") {
    inputs in;
    in.B = 0;
    for (auto* v : {&in.x0, &in.eps, &in.vth, &in.vold, &in.vref, &in.grad}) v->clear();
    in.t.clear();
    in.adv.clear();
    std::vector<float> none;
    const auto msg = message_of<dnft::shape_error>([&] {
      auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {0, 8}); };
      dnft::nft_loss(dnft::host, v(in.x0), v(in.eps), in.t, in.adv, v(in.vth), v(in.vold), dnft::none, dnft::none);
    });
    CHECK(contains(msg, "dnft::nft_loss: x0: expected a non-empty batch"));
  }

  TEST_CASE("nft_loss: t outside [0, 1] or not finite") {
    for (double bad : {-0.01, 1.01, std::nan(""), std::numeric_limits<double>::infinity()}) {
      inputs in;
      in.t[1] = bad;
      const auto msg = message_of<dnft::value_error>([&] { in.run(); });
      CAPTURE(msg);
      CHECK(contains(msg, "dnft::nft_loss: t: expected values in [0, 1]"));
      CHECK(contains(msg, "at sample 1"));
    }
  }

  TEST_CASE("nft_loss: hyperparameters out of range") {
    struct bad_case {
      const char* name;
      dnft::nft_options o;
    };
    std::vector<bad_case> cases;
    dnft::nft_options o;
    o.beta = 0;
    cases.push_back({"beta", o});
    o = {};
    o.beta = -1;
    cases.push_back({"beta", o});
    o = {};
    o.adv_clip_max = 0;
    cases.push_back({"adv_clip_max", o});
    o = {};
    o.adv_clip_max = std::nan("");
    cases.push_back({"adv_clip_max", o});
    o = {};
    o.kl_weight = -1e-3;
    cases.push_back({"kl_weight", o});
    o = {};
    o.weight_floor = 0;
    cases.push_back({"weight_floor", o});
    for (auto& c : cases) {
      inputs in;
      const auto msg = message_of<dnft::value_error>([&] { in.run(c.o); });
      CAPTURE(msg);
      CHECK(contains(msg, std::string("dnft::nft_loss: ") + c.name + ": expected"));
    }
  }

  TEST_CASE("nft_loss: NaN or infinity in any input names the argument, sample and element") {
    const float inf = std::numeric_limits<float>::infinity();
    for (const char* name : {"x0", "noise", "v_theta", "v_old", "v_ref"}) {
      for (float bad : {std::nanf(""), inf, -inf}) {
        inputs in;
        std::vector<float>& target = std::string(name) == "x0"        ? in.x0
                                     : std::string(name) == "noise"   ? in.eps
                                     : std::string(name) == "v_theta" ? in.vth
                                     : std::string(name) == "v_old"   ? in.vold
                                                                      : in.vref;
        target[2 * 8 + 5] = bad;
        const auto msg = message_of<dnft::value_error>([&] { in.run(); });
        CAPTURE(msg);
        CHECK(contains(msg, std::string("dnft::nft_loss: ") + name + ": non-finite value"));
        CHECK(contains(msg, "at sample 2, element 5"));
      }
    }
    inputs in;
    in.adv[0] = std::nan("");
    const auto msg = message_of<dnft::value_error>([&] { in.run(); });
    CHECK(contains(msg, "dnft::nft_loss: adv: non-finite value nan at sample 0"));
  }

  TEST_CASE("nft_loss: an output with overlapping elements is refused") {
    inputs in;
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {in.B, in.D}); };
    auto bad = dnft::make_view(in.grad.data(), {in.B, in.D}, {0, 1});  // every sample writes the same row
    const auto msg = message_of<dnft::layout_error>(
        [&] { dnft::nft_loss(dnft::host, v(in.x0), v(in.eps), in.t, in.adv, v(in.vth), v(in.vold), dnft::none, bad); });
    CHECK(contains(msg, "dnft::nft_loss: grad"));
  }

  TEST_CASE("nft_loss: trailing axes that do not collapse are refused, not misread") {
    inputs in;
    std::vector<float> big(3 * 4 * 4, 1.0f);
    // (3, 2, 4) picked out of a (3, 4, 4) buffer: axis 1 has stride 8, not 4.
    auto x = dnft::make_view(big.data(), {3, 2, 4}, {16, 8, 1});
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {in.B, in.D}); };
    const auto msg = message_of<dnft::layout_error>(
        [&] { dnft::nft_loss(dnft::host, x, v(in.eps), in.t, in.adv, v(in.vth), v(in.vold), dnft::none, dnft::none); });
    CAPTURE(msg);
    CHECK(contains(msg, "dnft::nft_loss: x0: the trailing axes"));
  }
}
