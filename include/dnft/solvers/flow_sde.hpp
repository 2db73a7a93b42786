// SPDX-License-Identifier: Apache-2.0
// dnft: flow_sde_solver, the stochastic first-order sampler of FlowGRPO, with the per-step
// log-probabilities FlowGRPO trains on.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dnft/concepts/policy.hpp"
#include "dnft/execution.hpp"
#include "dnft/solvers/common.hpp"
#include "dnft/solvers/trajectory.hpp"

namespace dnft {

//! @brief The transition kernel of one flow-SDE step (FlowGRPO), dt = sigma_next - sigma:
//!     std  = a sqrt(sigma / (1 - sigma~)),
//!     mean = x (1 + std^2 / (2 sigma) dt) + v (1 + std^2 (1 - sigma) / (2 sigma)) dt,
//!     x'   = mean + std sqrt(-dt) xi,
//! where sigma~ = sigma, except sigma~ = grid[1] for a step from sigma = 1 (pass it as
//! `sigma_tilde`; flow_sde_solver::transition does this from the grid).
//! @throws value_error unless 0 < sigma <= 1, 0 <= sigma_next < sigma, 0 <= sigma_tilde < 1 and
//!         noise_level is finite and >= 0.
inline gaussian_transition flow_sde_transition(double sigma, double sigma_next, double sigma_tilde,
                                               double noise_level = 0.7) {
  constexpr std::string_view fn = "flow_sde_transition";
  if (!(sigma > 0.0 && sigma <= 1.0)) detail::fail<value_error>(fn, "sigma", "expected a value in (0, 1], got " + detail::num(sigma));
  if (!(sigma_next >= 0.0 && sigma_next < sigma))
    detail::fail<value_error>(fn, "sigma_next",
                              "expected a value in [0, sigma = " + detail::num(sigma) + "), got " + detail::num(sigma_next));
  if (!(sigma_tilde >= 0.0 && sigma_tilde < 1.0))
    detail::fail<value_error>(fn, "sigma_tilde", "expected a value in [0, 1), got " + detail::num(sigma_tilde));
  detail::require_nonnegative(noise_level, "noise_level", fn);
  return detail::flow_sde_step(sigma, sigma_next, sigma_tilde, noise_level);
}

//! @brief The flow SDE of FlowGRPO (Liu et al. 2025): the reverse-time SDE whose marginals are
//! those of the flow ODE, discretised by Euler-Maruyama with noise level a = noise_level
//! (see flow_sde_transition). One field evaluation per step. A model of
//! dnft::stochastic_solver.
//!
//! Noise: step k of a call draws xi(i, d) = philox_normal{seed, stream_id(stream, k)}(i, d)
//! for sample i, element d; `stream` counts calls (it must stay below 2^32) and advances by
//! one after each successful call, so consecutive calls draw fresh noise and a run is
//! reproducible from (seed, stream). Results do not depend on the thread count.
//! @code
//!   dnft::flow_sde_solver<> solver{.noise_level = 0.7, .seed = 42};
//!   dnft::flow_sde_solver<>::trajectory_type<Policy> rec;
//!   solver.sample(policy, x, conditions, grid, rec);   // rec.state(k), rec.log_prob(k), rec.transition(k)
//! @endcode
//! @tparam Exec  executor of the element-wise work, the scratch buffers and the trajectory
template <class Exec = host_executor>
struct flow_sde_solver {
  double noise_level = 0.7;  //!< a (>= 0; 0 gives the Euler step)
  std::uint64_t seed = 0;    //!< Philox key
  std::uint64_t stream = 0;  //!< call counter (< 2^32), advanced by sample()
  Exec exec{};               //!< the executor of the element-wise work

  //! What sample() records for a field of type P.
  template <class P>
  using trajectory_type = trajectory<policy_value_t<P>, Exec>;

  //! @brief The transition kernel of step k on `grid` (sigma~ = grid[1] when grid[k] = 1).
  //! @throws value_error for a bad grid, a k outside [0, grid.size() - 1) or a bad noise_level.
  gaussian_transition transition(std::span<const double> grid, index_t k) const {
    constexpr std::string_view fn = "flow_sde_solver";
    detail::validate_grid(grid, fn);
    detail::require_nonnegative(noise_level, "noise_level", fn);
    if (k < 0 || k + 1 >= index_t(grid.size()))
      detail::fail<value_error>(fn, "k",
                                "expected a step index in [0, " + std::to_string(grid.size() - 1) + "), got " +
                                    std::to_string(k));
    return step(grid, std::size_t(k));
  }

  //! @brief Samples in place; arguments and errors as euler_solver::sample, plus value_error
  //! for a negative or non-finite noise_level, a stream >= 2^32, or a non-finite velocity.
  template <velocity_field P, tensor_like X>
  void sample(P& field, X&& x, condition_span_t<P> c, std::span<const double> grid) {
    run(field, x, c, grid, static_cast<trajectory_type<P>*>(nullptr));
  }

  //! @brief Samples in place and records the trajectory (every state, each step's transition
  //! and per-sample log-probability) into `rec`.
  template <velocity_field P, tensor_like X>
  void sample(P& field, X&& x, condition_span_t<P> c, std::span<const double> grid, trajectory_type<P>& rec) {
    run(field, x, c, grid, &rec);
  }

 private:
  gaussian_transition step(std::span<const double> grid, std::size_t k) const noexcept {
    const double s = grid[k];
    return detail::flow_sde_step(s, grid[k + 1], s == 1.0 ? grid[1] : s, noise_level);
  }

  template <class P, class X, class Rec>
  void run(P& field, X& x, condition_span_t<P> c, std::span<const double> grid, Rec* rec) {
    constexpr std::string_view fn = "flow_sde_solver";
    detail::require_nonnegative(noise_level, "noise_level", fn);
    detail::sample_gaussian_chain(exec, field, x, c, grid, fn, seed, stream,
                                  [&](index_t k) { return step(grid, std::size_t(k)); }, rec);
    ++stream;
  }
};

}  // namespace dnft
