// SPDX-License-Identifier: Apache-2.0
// dnft: the solver concepts: integrate a velocity field from noise (t = 1) to data (t = 0).
#pragma once

#include <concepts>
#include <span>

#include "dnft/concepts/policy.hpp"

namespace dnft {

//! @brief A sampler: integrates a velocity field over a decreasing time grid.
//!
//! @par Customization
//! Provide `void sample(P& field, state_view_t<P> x, condition_span_t<P> c, std::span<const double> grid)`:
//! on entry x (B, D) holds the state at grid.front() (pure noise when grid.front() = 1), on exit
//! the state at grid.back() (the clean sample when grid.back() = 0). The grid must be strictly
//! decreasing, from at most 1 down to at least 0 (solvers throw dnft::value_error otherwise).
//! A solver may keep scratch buffers and multistep history between steps of one call; separate
//! calls are independent. Stochastic solvers draw their noise from counter-based Philox streams
//! they own, so a seeded run is reproducible (see stochastic_solver).
template <class S, class P>
concept solver = velocity_field<P> &&
                 requires(S& s, P& p, state_view_t<P> x, condition_span_t<P> c, std::span<const double> grid) {
                   s.sample(p, x, c, grid);
                 };

//! @brief What a stochastic solver records: the states x_0 .. x_N of one sampling call and, for
//! each step, its transition kernel and per-sample log-probability (dnft::trajectory is the
//! library's model).
//!
//! @par Customization
//! `steps()` (N); `state(k)`, a (B, D) view of x_k for 0 <= k <= N; `log_prob(k)`, a (B) view of
//! log p(x_{k+1} | x_k) for 0 <= k < N; `sigma(k)`, the time of x_k; `transition(k)`, the step's
//! Gaussian kernel (a dnft::gaussian_transition: mean = cx x + cv v, standard deviation scale),
//! from which a trainer recomputes log p_theta(x_{k+1} | x_k) with dnft::transition_log_prob.
template <class R>
concept trajectory_record = requires(const R& r, index_t k) {
  { r.steps() } -> std::convertible_to<index_t>;
  { r.sigma(k) } -> std::convertible_to<double>;
  { r.state(k) } -> view_type;
  { r.log_prob(k) } -> view_type;
  r.transition(k);
};

//! @brief A solver that draws noise (flow SDE, DDIM with eta > 0) and can record its trajectory
//! with per-step log-probabilities (what FlowGRPO trains on).
//!
//! @par Customization
//! In addition to solver: `typename S::template trajectory_type<P>` and
//! `void sample(P&, state_view_t<P> x, condition_span_t<P> c, std::span<const double> grid, trajectory_type<P>& rec)`
//! which records every state and the log-probability of each transition under the sampling
//! field (the trajectory type is a trajectory_record); `std::uint64_t seed` and
//! `std::uint64_t stream` members select the Philox stream (the stream advances by one per
//! sample() call).
template <class S, class P>
concept stochastic_solver =
    solver<S, P> && trajectory_record<typename S::template trajectory_type<P>> &&
    requires(S& s, P& p, state_view_t<P> x, condition_span_t<P> c, std::span<const double> grid,
             typename S::template trajectory_type<P>& rec) {
      s.sample(p, x, c, grid, rec);
      s.seed;
      s.stream;
    };

}  // namespace dnft
