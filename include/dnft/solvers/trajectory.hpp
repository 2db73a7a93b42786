// SPDX-License-Identifier: Apache-2.0
// dnft: trajectory, what a stochastic solver records: every state, each transition's
// coefficients and each step's per-sample log-probability (what FlowGRPO trains on).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/sde_step.hpp"
#include "dnft/error.hpp"
#include "dnft/execution.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The recorded trajectory of one stochastic sampling call: states x_0 .. x_N at the grid
//! times sigma_0 > ... > sigma_N, and for each step k the transition kernel
//! x_{k+1} ~ N(cx x_k + cv v(x_k), scale^2 I) and log p(x_{k+1} | x_k) per sample under the
//! sampling field.
//!
//! FlowGRPO's training step k uses (state(k), state(k + 1), log_prob(k), transition(k)):
//! @code
//!   dnft::transition_log_prob(ex, rec.transition(k), rec.state(k), rec.state(k + 1), v_theta, logp_theta, dlogp_dv);
//! @endcode
//! Storage is allocated by the executor (host or device memory): (N + 1) B D values of T and
//! N B doubles.
//! @tparam T     element type of the states
//! @tparam Exec  the executor whose memory holds the states and log-probabilities
template <class T, class Exec = host_executor>
class trajectory {
 public:
  using value_type = T;
  using executor_type = Exec;
  using space_type = typename Exec::space_type;

  trajectory() = default;

  //! N, the number of steps (0 before the first recording).
  index_t steps() const noexcept { return index_t(transitions_.size()); }
  //! B, the number of samples.
  index_t batch() const noexcept { return batch_; }
  //! D, the elements per sample.
  index_t dim() const noexcept { return dim_; }
  //! The N + 1 grid times.
  std::span<const double> grid() const noexcept { return grid_; }
  //! sigma_k, the time of state(k), for 0 <= k <= N.
  double sigma(index_t k) const {
    check(k, steps() + 1, "k", "sigma");
    return grid_[std::size_t(k)];
  }

  //! (B, D) the state x_k at sigma_k, for 0 <= k <= N.
  tensor_view<T, 2, space_type> state(index_t k) {
    check(k, steps() + 1, "k", "state");
    return {states_.data() + k * batch_ * dim_, {batch_, dim_}, {dim_, 1}};
  }
  tensor_view<const T, 2, space_type> state(index_t k) const {
    check(k, steps() + 1, "k", "state");
    return {states_.data() + k * batch_ * dim_, {batch_, dim_}, {dim_, 1}};
  }
  //! (N + 1, B, D) all states.
  tensor_view<T, 3, space_type> states() noexcept {
    return {states_.data(), {steps() + 1, batch_, dim_}, {batch_ * dim_, dim_, 1}};
  }
  tensor_view<const T, 3, space_type> states() const noexcept {
    return {states_.data(), {steps() + 1, batch_, dim_}, {batch_ * dim_, dim_, 1}};
  }

  //! (B) log p(x_{k+1} | x_k) per sample under the sampling field, for 0 <= k < N.
  tensor_view<double, 1, space_type> log_prob(index_t k) {
    check(k, steps(), "k", "log_prob");
    return {log_probs_.data() + k * batch_, {batch_}, {1}};
  }
  tensor_view<const double, 1, space_type> log_prob(index_t k) const {
    check(k, steps(), "k", "log_prob");
    return {log_probs_.data() + k * batch_, {batch_}, {1}};
  }
  //! (N, B) all log-probabilities.
  tensor_view<const double, 2, space_type> log_probs() const noexcept {
    return {log_probs_.data(), {steps(), batch_}, {batch_, 1}};
  }

  //! The transition kernel of step k (coefficients, scale, sigma_k and sigma_{k+1}), 0 <= k < N.
  const gaussian_transition& transition(index_t k) const {
    check(k, steps(), "k", "transition");
    return transitions_[std::size_t(k)];
  }

  //! Prepares storage for a recording of `grid.size() - 1` steps of (B, D) states; keeps the
  //! allocation when the sizes do not change. Called by the solvers.
  void reset(const Exec& ex, index_t batch, index_t dim, std::span<const double> grid) {
    const index_t n = index_t(grid.size()) - 1;
    const index_t ns = (n + 1) * batch * dim, nl = n * batch;
    if (states_.size() != ns) states_ = ex.template allocate<T>(ns);
    if (log_probs_.size() != nl) log_probs_ = ex.template allocate<double>(nl);
    batch_ = batch;
    dim_ = dim;
    grid_.assign(grid.begin(), grid.end());
    transitions_.assign(std::size_t(n), gaussian_transition{});
  }

  //! Sets the transition of step k. Called by the solvers.
  void set_transition(index_t k, const gaussian_transition& t) {
    check(k, steps(), "k", "set_transition");
    transitions_[std::size_t(k)] = t;
  }

 private:
  static void check(index_t k, index_t n, const char* arg, const char* fn) {
    if (k < 0 || k >= n)
      detail::fail<value_error>(std::string("trajectory::") + fn, arg,
                                "expected an index in [0, " + std::to_string(n) + "), got " + std::to_string(k));
  }

  buffer_t<Exec, T> states_{};
  buffer_t<Exec, double> log_probs_{};
  std::vector<double> grid_;
  std::vector<gaussian_transition> transitions_;
  index_t batch_ = 0;
  index_t dim_ = 0;
};

}  // namespace dnft
