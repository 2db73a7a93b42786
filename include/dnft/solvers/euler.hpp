// SPDX-License-Identifier: Apache-2.0
// dnft: euler_solver, the first-order flow ODE sampler (the 40-step evaluation sampler).
#pragma once

#include <span>
#include <string_view>

#include "dnft/concepts/policy.hpp"
#include "dnft/execution.hpp"
#include "dnft/solvers/common.hpp"

namespace dnft {

//! @brief Euler's method for dx/dt = v(x, t) from grid.front() down to grid.back():
//!     x_{k+1} = x_k + (sigma_{k+1} - sigma_k) v(x_k, sigma_k).
//! One field evaluation per step; first order. A model of dnft::solver.
//! @code
//!   dnft::euler_solver<> solver;
//!   solver.sample(policy, x, conditions, grid);   // x: (B, D) noise in, samples out
//! @endcode
//! @tparam Exec  executor that runs the element-wise updates and allocates the scratch
//!               buffers (its memory space must be the field's)
template <class Exec = host_executor>
struct euler_solver {
  Exec exec{};  //!< the executor of the element-wise work

  //! @brief Integrates `field` over `grid` in place.
  //! @param field  the velocity field
  //! @param x      (B, D...) state at grid.front() on entry, at grid.back() on exit
  //! @param c      B conditions
  //! @param grid   strictly decreasing times in [0, 1], at least 2
  //! @throws value_error (bad grid), shape_error (x's elements per sample differ from
  //!         field.dim(), c.size() differs from B, empty batch), layout_error.
  template <velocity_field P, tensor_like X>
  void sample(P& field, X&& x, condition_span_t<P> c, std::span<const double> grid) {
    constexpr std::string_view fn = "euler_solver";
    using T = policy_value_t<P>;
    using S = policy_space_t<P>;
    const auto xs = detail::solver_state<Exec>(field, x, c.size(), grid, fn);
    const index_t B = xs.batch, D = xs.elements;
    detail::field_caller<Exec, P> f(exec, field, c, B);
    auto vbuf = exec.template allocate<T>(B * D);
    const auto v = detail::packed_batch<S>(vbuf.data(), B, D);
    for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
      f(xs, grid[k], v);
      detail::apply_linear_step(exec, detail::euler_step(grid[k], grid[k + 1]), xs, xs, v);
    }
  }
};

}  // namespace dnft
