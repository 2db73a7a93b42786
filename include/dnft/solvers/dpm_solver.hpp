// SPDX-License-Identifier: Apache-2.0
// dnft: dpm_solver, DPM-Solver++ in data prediction, first order and second-order multistep
// (2M), the default sampler of DiffusionNFT's collection phase.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "dnft/concepts/policy.hpp"
#include "dnft/execution.hpp"
#include "dnft/solvers/common.hpp"

namespace dnft {

//! @brief DPM-Solver++ (Lu et al. 2022) for flow matching, in data prediction
//! m = x - sigma v, with alpha = 1 - sigma and lambda = log(alpha / sigma):
//!     1st order:  x' = (sigma'/sigma) x - alpha' (e^{-h} - 1) m_k,
//!     2M:         x' = (sigma'/sigma) x - alpha' (e^{-h} - 1) [(1 + 1/(2 r0)) m_k - 1/(2 r0) m_{k-1}],
//! h = lambda' - lambda, r0 = (lambda - lambda_prev) / h. One field evaluation per step.
//!
//! A step from sigma = 1 or into sigma' = 0 is an Euler step (lambda is infinite there); so is
//! the first step (no history) and, for order 2, a step whose previous time was 1. For flow
//! matching the first-order step equals the Euler step algebraically. With
//! `lower_order_final` (default, as diffusers below 15 steps), the step into the last nonzero
//! time is first order too: on the SD3 shifted grid that step extrapolates with r0 of about
//! 0.28 at N = 10 and is less accurate in second order than in first (ALGORITHM.md section 4).
//! A model of dnft::solver.
//! @tparam Exec  executor of the element-wise work and the scratch buffers
template <class Exec = host_executor>
struct dpm_solver {
  int order = 2;                  //!< 1 or 2 (multistep)
  bool lower_order_final = true;  //!< take the step into the last nonzero time in first order
  Exec exec{};                    //!< the executor of the element-wise work

  //! @brief Integrates `field` over `grid` in place; arguments and errors as
  //! euler_solver::sample, plus value_error for an order other than 1 or 2.
  template <velocity_field P, tensor_like X>
  void sample(P& field, X&& x, condition_span_t<P> c, std::span<const double> grid) {
    constexpr std::string_view fn = "dpm_solver";
    using T = policy_value_t<P>;
    using S = policy_space_t<P>;
    if (order != 1 && order != 2)
      detail::fail<value_error>(fn, "order", "expected 1 or 2, got " + std::to_string(order));
    const auto xs = detail::solver_state<Exec>(field, x, c.size(), grid, fn);
    const index_t B = xs.batch, D = xs.elements;
    const std::size_t N = grid.size() - 1;
    // The last step whose target time is nonzero.
    const std::size_t last_nonzero = grid.back() > 0.0 ? N - 1 : N - 2;  // N - 2 wraps when N = 1: never matched
    detail::field_caller<Exec, P> f(exec, field, c, B);
    auto buf = exec.template allocate<T>((order == 2 ? 3 : 1) * B * D);
    const auto v = detail::packed_batch<S>(buf.data(), B, D);
    auto m_cur = detail::packed_batch<S>(buf.data() + (order == 2 ? B * D : 0), B, D);
    auto m_prev = detail::packed_batch<S>(buf.data() + (order == 2 ? 2 * B * D : 0), B, D);
    for (std::size_t k = 0; k < N; ++k) {
      const double s = grid[k], sn = grid[k + 1];
      f(xs, s, v);
      const bool second = order == 2 && k > 0 && grid[k - 1] < 1.0 && sn > 0.0 &&
                          !(lower_order_final && k == last_nonzero);
      const detail::linear_step st = detail::dpm_solver_step(k > 0 ? grid[k - 1] : 1.0, s, sn, second);
      if (order == 2 && k + 1 < N) detail::lincomb_views(exec, m_cur, 0.0, {1.0, -s}, xs, v);  // m_k = x - sigma v
      detail::apply_linear_step(exec, st, xs, xs, v, second ? &m_prev : nullptr);
      std::swap(m_cur, m_prev);
    }
  }
};

}  // namespace dnft
