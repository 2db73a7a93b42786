// SPDX-License-Identifier: Apache-2.0
// dnft: tensor_view, the one vocabulary type every algorithm works on.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <type_traits>

#include "dnft/config.hpp"
#include "dnft/tensor/memory_space.hpp"

namespace dnft {

using index_t = std::ptrdiff_t;

//! A fixed-size array of indices usable in host and device code (std::array's members are
//! not __device__ without --expt-relaxed-constexpr, which dnft does not impose on users).
template <std::size_t N>
struct index_array {
  index_t v[N];

  DNFT_HOST_DEVICE constexpr index_t& operator[](std::size_t i) noexcept { return v[i]; }
  DNFT_HOST_DEVICE constexpr const index_t& operator[](std::size_t i) const noexcept { return v[i]; }
  DNFT_HOST_DEVICE static constexpr std::size_t size() noexcept { return N; }
  DNFT_HOST_DEVICE constexpr index_t* begin() noexcept { return v; }
  DNFT_HOST_DEVICE constexpr index_t* end() noexcept { return v + N; }
  DNFT_HOST_DEVICE constexpr const index_t* begin() const noexcept { return v; }
  DNFT_HOST_DEVICE constexpr const index_t* end() const noexcept { return v + N; }
  friend constexpr bool operator==(const index_array&, const index_array&) = default;
};

//! @brief A non-owning view of a strided array of rank `Rank` in memory space `Space`.
//!
//! An aggregate of a pointer, extents and strides (both counted in elements; a stride may be
//! 0 to broadcast). It is trivially copyable, so it is passed to kernels by value. `T` may be
//! const. Indexing is `v(i, j, ...)`, row-major by default (see make_view).
//!
//! @tparam T      element type (float, double, or const versions; others are allowed)
//! @tparam Rank   number of axes, >= 1
//! @tparam Space  host_space, device_space or managed_space
template <class T, std::size_t Rank, class Space = host_space>
struct tensor_view {
  static_assert(Rank >= 1, "dnft::tensor_view: Rank must be at least 1; use a rank-1 view of extent 1 for a scalar");
  static_assert(memory_space<Space>,
                "dnft::tensor_view: Space must be dnft::host_space, dnft::device_space or dnft::managed_space");

  using element_type = T;
  using value_type = std::remove_cv_t<T>;
  using space_type = Space;
  using index_type = index_t;
  static constexpr std::size_t rank = Rank;

  T* data = nullptr;
  index_array<Rank> extents{};
  index_array<Rank> strides{};

  DNFT_HOST_DEVICE constexpr index_t extent(std::size_t r) const noexcept { return extents[r]; }
  DNFT_HOST_DEVICE constexpr index_t stride(std::size_t r) const noexcept { return strides[r]; }

  //! Number of elements (the product of the extents).
  DNFT_HOST_DEVICE constexpr index_t size() const noexcept {
    index_t n = 1;
    for (std::size_t r = 0; r < Rank; ++r) n *= extents[r];
    return n;
  }
  DNFT_HOST_DEVICE constexpr bool empty() const noexcept { return size() == 0; }

  //! True when the elements are packed in row-major order (the last axis has stride 1).
  //! Axes of extent 1 may have any stride.
  DNFT_HOST_DEVICE constexpr bool is_contiguous() const noexcept {
    index_t expect = 1;
    for (std::size_t k = Rank; k-- > 0;) {
      if (extents[k] != 1 && strides[k] != expect) return false;
      expect *= extents[k];
    }
    return true;
  }

  template <class... I>
    requires(sizeof...(I) == Rank && (std::is_integral_v<I> && ...))
  DNFT_HOST_DEVICE constexpr T& operator()(I... idx) const noexcept {
    const index_t is[] = {static_cast<index_t>(idx)...};
    index_t off = 0;
    for (std::size_t r = 0; r < Rank; ++r) off += is[r] * strides[r];
    return data[off];
  }

  //! A view of non-const elements converts to a view of const elements. (A template, so that
  //! nvcc does not warn, #554-D, about a conversion to the view's own type when T is const.)
  template <class U = T>
    requires(!std::is_const_v<T> && std::is_same_v<U, T>)
  DNFT_HOST_DEVICE constexpr operator tensor_view<const U, Rank, Space>() const noexcept {
    return {data, extents, strides};
  }
};

template <class V>
inline constexpr bool is_tensor_view_v = false;
template <class T, std::size_t R, class S>
inline constexpr bool is_tensor_view_v<tensor_view<T, R, S>> = true;

//! Satisfied by the specialisations of tensor_view (cv-ref qualified or not).
template <class V>
concept view_type = is_tensor_view_v<std::remove_cvref_t<V>>;

//! Row-major (C order) strides for the given extents.
template <std::size_t Rank>
DNFT_HOST_DEVICE constexpr index_array<Rank> row_major_strides(const index_array<Rank>& ext) noexcept {
  index_array<Rank> s{};
  index_t acc = 1;
  for (std::size_t k = Rank; k-- > 0;) {
    s[k] = acc;
    acc *= ext[k];
  }
  return s;
}

//! @brief Wraps raw memory: a packed row-major view of `ptr` with the given extents.
//! @code
//!   float* p = ...;                                       // 64 x 16 x 64 x 64 floats
//!   auto x = dnft::make_view(p, {64, 16, 64, 64});        // host memory by default
//!   auto d = dnft::make_view(dptr, {64, 65536}, dnft::device_space{});
//! @endcode
template <class T, std::size_t Rank, class Space = host_space>
constexpr tensor_view<T, Rank, Space> make_view(T* ptr, const index_t (&extents)[Rank], Space = {}) noexcept {
  index_array<Rank> e{};
  for (std::size_t r = 0; r < Rank; ++r) e[r] = extents[r];
  return {ptr, e, row_major_strides(e)};
}

//! Wraps raw memory with explicit strides (in elements).
template <class T, std::size_t Rank, class Space = host_space>
constexpr tensor_view<T, Rank, Space> make_view(T* ptr, const index_t (&extents)[Rank], const index_t (&strides)[Rank],
                                                Space = {}) noexcept {
  index_array<Rank> e{}, s{};
  for (std::size_t r = 0; r < Rank; ++r) {
    e[r] = extents[r];
    s[r] = strides[r];
  }
  return {ptr, e, s};
}

}  // namespace dnft
