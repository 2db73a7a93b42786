// SPDX-License-Identifier: Apache-2.0
// dnft: what every solver shares: grid and argument checks, calling the velocity field, the
// loop of a stochastic (Gaussian-step) sampler.
#pragma once
// IWYU pragma: private

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "dnft/algorithm/common.hpp"
#include "dnft/algorithm/lincomb.hpp"
#include "dnft/algorithm/sde_step.hpp"
#include "dnft/concepts/policy.hpp"
#include "dnft/detail/solver_steps.hpp"
#include "dnft/detail/views.hpp"
#include "dnft/execution.hpp"
#include "dnft/solvers/trajectory.hpp"

namespace dnft::detail {

//! A time grid: at least two points, every one finite and in [0, 1], strictly decreasing.
inline void validate_grid(std::span<const double> grid, std::string_view fn) {
  if (grid.size() < 2)
    fail<value_error>(fn, "grid",
                      "expected at least 2 times (one step), got " + std::to_string(grid.size()));
  for (std::size_t k = 0; k < grid.size(); ++k) {
    const double s = grid[k];
    if (!(s >= 0.0 && s <= 1.0))
      fail<value_error>(fn, "grid",
                        "expected times in [0, 1], got grid[" + std::to_string(k) + "] = " + num(s));
    if (k > 0 && !(s < grid[k - 1]))
      fail<value_error>(fn, "grid",
                        "expected a strictly decreasing grid, got grid[" + std::to_string(k) + "] = " + num(s) +
                            " after grid[" + std::to_string(k - 1) + "] = " + num(grid[k - 1]));
  }
}

//! Checks a solver's arguments and returns the state as a (B, D) batch view.
template <class Exec, class P, class X>
auto solver_state(const P& field, X&& x, std::size_t conditions, std::span<const double> grid, std::string_view fn) {
  using T = policy_value_t<P>;
  using S = policy_space_t<P>;
  using E = std::remove_cvref_t<Exec>;
  static_assert(tensor_like<X>, "dnft: a solver's state x must be a tensor (B, D...)");
  static_assert(std::is_same_v<typename E::space_type, S>,
                "dnft: the solver's executor allocates in another memory space than the velocity field reads; "
                "use an executor of the field's space");
  auto bx = batch_arg<E>(x, fn, "x");
  static_assert(std::is_same_v<typename decltype(bx)::element_type, T>,
                "dnft: a solver's state x must be a writable tensor of the velocity field's value_type");
  static_assert(std::is_same_v<typename decltype(bx)::space_type, S>,
                "dnft: a solver's state x must live in the velocity field's memory space");
  validate_grid(grid, fn);
  if (bx.batch <= 0) fail<shape_error>(fn, "x", "expected a non-empty batch, got 0 samples");
  const index_t d = static_cast<index_t>(field.dim());
  if (bx.elements != d)
    fail<shape_error>(fn, "x",
                      "expected " + std::to_string(d) + " elements per sample (the field's dim()), got " +
                          std::to_string(bx.elements) + " (x has shape " + shape_string(bx.batch, bx.elements) + ")");
  if (index_t(conditions) != bx.batch)
    fail<shape_error>(fn, "c",
                      "expected one condition per sample (" + std::to_string(bx.batch) + "), got " +
                          std::to_string(conditions));
  require_distinct(bx, fn, "x");
  return bx;
}

//! Evaluates a velocity field at one time for the whole batch; owns the (B) time buffer.
template <class Exec, class P>
class field_caller {
 public:
  using T = policy_value_t<P>;
  using S = policy_space_t<P>;

  field_caller(const Exec& ex, P& field, condition_span_t<P> c, index_t batch)
      : ex_(ex), field_(field), c_(c), batch_(batch), t_(ex.template allocate<T>(batch)) {}

  //! v = field(x, sigma, c): x and v are (B, D).
  void operator()(const batch_view<T, S>& x, double sigma, const batch_view<T, S>& v) {
    if (!(sigma == last_)) {
      lincomb_views(ex_, packed_batch<S>(t_.data(), batch_, 1), sigma, {});
      last_ = sigma;
    }
    const time_view_t<P> t{t_.data(), {batch_}, {1}};
    field_.predict(as_matrix(as_const_view(x)), t, c_, as_matrix(v));
    ++evaluations_;
  }

  //! Number of field evaluations so far.
  index_t evaluations() const noexcept { return evaluations_; }

 private:
  const Exec& ex_;
  P& field_;
  condition_span_t<P> c_;
  index_t batch_;
  buffer_t<Exec, T> t_;
  double last_ = -1.0;
  index_t evaluations_ = 0;
};

//! One deterministic step x_out = cx x + cv v (+ cp m_prev when cp != 0).
template <class Exec, class T, class S>
void apply_linear_step(const Exec& ex, const linear_step& st, const batch_view<T, S>& x_out, const batch_view<T, S>& x,
                       const batch_view<T, S>& v, const batch_view<T, S>* m_prev = nullptr) {
  if (m_prev && st.cp != 0.0)
    lincomb_views(ex, x_out, 0.0, {st.cx, st.cv, st.cp}, x, v, *m_prev);
  else
    lincomb_views(ex, x_out, 0.0, {st.cx, st.cv}, x, v);
}

//! A stochastic sampler's stream must fit the 32 bits step_noise uses.
inline void validate_stream(std::uint64_t stream, std::string_view fn) {
  if (stream > 0xffffffffull)
    fail<value_error>(fn, "stream",
                      "expected a call counter below 2^32 (the step index fills the other 32 bits of the Philox "
                      "stream), got " +
                          std::to_string(stream));
}

//! @brief The loop of a Gaussian-step sampler: for each step k, v = field(x_k), then
//! x_{k+1} = cx x_k + cv v + scale xi_k with the kernel `transition(k)` and noise
//! step_noise(seed, stream, k); optionally records into `rec`.
template <class Exec, class P, class X, class Transition, class Rec>
void sample_gaussian_chain(const Exec& ex, P& field, X&& x, condition_span_t<P> c, std::span<const double> grid,
                           std::string_view fn, std::uint64_t seed, std::uint64_t stream, Transition&& transition,
                           Rec* rec) {
  using T = policy_value_t<P>;
  using S = policy_space_t<P>;
  const auto xs = solver_state<Exec>(field, x, c.size(), grid, fn);
  validate_stream(stream, fn);
  const index_t B = xs.batch, D = xs.elements, N = index_t(grid.size()) - 1;
  field_caller<Exec, P> f(ex, field, c, B);
  auto vbuf = ex.template allocate<T>(B * D);
  const auto v = packed_batch<S>(vbuf.data(), B, D);
  auto state = [&](index_t k) { return packed_batch<S>(rec->state(k).data, B, D); };
  if (rec) {
    rec->reset(ex, B, D, grid);
    lincomb_views(ex, state(0), 0.0, {1.0}, xs);
  }
  for (index_t k = 0; k < N; ++k) {
    const gaussian_transition tr = transition(k);
    const auto cur = rec ? state(k) : xs;
    const auto next = rec ? state(k + 1) : xs;
    f(cur, grid[std::size_t(k)], v);
    index_t bad;
    if (rec) {
      const vector_view<double, S> lp{rec->log_prob(k).data, B, 1};
      bad = sde_step_views(ex, tr, as_const_view(cur), as_const_view(v), next, step_noise(seed, stream, std::uint64_t(k)),
                           lp);
      rec->set_transition(k, tr);
    } else {
      bad = sde_step_views(ex, tr, as_const_view(cur), as_const_view(v), next, step_noise(seed, stream, std::uint64_t(k)),
                           no_output{});
    }
    // v first: without a recording the step ran in place, so x may already hold the result
    if (bad >= 0)
      report_nonfinite_sample<S>(std::string(fn) + " (step " + std::to_string(k) + ")", bad,
                                 std::pair{"v (the field's velocity)", as_const_view(v)}, std::pair{"x", as_const_view(cur)});
  }
  if (rec) lincomb_views(ex, xs, 0.0, {1.0}, state(N));
}

}  // namespace dnft::detail
