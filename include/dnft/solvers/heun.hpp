// SPDX-License-Identifier: Apache-2.0
// dnft: heun_solver, the second-order (explicit trapezoidal) flow ODE sampler.
#pragma once

#include <span>
#include <string_view>

#include "dnft/concepts/policy.hpp"
#include "dnft/execution.hpp"
#include "dnft/solvers/common.hpp"

namespace dnft {

//! @brief Heun's method for dx/dt = v(x, t): an Euler predictor, then the average of the two
//! velocities,
//!     x~ = x_k + dt v(x_k, sigma_k),   x_{k+1} = x_k + dt/2 [v(x_k, sigma_k) + v(x~, sigma_{k+1})],
//! dt = sigma_{k+1} - sigma_k. A step into sigma = 0 is a plain Euler step (as in Karras et al.;
//! the field is not evaluated at t = 0). Two field evaluations per step (one for a final step
//! into 0); second order. A model of dnft::solver.
//! @tparam Exec  executor of the element-wise work and the scratch buffers
template <class Exec = host_executor>
struct heun_solver {
  Exec exec{};  //!< the executor of the element-wise work

  //! @brief Integrates `field` over `grid` in place; arguments and errors as euler_solver::sample.
  template <velocity_field P, tensor_like X>
  void sample(P& field, X&& x, condition_span_t<P> c, std::span<const double> grid) {
    constexpr std::string_view fn = "heun_solver";
    using T = policy_value_t<P>;
    using S = policy_space_t<P>;
    const auto xs = detail::solver_state<Exec>(field, x, c.size(), grid, fn);
    const index_t B = xs.batch, D = xs.elements;
    detail::field_caller<Exec, P> f(exec, field, c, B);
    auto buf = exec.template allocate<T>(3 * B * D);
    const auto v1 = detail::packed_batch<S>(buf.data(), B, D);
    const auto v2 = detail::packed_batch<S>(buf.data() + B * D, B, D);
    const auto xp = detail::packed_batch<S>(buf.data() + 2 * B * D, B, D);
    for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
      const double s = grid[k], sn = grid[k + 1], dt = sn - s;
      f(xs, s, v1);
      if (sn == 0.0) {
        detail::apply_linear_step(exec, detail::euler_step(s, sn), xs, xs, v1);
        continue;
      }
      detail::apply_linear_step(exec, detail::euler_step(s, sn), xp, xs, v1);
      f(xp, sn, v2);
      detail::lincomb_views(exec, xs, 0.0, {1.0, 0.5 * dt, 0.5 * dt}, xs, v1, v2);
    }
  }
};

}  // namespace dnft
