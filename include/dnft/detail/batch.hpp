// SPDX-License-Identifier: Apache-2.0
// dnft: (batch, elements) and per-sample vector views, the forms kernels work on.
#pragma once
// IWYU pragma: private

#include <cstdlib>
#include <string>
#include <string_view>

#include "dnft/config.hpp"
#include "dnft/error.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

//! A tensor read as B samples of D elements: element (i, d) is data[i * sample_stride + d * elem_stride].
template <class T, class Space>
struct batch_view {
  using element_type = T;
  using space_type = Space;
  T* data = nullptr;
  index_t batch = 0;
  index_t elements = 0;
  index_t sample_stride = 0;
  index_t elem_stride = 1;

  DNFT_HOST_DEVICE constexpr T* sample(index_t i) const noexcept { return data + i * sample_stride; }
  DNFT_HOST_DEVICE constexpr T& operator()(index_t i, index_t d) const noexcept {
    return data[i * sample_stride + d * elem_stride];
  }
  DNFT_HOST_DEVICE constexpr bool unit_stride() const noexcept { return elem_stride == 1; }
};

//! A rank-1 tensor of per-sample scalars (t, advantages, rewards).
template <class T, class Space>
struct vector_view {
  using element_type = T;
  using space_type = Space;
  T* data = nullptr;
  index_t size = 0;
  index_t stride = 1;

  DNFT_HOST_DEVICE constexpr T& operator[](index_t i) const noexcept { return data[i * stride]; }
};

template <class T, std::size_t R, class S>
std::string shape_string(const tensor_view<T, R, S>& v) {
  std::string s = "(";
  for (std::size_t r = 0; r < R; ++r) {
    if (r) s += ", ";
    s += std::to_string(v.extents[r]);
  }
  return s + ")";
}

inline std::string shape_string(index_t b, index_t d) {
  // Built by appending: "(" + std::to_string(b) + ... trips GCC 12's -Wrestrict false positive at -O3.
  std::string s = "(";
  s += std::to_string(b);
  s += ", ";
  s += std::to_string(d);
  s += ")";
  return s;
}

//! Reads a rank >= 1 tensor as (B, D): axis 0 is the batch, the trailing axes are flattened.
//! Throws layout_error when the trailing axes do not collapse into one strided axis.
template <class T, std::size_t R, class S>
batch_view<T, S> to_batch(const tensor_view<T, R, S>& v, std::string_view fn, std::string_view arg) {
  batch_view<T, S> b;
  b.data = v.data;
  b.batch = v.extents[0];
  b.sample_stride = v.strides[0];
  b.elements = 1;
  b.elem_stride = 1;
  // The innermost trailing axis of extent > 1 sets the element stride.
  bool inner_found = false;
  for (std::size_t k = R; k-- > 1;) {
    b.elements *= v.extents[k];
    if (!inner_found && v.extents[k] != 1) {
      b.elem_stride = v.strides[k];
      inner_found = true;
    }
  }
  // Verify that the non-unit trailing axes form one arithmetic progression of addresses.
  index_t expect = b.elem_stride;
  for (std::size_t k = R; k-- > 1;) {
    const index_t e = v.extents[k];
    if (e == 1) continue;
    if (v.strides[k] != expect)
      fail<layout_error>(fn, arg,
                         "the trailing axes of a tensor of shape " + shape_string(v) +
                             " do not collapse into one strided axis (axis " + std::to_string(k) + " has stride " +
                             std::to_string(v.strides[k]) + ", expected " + std::to_string(expect) +
                             "); make the per-sample elements contiguous, e.g. copy the tensor");
    expect *= e;
  }
  return b;
}

//! Reads a rank-1 tensor as a vector of per-sample scalars.
template <class T, class S>
vector_view<T, S> to_vector(const tensor_view<T, 1, S>& v, std::string_view, std::string_view) {
  return {v.data, v.extents[0], v.strides[0]};
}

template <class T, std::size_t R, class S>
  requires(R != 1)
vector_view<T, S> to_vector(const tensor_view<T, R, S>& v, std::string_view fn, std::string_view arg) {
  fail<shape_error>(fn, arg, "expected a rank-1 tensor (one value per sample), got shape " + shape_string(v));
}

//! Output tensors must not map two indices to one address (stride 0, overlapping rows).
template <class T, class S>
void require_distinct(const batch_view<T, S>& b, std::string_view fn, std::string_view arg) {
  const index_t es = std::labs(b.elem_stride), ss = std::labs(b.sample_stride);
  const bool ok_elem = b.elements <= 1 || es >= 1;
  const bool ok_sample =
      b.batch <= 1 || (ss >= 1 && (b.elements <= 1 || ss >= es * b.elements || es >= ss * b.batch));
  if (!ok_elem || !ok_sample)
    fail<layout_error>(fn, arg, "an output tensor has overlapping elements (a zero or too small stride)");
}

template <class T, class S>
void require_distinct(const vector_view<T, S>& v, std::string_view fn, std::string_view arg) {
  if (v.size > 1 && v.stride == 0) fail<layout_error>(fn, arg, "an output tensor has stride 0");
}

}  // namespace dnft::detail
