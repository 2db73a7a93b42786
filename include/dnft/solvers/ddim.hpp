// SPDX-License-Identifier: Apache-2.0
// dnft: ddim_solver, the DDIM-style sampler for flow matching with noise eta (eta = 0 is
// deterministic and equals the Euler step).
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

//! @brief The transition kernel of one DDIM-style step with noise eta:
//!     x0_hat = x - sigma v,   eps_hat = x + (1 - sigma) v,
//!     rho = eta sigma' sqrt(1 - sigma'^2 (1 - sigma)^2 / (sigma^2 (1 - sigma')^2)),
//!     x' = (1 - sigma') x0_hat + sqrt(sigma'^2 - rho^2) eps_hat + rho xi.
//! For eta = 0 this is algebraically x' = x + (sigma' - sigma) v (Euler). A step into sigma' = 0 is
//! deterministic for every eta (rho = 0).
//! @throws value_error unless 0 < sigma <= 1, 0 <= sigma_next < sigma and 0 <= eta <= 1.
inline gaussian_transition ddim_transition(double sigma, double sigma_next, double eta) {
  constexpr std::string_view fn = "ddim_transition";
  if (!(sigma > 0.0 && sigma <= 1.0)) detail::fail<value_error>(fn, "sigma", "expected a value in (0, 1], got " + detail::num(sigma));
  if (!(sigma_next >= 0.0 && sigma_next < sigma))
    detail::fail<value_error>(fn, "sigma_next",
                              "expected a value in [0, sigma = " + detail::num(sigma) + "), got " + detail::num(sigma_next));
  detail::require_in_range(eta, 0.0, 1.0, "eta", fn);
  return detail::ddim_step(sigma, sigma_next, eta);
}

//! @brief DDIM (Song et al. 2021) in the rectified-flow parametrisation, with noise eta in
//! [0, 1] (see ddim_transition). One field evaluation per step. Noise, streams, trajectories and
//! reproducibility as flow_sde_solver; a deterministic step (eta = 0, or a step into 0) records
//! log-probability 0. A model of dnft::stochastic_solver.
//! @tparam Exec  executor of the element-wise work, the scratch buffers and the trajectory
template <class Exec = host_executor>
struct ddim_solver {
  double eta = 1.0;          //!< noise, in [0, 1]
  std::uint64_t seed = 0;    //!< Philox key
  std::uint64_t stream = 0;  //!< call counter (< 2^32), advanced by sample()
  Exec exec{};               //!< the executor of the element-wise work

  //! What sample() records for a field of type P.
  template <class P>
  using trajectory_type = trajectory<policy_value_t<P>, Exec>;

  //! @brief The transition kernel of step k on `grid`.
  //! @throws value_error for a bad grid, k or eta.
  gaussian_transition transition(std::span<const double> grid, index_t k) const {
    constexpr std::string_view fn = "ddim_solver";
    detail::validate_grid(grid, fn);
    detail::require_in_range(eta, 0.0, 1.0, "eta", fn);
    if (k < 0 || k + 1 >= index_t(grid.size()))
      detail::fail<value_error>(fn, "k",
                                "expected a step index in [0, " + std::to_string(grid.size() - 1) + "), got " +
                                    std::to_string(k));
    return detail::ddim_step(grid[std::size_t(k)], grid[std::size_t(k) + 1], eta);
  }

  //! @brief Samples in place; arguments and errors as flow_sde_solver::sample (eta instead of
  //! noise_level).
  template <velocity_field P, tensor_like X>
  void sample(P& field, X&& x, condition_span_t<P> c, std::span<const double> grid) {
    run(field, x, c, grid, static_cast<trajectory_type<P>*>(nullptr));
  }

  //! @brief Samples in place and records the trajectory into `rec`.
  template <velocity_field P, tensor_like X>
  void sample(P& field, X&& x, condition_span_t<P> c, std::span<const double> grid, trajectory_type<P>& rec) {
    run(field, x, c, grid, &rec);
  }

 private:
  template <class P, class X, class Rec>
  void run(P& field, X& x, condition_span_t<P> c, std::span<const double> grid, Rec* rec) {
    constexpr std::string_view fn = "ddim_solver";
    detail::require_in_range(eta, 0.0, 1.0, "eta", fn);
    detail::sample_gaussian_chain(
        exec, field, x, c, grid, fn, seed, stream,
        [&](index_t k) { return detail::ddim_step(grid[std::size_t(k)], grid[std::size_t(k) + 1], eta); }, rec);
    ++stream;
  }
};

}  // namespace dnft
