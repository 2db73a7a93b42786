// SPDX-License-Identifier: Apache-2.0
// dnft: operations on flat parameter buffers: the old-policy soft update and its decay
// schedules, EMA, gradient-norm clipping and the AdamW step.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdio>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/optim.hpp"
#include "dnft/host/optim.hpp"

namespace dnft {

// ---- soft update and decay schedules -------------------------------------------------------

//! @brief The old-policy decay schedule of ALGORITHM.md section 3, step 5:
//!     d(step) = 0 if step < flat, else min((step - flat) * rate, max),
//! step = the number of optimizer steps so far. The reference's three types are
//! decay_schedule::of_type(0) (d = 0: fully on-policy), of_type(1) (flat 0, rate 0.001,
//! max 0.5: the default) and of_type(2) (flat 75, rate 0.0075, max 0.999); other values of the
//! three fields give a user schedule, and any callable double(std::int64_t) is accepted where a
//! schedule is (see decay_function).
struct decay_schedule {
  double flat = 0.0;    //!< steps with d = 0 (finite, >= 0)
  double rate = 0.001;  //!< growth of d per step after `flat` (finite, >= 0)
  double max = 0.5;     //!< the largest d, in [0, 1]

  //! The decay at optimizer step `step` (no validation; soft_update validates).
  constexpr double operator()(std::int64_t step) const noexcept {
    const double s = double(step);
    if (s < flat) return 0.0;
    const double d = (s - flat) * rate;
    return d < max ? d : max;
  }

  //! The reference's decay types 0, 1 and 2.
  //! @throws value_error for any other type
  static decay_schedule of_type(int type) {
    switch (type) {
      case 0:
        return {0.0, 0.0, 0.0};
      case 1:
        return {0.0, 0.001, 0.5};
      case 2:
        return {75.0, 0.0075, 0.999};
      default:
        detail::fail<value_error>("decay_schedule::of_type", "type", "expected 0, 1 or 2, got " + std::to_string(type));
    }
  }
};

//! A decay schedule: any callable taking the optimizer step (std::int64_t) and returning the
//! decay d in [0, 1] (decay_schedule, a lambda, a std::function<double(std::int64_t)>).
template <class F>
concept decay_function = std::is_invocable_r_v<double, const F&, std::int64_t>;

namespace detail {

inline void validate(const decay_schedule& s, std::string_view fn) {
  require_nonnegative(s.flat, "schedule.flat", fn);
  require_nonnegative(s.rate, "schedule.rate", fn);
  require_in_range(s.max, 0.0, 1.0, "schedule.max", fn);
}

template <class F>
double checked_decay(const F& schedule, std::int64_t step, std::string_view fn) {
  if (step < 0) fail<value_error>(fn, "step", "expected an optimizer step count >= 0, got " + std::to_string(step));
  if constexpr (std::is_same_v<F, decay_schedule>) validate(schedule, fn);
  const double d = static_cast<double>(schedule(step));
  if (!(d >= 0.0 && d <= 1.0))
    fail<value_error>(fn, "schedule",
                      "returned " + num(d) + " at step " + std::to_string(step) + ", expected a decay in [0, 1]");
  return d;
}

template <class Exec, class Buffer>
auto writable_flat(Buffer&& b, std::string_view fn, std::string_view name) {
  const auto v = vector_arg<Exec>(b, fn, name);
  using T = typename decltype(v)::element_type;
  static_assert(!std::is_const_v<T> && std::is_floating_point_v<T>,
                "dnft: a flat parameter buffer that is written must be a writable rank-1 tensor of floating-point "
                "values");
  require_distinct(v, fn, name);
  return v;
}

//! " <value>" of element k when the buffer is readable on the host, "" otherwise.
template <class V>
std::string element_text(const V& v, index_t k) {
  if constexpr (host_readable_v<typename V::space_type>) {
    // Formatted directly: building it from " " and num() trips GCC 12's -Wrestrict false
    // positive at -O3.
    char buf[40];
    std::snprintf(buf, sizeof buf, " %.9g", double(v[k]));
    return buf;
  } else {
    return {};
  }
}

template <class T, class V>
auto const_vector(const V& v) {
  return vector_view<const T, typename V::space_type>{v.data, v.size, v.stride};
}

template <class Exec, class T, class Buffer>
auto flat_like(const Buffer& b, index_t size, std::string_view fn, std::string_view name, std::string_view like) {
  const auto v = vector_arg<Exec>(b, fn, name);
  static_assert(std::is_same_v<std::remove_const_t<typename decltype(v)::element_type>, T>,
                "dnft: flat buffers of one operation must have the same element type");
  if (v.size != size)
    fail<shape_error>(fn, name,
                      "expected " + std::to_string(size) + " elements (the size of " + std::string(like) + "), got " +
                          std::to_string(v.size));
  return const_vector<T>(v);
}

}  // namespace detail

//! @brief The decay `schedule` gives at optimizer step `step`, checked.
//! @throws value_error for step < 0, an invalid decay_schedule or a decay outside [0, 1]
template <decay_function F>
double decay_at(const F& schedule, std::int64_t step) {
  return detail::checked_decay(schedule, step, "decay_at");
}

//! @brief old <- d old + (1 - d) theta, elementwise over two flat buffers (the old-policy soft
//! update of ALGORITHM.md section 3, step 5; also a fixed-decay EMA).
//! @param ex     executor
//! @param old    (P) the buffer updated in place (the old policy's parameters)
//! @param theta  (P) the current parameters
//! @param decay  d in [0, 1]: 0 copies theta, 1 keeps old
//! @throws value_error for d outside [0, 1], shape_error for buffers of different sizes or ranks
//!         other than 1, layout_error for an old buffer with stride 0
template <executor Exec, tensor_like Old, tensor_like Theta>
void soft_update(const Exec& ex, Old&& old, const Theta& theta, double decay) {
  constexpr std::string_view fn = "soft_update";
  using E = std::remove_cvref_t<Exec>;
  detail::require_in_range(decay, 0.0, 1.0, "decay", fn);
  const auto o = detail::writable_flat<E>(old, fn, "old");
  using T = typename decltype(o)::element_type;
  const auto th = detail::flat_like<E, T>(theta, o.size, fn, "theta", "old");
  soft_update_backend<E>::run(ex, o, th, decay);
}

//! @brief The soft update with the decay of `schedule` at optimizer step `step`.
//! @returns the decay used
template <executor Exec, tensor_like Old, tensor_like Theta, decay_function F>
double soft_update(const Exec& ex, Old&& old, const Theta& theta, const F& schedule, std::int64_t step) {
  const double d = detail::checked_decay(schedule, step, "soft_update");
  soft_update(ex, old, theta, d);
  return d;
}

// ---- EMA -----------------------------------------------------------------------------------

//! Options of the EMA of the trained parameters (ALGORITHM.md section 3, step 6).
struct ema_options {
  double max_decay = 0.9;  //!< the decay cap (the reference's 0.9), in [0, 1]
  bool warmup = true;      //!< true: min((1 + s) / (10 + s), max_decay); false: max_decay at every step
};

//! @brief The EMA decay at update number `step` (0 for the first update):
//! min((1 + step) / (10 + step), max_decay) with warm-up, max_decay without.
//! @throws value_error for step < 0 or max_decay outside [0, 1]
inline double ema_decay(std::int64_t step, const ema_options& o = {}) {
  constexpr std::string_view fn = "ema_decay";
  if (step < 0) detail::fail<value_error>(fn, "step", "expected an update count >= 0, got " + std::to_string(step));
  detail::require_in_range(o.max_decay, 0.0, 1.0, "max_decay", fn);
  if (!o.warmup) return o.max_decay;
  const double s = double(step);
  const double d = (1.0 + s) / (10.0 + s);
  return d < o.max_decay ? d : o.max_decay;
}

//! @brief ema <- d ema + (1 - d) theta with d = ema_decay(step, opt).
//! @param ema    (P) the EMA buffer, updated in place
//! @param theta  (P) the current parameters
//! @param step   the number of EMA updates before this one
//! @returns the decay used
template <executor Exec, tensor_like Ema, tensor_like Theta>
double ema_update(const Exec& ex, Ema&& ema, const Theta& theta, std::int64_t step, const ema_options& opt = {}) {
  const double d = ema_decay(step, opt);
  constexpr std::string_view fn = "ema_update";
  using E = std::remove_cvref_t<Exec>;
  const auto o = detail::writable_flat<E>(ema, fn, "ema");
  using T = typename decltype(o)::element_type;
  const auto th = detail::flat_like<E, T>(theta, o.size, fn, "theta", "ema");
  soft_update_backend<E>::run(ex, o, th, d);
  return d;
}

// ---- gradient norm and clipping ------------------------------------------------------------

//! @brief The Euclidean norm of a flat buffer, accumulated in double over fixed chunks combined
//! in order (the same value for every thread count). Not finite when an element is not.
template <executor Exec, tensor_like X>
double l2_norm(const Exec& ex, const X& x) {
  using E = std::remove_cvref_t<Exec>;
  const auto v = detail::vector_arg<E>(x, "l2_norm", "x");
  using T = std::remove_const_t<typename decltype(v)::element_type>;
  return std::sqrt(grad_norm_backend<E>::sum_squares(ex, detail::const_vector<T>(v)));
}

//! @brief Global gradient-norm clipping as PyTorch's clip_grad_norm_: with n the Euclidean norm
//! of `grads`, multiplies grads by max_norm / (n + 1e-6) when that is below 1.
//! @param grads     (P) the flat gradient buffer, scaled in place
//! @param max_norm  the largest norm kept (> 0; 1.0 in the reference)
//! @returns n, the norm before clipping (deterministic in the thread count)
//! @throws value_error for max_norm <= 0 or a non-finite norm (naming grads and the first
//!         non-finite element; grads is then unchanged)
template <executor Exec, tensor_like Grads>
double clip_grad_norm(const Exec& ex, Grads&& grads, double max_norm) {
  constexpr std::string_view fn = "clip_grad_norm";
  using E = std::remove_cvref_t<Exec>;
  detail::require_positive(max_norm, "max_norm", fn);
  const auto g = detail::writable_flat<E>(grads, fn, "grads");
  using T = typename decltype(g)::element_type;
  const auto cg = detail::const_vector<T>(g);
  const double norm = std::sqrt(grad_norm_backend<E>::sum_squares(ex, cg));
  if (!detail::isfinite(norm)) {
    const index_t k = grad_norm_backend<E>::first_nonfinite(ex, cg);
    if (k >= 0)
      detail::fail<value_error>(fn, "grads",
                                "the gradient norm is not finite: non-finite value" + detail::element_text(g, k) +
                                    " at element " + std::to_string(k));
    detail::fail<value_error>(fn, "grads", "the gradient norm overflowed (elements of magnitude above about 1e150)");
  }
  const double c = detail::clip_coefficient(norm, max_norm);
  if (c < 1.0) grad_norm_backend<E>::scale(ex, g, c);
  return norm;
}

// ---- AdamW ---------------------------------------------------------------------------------

//! @brief AdamW hyperparameters; the defaults are ALGORITHM.md section 3, step 4.
struct adamw_options {
  double lr = 3e-4;            //!< learning rate (>= 0)
  double beta1 = 0.9;          //!< first-moment decay, in [0, 1)
  double beta2 = 0.999;        //!< second-moment decay, in [0, 1)
  double weight_decay = 1e-4;  //!< decoupled weight decay (>= 0): p -= lr * weight_decay * p
  double eps = 1e-8;           //!< added to the bias-corrected sqrt(v) (>= 0)
  bool check_finite = true;    //!< refuse non-finite gradients before changing anything
};

//! @brief One AdamW step, operation for operation as PyTorch's torch.optim.AdamW
//! (single-tensor path, amsgrad off, maximize off):
//!     p <- p (1 - lr wd);  m <- m + (1 - beta1)(g - m);  v <- beta2 v + (1 - beta2) g^2;
//!     p <- p - lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps).
//! @param params  (P) parameters, updated in place
//! @param grads   (P) gradients
//! @param m       (P) first moments (zero before the first step), updated in place
//! @param v       (P) second moments (zero before the first step), updated in place
//! @param step    this step's number, 1 for the first step (PyTorch's state["step"] after its
//!                increment)
//! @throws value_error for invalid options, step < 1, or (check_finite) a non-finite gradient
//!         (naming grads and the element; nothing is changed then); shape_error for buffers of
//!         different sizes
template <executor Exec, tensor_like Params, tensor_like Grads, tensor_like M, tensor_like V>
void adamw_step(const Exec& ex, Params&& params, const Grads& grads, M&& m, V&& v, std::int64_t step,
                const adamw_options& opt = {}) {
  constexpr std::string_view fn = "adamw_step";
  using E = std::remove_cvref_t<Exec>;
  detail::require_nonnegative(opt.lr, "lr", fn);
  if (!(opt.beta1 >= 0.0 && opt.beta1 < 1.0))
    detail::fail<value_error>(fn, "beta1", "expected a value in [0, 1), got " + detail::num(opt.beta1));
  if (!(opt.beta2 >= 0.0 && opt.beta2 < 1.0))
    detail::fail<value_error>(fn, "beta2", "expected a value in [0, 1), got " + detail::num(opt.beta2));
  detail::require_nonnegative(opt.weight_decay, "weight_decay", fn);
  detail::require_nonnegative(opt.eps, "eps", fn);
  if (step < 1)
    detail::fail<value_error>(fn, "step", "expected the 1-based step number (>= 1), got " + std::to_string(step));

  const auto p = detail::writable_flat<E>(params, fn, "params");
  using T = typename decltype(p)::element_type;
  const auto g = detail::flat_like<E, T>(grads, p.size, fn, "grads", "params");
  const auto mv = detail::writable_flat<E>(m, fn, "m");
  const auto vv = detail::writable_flat<E>(v, fn, "v");
  static_assert(
      std::is_same_v<typename decltype(mv)::element_type, T> && std::is_same_v<typename decltype(vv)::element_type, T>,
      "dnft::adamw_step: params, grads, m and v must have the same element type");
  if (mv.size != p.size)
    detail::fail<shape_error>(
        fn, "m",
        "expected " + std::to_string(p.size) + " elements (the size of params), got " + std::to_string(mv.size));
  if (vv.size != p.size)
    detail::fail<shape_error>(
        fn, "v",
        "expected " + std::to_string(p.size) + " elements (the size of params), got " + std::to_string(vv.size));
  if (opt.check_finite) {
    const index_t k = grad_norm_backend<E>::first_nonfinite(ex, g);
    if (k >= 0)
      detail::fail<value_error>(fn, "grads",
                                "non-finite value" + detail::element_text(g, k) + " at element " + std::to_string(k) +
                                    "; nothing was updated");
  }
  adamw_backend<E>::run(ex, p, g, mv, vv,
                        detail::make_adamw_scalars(opt.lr, opt.beta1, opt.beta2, opt.weight_decay, opt.eps, step));
}

}  // namespace dnft
