// SPDX-License-Identifier: Apache-2.0
// dnft: tensor_traits, the one customization point that makes a type usable as a tensor.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

#include "dnft/error.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The customization point: how to see a `T` as a tensor_view.
//!
//! The primary template is empty, so a type without a specialisation simply does not satisfy
//! `tensor_like` (no hard error).
//!
//! @par Customization
//! Specialise `dnft::tensor_traits<YourTensor>` with one static member function
//! @code
//!   template <> struct dnft::tensor_traits<my::tensor> {
//!     static auto view(my::tensor& t)       { return dnft::make_view(t.ptr(), {t.rows(), t.cols()}); }
//!     static auto view(const my::tensor& t) { return dnft::make_view(t.cptr(), {t.rows(), t.cols()}); }
//!   };
//! @endcode
//! that returns a `tensor_view` (const elements for a const argument). The view must describe
//! the memory exactly: extents, strides in elements, and the memory space in its type.
//! A type whose memory space is only known at run time (DLPack, framework tensors)
//! instead provides `template <class Space> static tensor_view<..., Space> view_in(T&)`, which
//! throws dnft::space_error when the tensor does not live in `Space`; `as_view<Space>(t)` calls it.
template <class T>
struct tensor_traits {};

//! A tensor_view is its own view.
template <class T, std::size_t R, class S>
struct tensor_traits<tensor_view<T, R, S>> {
  static constexpr tensor_view<T, R, S> view(const tensor_view<T, R, S>& v) noexcept { return v; }
};

//! std::span: a rank-1 view of host memory.
template <class T, std::size_t N>
struct tensor_traits<std::span<T, N>> {
  static constexpr tensor_view<T, 1> view(const std::span<T, N>& s) noexcept {
    return {s.data(), {static_cast<index_t>(s.size())}, {1}};
  }
};

//! std::vector (not vector<bool>): a rank-1 view of its elements.
template <class T, class A>
  requires(!std::is_same_v<T, bool>)
struct tensor_traits<std::vector<T, A>> {
  static tensor_view<T, 1> view(std::vector<T, A>& v) noexcept { return {v.data(), {static_cast<index_t>(v.size())}, {1}}; }
  static tensor_view<const T, 1> view(const std::vector<T, A>& v) noexcept {
    return {v.data(), {static_cast<index_t>(v.size())}, {1}};
  }
};

//! std::array: a rank-1 view of its elements.
template <class T, std::size_t N>
struct tensor_traits<std::array<T, N>> {
  static constexpr tensor_view<T, 1> view(std::array<T, N>& v) noexcept { return {v.data(), {index_t(N)}, {1}}; }
  static constexpr tensor_view<const T, 1> view(const std::array<T, N>& v) noexcept { return {v.data(), {index_t(N)}, {1}}; }
};

//! Satisfied by every type with a tensor_traits specialisation whose view() accepts it.
template <class T>
concept tensor_like = requires(T& t) {
  { tensor_traits<std::remove_cvref_t<T>>::view(t) } -> view_type;
};

//! @brief The one conversion every algorithm performs first: any tensor_like to its tensor_view.
template <tensor_like T>
constexpr auto as_view(T&& t) {
  return tensor_traits<std::remove_cvref_t<T>>::view(t);
}

//! A tensor whose memory space is a run-time property (e.g. a DLPack tensor).
template <class T, class Space>
concept runtime_space_tensor = memory_space<Space> && requires(T& t) {
  { tensor_traits<std::remove_cvref_t<T>>::template view_in<Space>(t) } -> view_type;
};

//! @brief As as_view, but states the memory space the caller needs.
//! For a type whose space is in its view type this is a compile-time check; for a type whose
//! space is known only at run time it throws dnft::space_error on a mismatch.
template <memory_space Space, class T>
  requires tensor_like<T> || runtime_space_tensor<T, Space>
constexpr auto as_view(T&& t) {
  if constexpr (runtime_space_tensor<T, Space>) {
    return tensor_traits<std::remove_cvref_t<T>>::template view_in<Space>(t);
  } else {
    auto v = tensor_traits<std::remove_cvref_t<T>>::view(t);
    static_assert(std::is_same_v<typename decltype(v)::space_type, Space>,
                  "dnft::as_view<Space>: the tensor lives in another memory space than the one requested");
    return v;
  }
}

//! The view type of a tensor_like `T`.
template <tensor_like T>
using view_t = decltype(as_view(std::declval<T&>()));

//! The element type of a tensor_like (const for read-only tensors).
template <tensor_like T>
using element_t = typename view_t<T>::element_type;

//! The memory space of a tensor_like.
template <tensor_like T>
using space_t = typename view_t<T>::space_type;

//! Satisfied by tensors that can be read from memory space `Space`.
template <class T, class Space>
concept tensor_in = tensor_like<T> && std::is_same_v<space_t<T>, Space>;

}  // namespace dnft
