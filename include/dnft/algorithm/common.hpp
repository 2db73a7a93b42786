// SPDX-License-Identifier: Apache-2.0
// dnft: what every algorithm front door shares: the "no tensor" marker, argument checks.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/error.hpp"
#include "dnft/execution.hpp"
#include "dnft/random/philox.hpp"
#include "dnft/tensor/traits.hpp"

namespace dnft {

//! Passed in place of an optional tensor argument (e.g. no v_ref, no gradient output).
struct no_tensor_t {
  explicit constexpr no_tensor_t() = default;
};
inline constexpr no_tensor_t none{};

template <class T>
inline constexpr bool is_none_v = std::is_same_v<std::remove_cvref_t<T>, no_tensor_t>;

//! A tensor_like argument or dnft::none.
template <class T>
concept optional_tensor = tensor_like<T> || is_none_v<T>;

template <class T>
inline constexpr bool always_false_v = false;

namespace detail {

//! Converts a tensor argument to a batch view and checks its memory space for `Exec`.
template <class Exec, class T>
auto batch_arg(T&& t, std::string_view fn, std::string_view arg) {
  auto v = as_view(t);
  using V = decltype(v);
  static_assert(accessible_from<Exec, typename V::space_type>,
                "dnft: a tensor lives in a memory space this executor cannot read (host tensor passed to "
                "dnft::cuda::executor, or device tensor passed to dnft::host?)");
  return to_batch(v, fn, arg);
}

template <class Exec, class T>
auto vector_arg(T&& t, std::string_view fn, std::string_view arg) {
  auto v = as_view(t);
  using V = decltype(v);
  static_assert(accessible_from<Exec, typename V::space_type>,
                "dnft: a tensor lives in a memory space this executor cannot read (host tensor passed to "
                "dnft::cuda::executor, or device tensor passed to dnft::host?)");
  return to_vector(v, fn, arg);
}

template <class A, class B>
void require_same_shape(const A& a, std::string_view a_name, const B& b, std::string_view b_name,
                        std::string_view fn) {
  if (a.batch != b.batch || a.elements != b.elements)
    fail<shape_error>(fn, b_name,
                      "expected the shape of " + std::string(a_name) + " " + shape_string(a.batch, a.elements) +
                          " (batch, elements per sample), got " + shape_string(b.batch, b.elements));
}

template <class V>
void require_batch_size(const V& v, index_t b, std::string_view name, std::string_view fn) {
  if (v.size != b)
    fail<shape_error>(fn, name,
                      "expected one value per sample (" + std::to_string(b) + "), got " + std::to_string(v.size));
}

inline void require_positive(double v, std::string_view name, std::string_view fn) {
  if (!(v > 0) || !isfinite(v)) fail<value_error>(fn, name, "expected a finite value > 0, got " + num(v));
}

inline void require_nonnegative(double v, std::string_view name, std::string_view fn) {
  if (!(v >= 0) || !isfinite(v)) fail<value_error>(fn, name, "expected a finite value >= 0, got " + num(v));
}

inline void require_in_range(double v, double lo, double hi, std::string_view name, std::string_view fn) {
  if (!(v >= lo && v <= hi))
    fail<value_error>(fn, name, "expected a value in [" + num(lo) + ", " + num(hi) + "], got " + num(v));
}

//! Every per-sample scalar finite (and optionally inside [lo, hi]); names the first bad sample.
template <class V>
void require_finite_values(const V& v, std::string_view name, std::string_view fn) {
  for (index_t i = 0; i < v.size; ++i)
    if (!isfinite(double(v[i])))
      fail<value_error>(fn, name, "non-finite value " + num(double(v[i])) + " at sample " + std::to_string(i));
}

template <class V>
void require_values_in(const V& v, double lo, double hi, std::string_view name, std::string_view fn) {
  for (index_t i = 0; i < v.size; ++i) {
    const double x = double(v[i]);
    if (!(x >= lo && x <= hi))
      fail<value_error>(fn, name,
                        "expected values in [" + num(lo) + ", " + num(hi) + "], got " + num(x) + " at sample " +
                            std::to_string(i));
  }
}

//! Finds the first non-finite element of a batch argument, for error messages.
template <class B>
bool find_nonfinite(const B& b, index_t i, index_t& d_out, double& v_out) {
  for (index_t d = 0; d < b.elements; ++d) {
    const double x = double(b(i, d));
    if (!isfinite(x)) {
      d_out = d;
      v_out = x;
      return true;
    }
  }
  return false;
}

//! True for memory spaces whose values the host can read (error messages after a backend ran).
template <class S>
inline constexpr bool host_readable_v = std::is_same_v<S, host_space> || std::is_same_v<S, managed_space>;

//! True when a front door checks the values of a tensor in space S on the host before handing
//! it to executor E: host memory always; managed memory only when E itself runs on the host. For
//! a device executor, managed inputs may still be written by work queued on its stream (reading
//! them here would race that work, and fault where the device lacks concurrent managed access),
//! so its backend checks them in its kernels, after that work, as it does for device memory.
template <class E, class S>
inline constexpr bool host_checkable_v =
    std::is_same_v<S, host_space> || (std::is_same_v<S, managed_space> && E::template can_access<host_space>);

//! The same batch view with const elements.
template <class T, class V>
auto const_batch(const V& v) {
  return batch_view<const T, typename V::space_type>{v.data, v.batch, v.elements, v.sample_stride, v.elem_stride};
}

//! The noise argument of the forward-process algorithms: a (B, D...) tensor of eps with element
//! type `T` (returned as a const batch view), or a philox_normal (returned as is).
template <class Exec, class T, class Noise>
auto noise_input(const Noise& noise, std::string_view fn) {
  if constexpr (std::is_same_v<std::remove_cvref_t<Noise>, philox_normal>) {
    return philox_normal(noise);
  } else {
    static_assert(tensor_like<Noise>, "dnft: noise must be a tensor (eps, same shape as x0) or a dnft::philox_normal");
    auto v = batch_arg<Exec>(noise, fn, "noise");
    static_assert(std::is_same_v<std::remove_const_t<typename decltype(v)::element_type>, T>,
                  "dnft: noise must have the same element type as x0");
    return const_batch<T>(v);
  }
}

//! A (B, D...) input: non-empty, converted to a const batch view.
template <class Exec, class T>
auto nonempty_batch_arg(T&& t, std::string_view fn, std::string_view arg) {
  auto v = batch_arg<Exec>(t, fn, arg);
  if (v.batch <= 0) fail<shape_error>(fn, arg, "expected a non-empty batch, got 0 samples");
  if (v.elements <= 0) fail<shape_error>(fn, arg, "expected at least one element per sample, got 0");
  return v;
}

}  // namespace detail
}  // namespace dnft
