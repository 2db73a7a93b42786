// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: how kernels read and write a sample's elements in groups of four (vector loads
// when the layout allows, strided scalar accesses otherwise) and how they get noise. Host and
// device functions, so tests can run the kernels' per-thread work on the CPU.
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cstdint>
#include <type_traits>

#include "dnft/config.hpp"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

static_assert(group_elements == 4, "dnft/cuda: a group is the four normals of one Philox call");

//! Four consecutive elements as one aligned object: one 16-byte load for float (8 for half and
//! bfloat16, two 16-byte loads for double).
template <class T>
struct alignas(group_elements * sizeof(T)) group {
  T v[group_elements];
};

//! Whether a batch tensor can be read in aligned groups: unit element stride, every sample
//! starting on a group boundary, and the base pointer aligned to a whole group.
template <class T, class S>
bool groupable(const dnft::detail::batch_view<T, S>& v) noexcept {
  return v.data != nullptr && (v.elements <= 1 || v.elem_stride == 1) &&
         (v.batch <= 1 || v.sample_stride % group_elements == 0) &&
         reinterpret_cast<std::uintptr_t>(v.data) % sizeof(group<std::remove_const_t<T>>) == 0;
}

//! Philox noise needs no memory.
inline bool groupable(const philox_normal&) noexcept { return true; }

//! Elements d0 .. d0+3 of sample i (d0 a multiple of group_elements) widened to R; elements at
//! or beyond `end` read as 0. `vec`: the tensor is groupable (see groupable()).
template <class R, class T, class S>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void load_group(const dnft::detail::batch_view<const T, S>& v, index_t i, index_t d0,
                                            index_t end, bool vec, R (&out)[group_elements]) {
  const T* p = v.data + i * v.sample_stride + d0 * v.elem_stride;
  if (vec && d0 + group_elements <= end) {
    const group<T> g = *reinterpret_cast<const group<T>*>(p);
    for (int j = 0; j < group_elements; ++j) out[j] = static_cast<R>(to_compute(g.v[j]));
  } else {
    for (int j = 0; j < group_elements; ++j)
      out[j] = d0 + j < end ? static_cast<R>(to_compute(p[j * v.elem_stride])) : R(0);
  }
}

//! Stores elements d0 .. d0+3 of sample i (those before `end`), rounded to T.
template <class T, class S, class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void store_group(const dnft::detail::batch_view<T, S>& v, index_t i, index_t d0,
                                             index_t end, bool vec, const R (&in)[group_elements]) {
  T* p = v.data + i * v.sample_stride + d0 * v.elem_stride;
  if (vec && d0 + group_elements <= end) {
    group<T> g;
    for (int j = 0; j < group_elements; ++j) g.v[j] = from_compute<T>(static_cast<compute_t<T>>(in[j]));
    *reinterpret_cast<group<T>*>(p) = g;
  } else {
    for (int j = 0; j < group_elements; ++j)
      if (d0 + j < end) p[j * v.elem_stride] = from_compute<T>(static_cast<compute_t<T>>(in[j]));
  }
}

//! Noise stored in a tensor: read like any other input.
template <class R, class T, class S>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void noise_group(const dnft::detail::batch_view<const T, S>& v, index_t i, index_t d0,
                                             index_t end, bool vec, R (&out)[group_elements]) {
  load_group(v, i, d0, end, vec, out);
}

//! Noise regenerated from Philox: the group's four normals (one Philox call), rounded to the
//! storage type T first, exactly as if they had been stored in a T tensor (the host backend does
//! the same), then widened to R.
template <class T, class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void philox_group(const philox_normal& g, index_t i, index_t d0,
                                              R (&out)[group_elements]) {
  float b[group_elements];
  g.block(static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(d0 / group_elements), b);
  for (int j = 0; j < group_elements; ++j) out[j] = static_cast<R>(to_compute(from_float<T>(b[j])));
}

}  // namespace dnft::cuda::detail
