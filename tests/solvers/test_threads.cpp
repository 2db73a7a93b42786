// SPDX-License-Identifier: Apache-2.0
// Every solver gives bit-identical samples (and recordings) on 1 thread and on several: the
// host backends split work over samples only, with a fixed per-element formula.
#include <doctest/doctest.h>

#include <vector>

#include "dnft/solvers/solvers.hpp"
#include "support/gaussian_field.hpp"
#include "support/grids.hpp"
#include "support/random_data.hpp"

using dnft_test::gaussian_field;

namespace {

const dnft::host_executor one{1};
const dnft::host_executor many{3, 1};  // 3 threads, threading from the first element

}  // namespace

TEST_SUITE("solvers") {
  TEST_CASE_TEMPLATE("solvers do not depend on the thread count", T, float, double) {
    const int B = 7, D = 1500;  // D above the noise chunk of 1024
    auto f = gaussian_field<T>::make(D, 3, 6);
    const std::vector<T> x0 = dnft_test::cast<T>(dnft_test::normal_data(std::size_t(B * D), 4));
    const std::vector<int> c{0, 1, 2, 0, 1, 2, 0};
    const auto g = dnft_test::shifted_grid(6);
    auto run = [&](auto solver) {
      std::vector<T> x = x0;
      solver.sample(f, dnft::make_view(x.data(), {B, D}), c, g);
      return x;
    };
    CHECK(run(dnft::euler_solver<>{one}) == run(dnft::euler_solver<>{many}));
    CHECK(run(dnft::heun_solver<>{one}) == run(dnft::heun_solver<>{many}));
    CHECK(run(dnft::dpm_solver<>{2, true, one}) == run(dnft::dpm_solver<>{2, true, many}));
    CHECK(run(dnft::flow_sde_solver<>{0.7, 5, 0, one}) == run(dnft::flow_sde_solver<>{0.7, 5, 0, many}));
    CHECK(run(dnft::ddim_solver<>{1.0, 5, 0, one}) == run(dnft::ddim_solver<>{1.0, 5, 0, many}));
    // recordings
    dnft::trajectory<T> r1, r2;
    std::vector<T> x1 = x0, x2 = x0;
    dnft::flow_sde_solver<> s1{0.7, 5, 0, one};
    dnft::flow_sde_solver<> s2{0.7, 5, 0, many};
    s1.sample(f, dnft::make_view(x1.data(), {B, D}), c, g, r1);
    s2.sample(f, dnft::make_view(x2.data(), {B, D}), c, g, r2);
    for (dnft::index_t k = 0; k < r1.steps(); ++k)
      for (int i = 0; i < B; ++i) CHECK(r1.log_prob(k)(i) == r2.log_prob(k)(i));
    const auto a = r1.states(), b = r2.states();
    bool same = true;
    for (dnft::index_t k = 0; k <= r1.steps(); ++k)
      for (int i = 0; i < B; ++i)
        for (int d = 0; d < D; ++d) same = same && a(k, i, d) == b(k, i, d);
    CHECK(same);
  }
}
