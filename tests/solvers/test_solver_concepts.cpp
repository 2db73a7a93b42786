// SPDX-License-Identifier: Apache-2.0
// The solvers model the concepts of dnft/concepts/solver.hpp, for float and double fields; the
// deterministic ones are not stochastic solvers.
#include <doctest/doctest.h>

#include "dnft/solvers/solvers.hpp"
#include "support/gaussian_field.hpp"

using dnft_test::gaussian_field;

namespace {

template <class T>
constexpr bool check_models() {
  using F = gaussian_field<T>;
  static_assert(dnft::velocity_field<F> && dnft::guidable_field<F>);
  static_assert(dnft::solver<dnft::euler_solver<>, F>);
  static_assert(dnft::solver<dnft::heun_solver<>, F>);
  static_assert(dnft::solver<dnft::dpm_solver<>, F>);
  static_assert(dnft::stochastic_solver<dnft::flow_sde_solver<>, F>);
  static_assert(dnft::stochastic_solver<dnft::ddim_solver<>, F>);
  static_assert(!dnft::stochastic_solver<dnft::euler_solver<>, F>);
  static_assert(!dnft::stochastic_solver<dnft::dpm_solver<>, F>);
  static_assert(dnft::trajectory_record<dnft::trajectory<T>>);
  static_assert(dnft::solver<dnft::flow_sde_solver<>, dnft::guided_field<F>>);
  return true;
}

static_assert(check_models<float>());
static_assert(check_models<double>());

}  // namespace

TEST_SUITE("solvers") {
  TEST_CASE("solver concepts are modelled (checked at compile time)") { CHECK(check_models<double>()); }
}
