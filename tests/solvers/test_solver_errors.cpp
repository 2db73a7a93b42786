// SPDX-License-Identifier: Apache-2.0
// Every solver refuses bad grids, shapes and options with a dnft::error that names the solver
// and the argument.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "dnft/solvers/solvers.hpp"
#include "support/expect_error.hpp"
#include "support/gaussian_field.hpp"
#include "support/grids.hpp"

using dnft_test::contains;
using dnft_test::gaussian_field;
using dnft_test::message_of;

namespace {

struct setup {
  gaussian_field<double> f = gaussian_field<double>::make(4, 2, 1);
  std::vector<double> x = std::vector<double>(8, 0.5);
  std::vector<int> c{0, 1};
};

//! Calls `fn(solver_name, run)` for every solver, run(x_view, c, grid) sampling with it.
template <class F>
void for_each_solver(F&& fn) {
  fn("euler_solver", [](auto& f, auto x, const auto& c, const auto& g) { dnft::euler_solver<>{}.sample(f, x, c, g); });
  fn("heun_solver", [](auto& f, auto x, const auto& c, const auto& g) { dnft::heun_solver<>{}.sample(f, x, c, g); });
  fn("dpm_solver", [](auto& f, auto x, const auto& c, const auto& g) { dnft::dpm_solver<>{}.sample(f, x, c, g); });
  fn("flow_sde_solver",
     [](auto& f, auto x, const auto& c, const auto& g) { dnft::flow_sde_solver<>{}.sample(f, x, c, g); });
  fn("flow_sde_solver",
     [](auto& f, auto x, const auto& c, const auto& g) {
       dnft::flow_sde_solver<> s;
       dnft::trajectory<double> rec;
       s.sample(f, x, c, g, rec);
     });
  fn("ddim_solver", [](auto& f, auto x, const auto& c, const auto& g) { dnft::ddim_solver<>{}.sample(f, x, c, g); });
}

}  // namespace

TEST_SUITE("solvers") {
  TEST_CASE("bad grids: too short, outside [0, 1], not strictly decreasing, NaN") {
    struct bad_grid {
      std::vector<double> g;
      std::string what;
    };
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const std::vector<bad_grid> cases{
        {{}, "grid: expected at least 2 times (one step), got 0"},
        {{1.0}, "grid: expected at least 2 times (one step), got 1"},
        {{1.2, 0.5, 0.0}, "grid: expected times in [0, 1], got grid[0] = 1.2"},
        {{1.0, 0.5, -0.1}, "grid: expected times in [0, 1], got grid[2] = -0.1"},
        {{1.0, nan, 0.0}, "grid: expected times in [0, 1], got grid[1] = nan"},
        {{1.0, 0.5, 0.5, 0.0}, "grid: expected a strictly decreasing grid, got grid[2] = 0.5 after grid[1] = 0.5"},
        {{0.0, 0.5, 1.0}, "grid: expected a strictly decreasing grid, got grid[1] = 0.5 after grid[0] = 0"},
    };
    for_each_solver([&](const std::string& name, auto run) {
      for (const auto& bc : cases) {
        setup s;
        const auto msg = message_of<dnft::value_error>([&] { run(s.f, dnft::make_view(s.x.data(), {2, 4}), s.c, bc.g); });
        CAPTURE(msg);
        CHECK(contains(msg, "dnft::" + name + ": " + bc.what));
        CHECK(s.x == std::vector<double>(8, 0.5));  // nothing written
      }
    });
  }

  TEST_CASE("shape errors: elements per sample differ from dim(), conditions, empty batch") {
    const auto g = dnft_test::linear_grid(4);
    for_each_solver([&](const std::string& name, auto run) {
      setup s;
      auto msg = message_of<dnft::shape_error>([&] { run(s.f, dnft::make_view(s.x.data(), {4, 2}), std::vector<int>{0, 1, 0, 1}, g); });
      CAPTURE(msg);
      CHECK(contains(msg, "dnft::" + name + ": x: expected 4 elements per sample (the field's dim()), got 2"));
      msg = message_of<dnft::shape_error>([&] { run(s.f, dnft::make_view(s.x.data(), {2, 4}), std::vector<int>{0, 1, 1}, g); });
      CHECK(contains(msg, "dnft::" + name + ": c: expected one condition per sample (2), got 3"));
      msg = message_of<dnft::shape_error>([&] { run(s.f, dnft::make_view(s.x.data(), {0, 4}), std::vector<int>{}, g); });
      CHECK(contains(msg, "dnft::" + name + ": x: expected a non-empty batch"));
      msg = message_of<dnft::layout_error>(
          [&] { run(s.f, dnft::make_view(s.x.data(), {2, 4}, {0, 1}), s.c, g); });  // both rows alias
      CHECK(contains(msg, "dnft::" + name + ": x"));
    });
  }

  TEST_CASE("bad options: order, noise level, eta, stream") {
    setup s;
    const auto g = dnft_test::linear_grid(4);
    auto x = dnft::make_view(s.x.data(), {2, 4});
    for (int order : {0, 3, -1})
      CHECK(contains(message_of<dnft::value_error>([&] { dnft::dpm_solver<>{.order = order}.sample(s.f, x, s.c, g); }),
                     "dnft::dpm_solver: order: expected 1 or 2, got " + std::to_string(order)));
    for (double a : {-0.1, std::nan(""), std::numeric_limits<double>::infinity()})
      CHECK(contains(
          message_of<dnft::value_error>([&] { dnft::flow_sde_solver<>{.noise_level = a}.sample(s.f, x, s.c, g); }),
          "dnft::flow_sde_solver: noise_level: expected a finite value >= 0"));
    for (double eta : {-0.1, 1.5, std::nan("")})
      CHECK(contains(message_of<dnft::value_error>([&] { dnft::ddim_solver<>{.eta = eta}.sample(s.f, x, s.c, g); }),
                     "dnft::ddim_solver: eta: expected a value in [0, 1]"));
    dnft::flow_sde_solver<> sde{.stream = std::uint64_t(1) << 32};
    CHECK(contains(message_of<dnft::value_error>([&] { sde.sample(s.f, x, s.c, g); }),
                   "dnft::flow_sde_solver: stream: expected a call counter below 2^32"));
    CHECK(sde.stream == std::uint64_t(1) << 32);  // a failed call does not advance the stream
    dnft::ddim_solver<> dd{.stream = ~std::uint64_t(0)};
    CHECK(contains(message_of<dnft::value_error>([&] { dd.sample(s.f, x, s.c, g); }), "dnft::ddim_solver: stream"));
  }

  TEST_CASE("a velocity field that returns NaN is reported with the step, sample and element") {
    struct nan_field : gaussian_field<double> {
      void predict(dnft::const_state_view_t<nan_field> x, dnft::time_view_t<nan_field> t,
                   dnft::condition_span_t<nan_field> c, dnft::state_view_t<nan_field> v) {
        for (dnft::index_t i = 0; i < x.extents[0]; ++i)
          for (dnft::index_t d = 0; d < x.extents[1]; ++d) v(i, d) = 0.1;
        if (t(0) < 0.6) v(1, 2) = std::nan("");
        (void)c;
      }
    };
    nan_field f;
    f.stddev.assign(4, 1.0);
    f.means.assign(2, std::vector<double>(4, 0.0));
    std::vector<double> x(8, 0.5);
    std::vector<int> c{0, 1};
    const auto g = dnft_test::linear_grid(4);  // 1, 0.75, 0.5, ...: the third step sees the NaN
    const auto msg = message_of<dnft::value_error>(
        [&] { dnft::flow_sde_solver<>{}.sample(f, dnft::make_view(x.data(), {2, 4}), c, g); });
    CHECK(contains(msg, "dnft::flow_sde_solver (step 2): v (the field's velocity): non-finite value nan at sample 1, element 2"));
  }

  TEST_CASE("transition, trajectory and the transition functions check their arguments") {
    const auto g = dnft_test::linear_grid(4);
    const dnft::flow_sde_solver<> sde;
    CHECK(contains(message_of<dnft::value_error>([&] { (void)sde.transition(g, 4); }),
                   "dnft::flow_sde_solver: k: expected a step index in [0, 4), got 4"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)sde.transition(std::vector<double>{0.5, 0.7}, 0); }),
                   "dnft::flow_sde_solver: grid: expected a strictly decreasing grid"));
    const dnft::ddim_solver<> dd;
    CHECK(contains(message_of<dnft::value_error>([&] { (void)dd.transition(g, -1); }),
                   "dnft::ddim_solver: k: expected a step index in [0, 4), got -1"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)dnft::flow_sde_transition(0.0, 0.0, 0.0); }),
                   "dnft::flow_sde_transition: sigma: expected a value in (0, 1], got 0"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)dnft::flow_sde_transition(0.5, 0.6, 0.5); }),
                   "dnft::flow_sde_transition: sigma_next: expected a value in [0, sigma = 0.5), got 0.6"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)dnft::flow_sde_transition(1.0, 0.6, 1.0); }),
                   "dnft::flow_sde_transition: sigma_tilde: expected a value in [0, 1), got 1"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)dnft::flow_sde_transition(1.0, 0.6, 0.6, -1.0); }),
                   "dnft::flow_sde_transition: noise_level"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)dnft::ddim_transition(0.5, 0.5, 0.5); }),
                   "dnft::ddim_transition: sigma_next"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)dnft::ddim_transition(0.5, 0.2, 2.0); }),
                   "dnft::ddim_transition: eta"));
    dnft::trajectory<double> rec;
    CHECK(rec.steps() == 0);
    CHECK(contains(message_of<dnft::value_error>([&] { (void)rec.log_prob(0); }),
                   "dnft::trajectory::log_prob: k: expected an index in [0, 0), got 0"));
    auto f = gaussian_field<double>::make(4, 2, 1);
    std::vector<double> x(8, 0.1);
    dnft::flow_sde_solver<> s;
    s.sample(f, dnft::make_view(x.data(), {2, 4}), std::vector<int>{0, 1}, g, rec);
    CHECK(contains(message_of<dnft::value_error>([&] { (void)rec.state(5); }),
                   "dnft::trajectory::state: k: expected an index in [0, 5), got 5"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)rec.log_prob(4); }),
                   "dnft::trajectory::log_prob: k: expected an index in [0, 4), got 4"));
    CHECK(contains(message_of<dnft::value_error>([&] { (void)rec.transition(-1); }),
                   "dnft::trajectory::transition: k: expected an index in [0, 4), got -1"));
  }
}
