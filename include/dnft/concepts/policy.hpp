// SPDX-License-Identifier: Apache-2.0
// dnft: the policy concepts: velocity_field (what a solver needs) and trainable_policy (what a
// trainer needs).
#pragma once

#include <concepts>
#include <span>

#include "dnft/tensor/memory_space.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

template <class P>
using policy_value_t = typename P::value_type;
template <class P>
using policy_space_t = typename P::space_type;
template <class P>
using condition_t = typename P::condition_type;

//! (B, D) states, velocities and gradients of a policy, in its memory space.
template <class P>
using state_view_t = tensor_view<policy_value_t<P>, 2, policy_space_t<P>>;
template <class P>
using const_state_view_t = tensor_view<const policy_value_t<P>, 2, policy_space_t<P>>;
//! (B) times of a batch, in the policy's memory space.
template <class P>
using time_view_t = tensor_view<const policy_value_t<P>, 1, policy_space_t<P>>;
//! (B) per-sample conditions (prompt ids, embedding indices, ...), in host memory.
template <class P>
using condition_span_t = std::span<const condition_t<P>>;
//! A flat parameter or gradient buffer.
template <class P>
using param_view_t = tensor_view<policy_value_t<P>, 1, policy_space_t<P>>;
template <class P>
using const_param_view_t = tensor_view<const policy_value_t<P>, 1, policy_space_t<P>>;

//! @brief A velocity field v(x_t, t, c): everything a solver needs.
//!
//! @par Customization
//! A model provides
//! - `value_type` (float or double), `space_type` (dnft::host_space or dnft::device_space) and
//!   `condition_type` (the per-sample condition: an int prompt id, an index, a small struct);
//! - `index_t dim() const`: D, the number of elements of one sample;
//! - `void predict(const_state_view_t x, time_view_t t, condition_span_t c, state_view_t v)`:
//!   writes v[i, :] = v(x[i, :], t[i], c[i]) for the B rows of x (x and v are (B, D), t is (B),
//!   c has B entries; B may differ from call to call).
//! Time runs from 1 (noise) to 0 (data); x_t = (1 - t) x0 + t eps and the exact velocity is
//! eps - x0. A test in tests/concepts/ shows a minimal user-written model.
template <class P>
concept velocity_field =
    requires {
      typename P::value_type;
      typename P::space_type;
      typename P::condition_type;
    } && std::floating_point<policy_value_t<P>> && memory_space<policy_space_t<P>> &&
    requires(P& p, const P& cp, const_state_view_t<P> x, time_view_t<P> t, condition_span_t<P> c, state_view_t<P> v) {
      { cp.dim() } -> std::convertible_to<index_t>;
      p.predict(x, t, c, v);
    };

//! @brief A velocity field that classifier-free guidance can be applied to: it has a null
//! ("unconditional") condition.
//! @par Customization
//! Provide `condition_type null_condition() const`.
template <class P>
concept guidable_field = velocity_field<P> && requires(const P& p) {
  { p.null_condition() } -> std::convertible_to<condition_t<P>>;
};

//! @brief A velocity field a trainer can improve.
//!
//! @par Customization
//! In addition to velocity_field, a model provides
//! - `void forward(x, t, c, v)`: as predict, but keeps what backward needs (the activations of
//!   this call; the next forward may overwrite them);
//! - `void backward(const_state_view_t dv)`: given dL/dv for the last forward's output,
//!   *accumulates* dL/dparameters into gradients();
//! - `param_view_t parameters()` and `param_view_t gradients()`: all parameters and their
//!   gradients as one flat buffer each, of the same size (so soft update, EMA, gradient clipping
//!   and the optimizer are generic kernels over buffers); const versions return const views;
//! - `void zero_grad()`;
//! - copy construction and assignment that copy the parameters (the old and reference policies
//!   are copies of the trained one).
template <class P>
concept trainable_policy =
    velocity_field<P> && std::copy_constructible<P> && std::is_copy_assignable_v<P> &&
    requires(P& p, const P& cp, const_state_view_t<P> x, time_view_t<P> t, condition_span_t<P> c, state_view_t<P> v,
             const_state_view_t<P> dv) {
      p.forward(x, t, c, v);
      p.backward(dv);
      { p.parameters() } -> std::convertible_to<param_view_t<P>>;
      { p.gradients() } -> std::convertible_to<param_view_t<P>>;
      { cp.parameters() } -> std::convertible_to<const_param_view_t<P>>;
      p.zero_grad();
    };

}  // namespace dnft
