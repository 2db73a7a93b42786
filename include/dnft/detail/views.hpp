// SPDX-License-Identifier: Apache-2.0
// dnft: small conversions between batch views and tensor views used by the solvers and the
// algorithms they call.
#pragma once
// IWYU pragma: private

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

//! The read-only version of a batch view.
template <class T, class S>
DNFT_HOST_DEVICE constexpr batch_view<const T, S> as_const_view(const batch_view<T, S>& v) noexcept {
  return {v.data, v.batch, v.elements, v.sample_stride, v.elem_stride};
}

//! A batch view as the (B, D) tensor_view a velocity field receives.
template <class T, class S>
DNFT_HOST_DEVICE constexpr tensor_view<T, 2, S> as_matrix(const batch_view<T, S>& v) noexcept {
  return {v.data, {v.batch, v.elements}, {v.sample_stride, v.elem_stride}};
}

//! A packed (B, D) batch view of raw memory.
template <class S, class T>
DNFT_HOST_DEVICE constexpr batch_view<T, S> packed_batch(T* data, index_t b, index_t d) noexcept {
  return {data, b, d, d, 1};
}

}  // namespace dnft::detail
