// SPDX-License-Identifier: Apache-2.0
// dnft: DLPack adapter. Opt-in: include this header (and link dlpack::dlpack) to pass tensors
// shared through DLPack (PyTorch, JAX, CuPy, TVM, ...) to dnft.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include <dlpack/dlpack.h>

#include "dnft/error.hpp"
#include "dnft/tensor/traits.hpp"

namespace dnft {

//! True for the element types a DLPack tensor can be viewed as: float, double and the
//! integer types other than bool (DLPack's kDLFloat, kDLInt and kDLUInt codes).
template <class T>
inline constexpr bool is_dlpack_element_v =
    std::is_same_v<T, float> || std::is_same_v<T, double> || (std::is_integral_v<T> && !std::is_same_v<T, bool>);

//! The DLPack data type (code, bits, lanes = 1) describing elements of type `T`.
template <class T>
  requires is_dlpack_element_v<T>
constexpr DLDataType dlpack_dtype() noexcept {
  const auto code = std::is_floating_point_v<T> ? kDLFloat : std::is_signed_v<T> ? kDLInt : kDLUInt;
  return {static_cast<std::uint8_t>(code), static_cast<std::uint8_t>(8 * sizeof(T)), std::uint16_t{1}};
}

//! @brief True when memory on a DLPack device of type `d` may be viewed as memory of `Space`.
//!
//! host_space: kDLCPU, kDLCUDAHost (pinned) and kDLCUDAManaged; device_space: kDLCUDA and
//! kDLCUDAManaged; managed_space: kDLCUDAManaged only. Managed memory is readable from both
//! sides, so it may be viewed as whichever space the executor at hand reads.
template <memory_space Space>
constexpr bool dlpack_readable_as(DLDeviceType d) noexcept {
  if constexpr (std::is_same_v<Space, host_space>)
    return d == kDLCPU || d == kDLCUDAHost || d == kDLCUDAManaged;
  else if constexpr (std::is_same_v<Space, device_space>)
    return d == kDLCUDA || d == kDLCUDAManaged;
  else
    return d == kDLCUDAManaged;
}

namespace detail {

inline std::string dlpack_dtype_string(DLDataType t) {
  std::string s;
  switch (t.code) {
    case kDLInt: s = "int"; break;
    case kDLUInt: s = "uint"; break;
    case kDLFloat: s = "float"; break;
    case kDLBfloat: s = "bfloat"; break;
    case kDLComplex: s = "complex"; break;
    default: s = "code" + std::to_string(unsigned{t.code}) + "_"; break;
  }
  s += std::to_string(unsigned{t.bits});
  if (t.lanes != 1) s += "x" + std::to_string(unsigned{t.lanes});
  return s;
}

inline std::string dlpack_device_string(DLDeviceType d) {
  switch (d) {
    case kDLCPU: return "kDLCPU";
    case kDLCUDA: return "kDLCUDA";
    case kDLCUDAHost: return "kDLCUDAHost";
    case kDLCUDAManaged: return "kDLCUDAManaged";
    case kDLROCM: return "kDLROCM";
    case kDLROCMHost: return "kDLROCMHost";
    default: return "device type " + std::to_string(static_cast<int>(d));
  }
}

}  // namespace detail

//! @brief Views a DLPack tensor as a tensor_view, checking everything DLPack leaves to run time.
//!
//! DLPack states the element type, the rank and the device of a tensor at run time; this
//! function states what the caller expects at compile time and checks it. Strides are
//! honoured (NULL strides mean packed row-major), and so is byte_offset.
//! @code
//!   DLManagedTensor* m = ...;                                   // e.g. from torch.utils.dlpack
//!   auto x0 = dnft::dlpack_view<const float, 2>(*m, "x0");     // (B, D) host memory, read-only
//!   auto g  = dnft::dlpack_view<float, 2, dnft::device_space>(*m_grad, "grad");
//! @endcode
//! @tparam T      element type, possibly const (float, double, integers)
//! @tparam Rank   number of axes the tensor must have
//! @tparam Space  the memory space to view it in; see dlpack_readable_as for what is accepted
//! @param t     the DLPack tensor; it must outlive the view
//! @param name  the argument name that error messages use
//! @throws value_error if the dtype is not T's (code, bits, lanes), or data is null in a
//!         non-empty tensor; shape_error if ndim != Rank or an extent is negative;
//!         space_error if the device cannot be read as Space; layout_error if data plus
//!         byte_offset is not aligned for T.
template <class T, std::size_t Rank, memory_space Space = host_space>
tensor_view<T, Rank, Space> dlpack_view(const DLTensor& t, std::string_view name = "tensor") {
  using V = std::remove_cv_t<T>;
  static_assert(is_dlpack_element_v<V>,
                "dnft::dlpack_view: T must be float, double or an integer type other than bool");
  constexpr std::string_view fn = "dlpack_view";
  const DLDataType want = dlpack_dtype<V>();
  if (t.dtype.code != want.code || t.dtype.bits != want.bits || t.dtype.lanes != want.lanes)
    detail::fail<value_error>(fn, name,
                              "expected dtype " + detail::dlpack_dtype_string(want) + ", got " +
                                  detail::dlpack_dtype_string(t.dtype));
  if (t.ndim != static_cast<int>(Rank))
    detail::fail<shape_error>(fn, name,
                              "expected a tensor of rank " + std::to_string(Rank) + ", got ndim " +
                                  std::to_string(t.ndim));
  if (!dlpack_readable_as<Space>(t.device.device_type))
    detail::fail<space_error>(fn, name,
                              "a tensor on " + detail::dlpack_device_string(t.device.device_type) +
                                  " cannot be viewed as dnft::" + Space::name + "_space memory");
  if (t.shape == nullptr) detail::fail<shape_error>(fn, name, "shape is null");

  tensor_view<T, Rank, Space> v;
  for (std::size_t r = 0; r < Rank; ++r) {
    if (t.shape[r] < 0)
      detail::fail<shape_error>(fn, name,
                                "extent " + std::to_string(t.shape[r]) + " of axis " + std::to_string(r) +
                                    " is negative");
    v.extents[r] = static_cast<index_t>(t.shape[r]);
    if (t.strides != nullptr) v.strides[r] = static_cast<index_t>(t.strides[r]);
  }
  if (t.strides == nullptr) v.strides = row_major_strides(v.extents);

  if (t.data == nullptr) {
    if (v.size() != 0) detail::fail<value_error>(fn, name, "data is null in a non-empty tensor");
    return v;
  }
  const auto address = reinterpret_cast<std::uintptr_t>(t.data) + static_cast<std::uintptr_t>(t.byte_offset);
  if (address % alignof(V) != 0)
    detail::fail<layout_error>(fn, name,
                               "data + byte_offset (" + std::to_string(t.byte_offset) + ") is not aligned for " +
                                   detail::dlpack_dtype_string(want));
  v.data = reinterpret_cast<T*>(static_cast<std::byte*>(t.data) + t.byte_offset);
  return v;
}

//! The tensor of a DLManagedTensor (the producer keeps ownership until its deleter is called).
template <class T, std::size_t Rank, memory_space Space = host_space>
tensor_view<T, Rank, Space> dlpack_view(const DLManagedTensor& t, std::string_view name = "tensor") {
  return dlpack_view<T, Rank, Space>(t.dl_tensor, name);
}

//! @brief A DLPack tensor with its element type and rank fixed at compile time and its memory
//! space left to run time: the form `as_view<Space>(t)` takes.
//! @code
//!   template <class Exec> void f(const Exec&, const DLTensor& x) {
//!     auto v = dnft::as_view<typename Exec::space_type>(dnft::dlpack_tensor<const float, 2>(x, "x"));
//!   }
//! @endcode
template <class T, std::size_t Rank>
struct dlpack_tensor {
  DLTensor tensor;               //!< a copy of the descriptor (shape, strides and data stay the producer's)
  std::string_view name = "tensor";  //!< the argument name for error messages

  explicit dlpack_tensor(const DLTensor& t, std::string_view n = "tensor") noexcept : tensor(t), name(n) {}
  explicit dlpack_tensor(const DLManagedTensor& t, std::string_view n = "tensor") noexcept
      : tensor(t.dl_tensor), name(n) {}
};

//! dlpack_tensor is a run-time-space tensor: as_view<Space>(t) checks and views it.
template <class T, std::size_t Rank>
struct tensor_traits<dlpack_tensor<T, Rank>> {
  template <memory_space Space>
  static tensor_view<T, Rank, Space> view_in(const dlpack_tensor<T, Rank>& t) {
    return dlpack_view<T, Rank, Space>(t.tensor, t.name);
  }
};

}  // namespace dnft
