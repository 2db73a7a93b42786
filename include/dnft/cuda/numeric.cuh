// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: storage types (float, double, __half, __nv_bfloat16) and the types kernels compute in.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "dnft/config.hpp"

namespace dnft::cuda {

//! Element types the CUDA kernels store: float, double, __half and __nv_bfloat16.
template <class T>
inline constexpr bool is_storage_type_v = std::is_same_v<T, float> || std::is_same_v<T, double> ||
                                          std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

//! The type kernels compute one element in: double for double storage, float otherwise
//! (half and bfloat16 are loaded, widened to float, and rounded once when stored).
template <class T>
using compute_t = std::conditional_t<std::is_same_v<std::remove_cv_t<T>, double>, double, float>;

//! Widens a stored element (or any arithmetic value) to its compute type.
DNFT_HOST_DEVICE inline float to_compute(__half x) noexcept { return __half2float(x); }
DNFT_HOST_DEVICE inline float to_compute(__nv_bfloat16 x) noexcept { return __bfloat162float(x); }
DNFT_HOST_DEVICE inline float to_compute(float x) noexcept { return x; }
DNFT_HOST_DEVICE inline double to_compute(double x) noexcept { return x; }

//! Any storage type or arithmetic value as double (per-sample scalars such as t and advantages).
template <class T>
DNFT_HOST_DEVICE inline double to_double(T x) noexcept {
  if constexpr (std::is_arithmetic_v<T>) {
    return static_cast<double>(x);
  } else {
    return static_cast<double>(to_compute(x));
  }
}

//! Rounds a computed value to the storage type (round to nearest even).
template <class T>
DNFT_HOST_DEVICE inline T from_compute(compute_t<T> x) noexcept {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(x);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(x);
  } else {
    return static_cast<T>(x);
  }
}

//! Converts a float (e.g. a Philox normal) to a storage type.
template <class T>
DNFT_HOST_DEVICE inline T from_float(float x) noexcept {
  if constexpr (std::is_same_v<T, double>) {
    return static_cast<double>(x);
  } else {
    return from_compute<T>(x);
  }
}

}  // namespace dnft::cuda
