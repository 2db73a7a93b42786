// SPDX-License-Identifier: Apache-2.0
// dnft: memory spaces, the tags that put "where does this memory live" into a view's type.
#pragma once

#include <type_traits>

namespace dnft {

//! Ordinary host memory (new, malloc, std::vector, Eigen, xtensor).
struct host_space {
  static constexpr const char* name = "host";
};

//! Memory only the device can read (cudaMalloc).
struct device_space {
  static constexpr const char* name = "device";
};

//! Memory both the host and the device can read (cudaMallocManaged).
struct managed_space {
  static constexpr const char* name = "managed";
};

template <class S>
inline constexpr bool is_memory_space_v =
    std::is_same_v<S, host_space> || std::is_same_v<S, device_space> || std::is_same_v<S, managed_space>;

//! A memory space tag: host_space, device_space or managed_space.
template <class S>
concept memory_space = is_memory_space_v<S>;

//! @brief True when an executor of type `Exec` may read and write memory of `Space`.
//! @par Customization
//! An executor declares `template <class Space> static constexpr bool can_access = ...;`.
template <class Exec, class Space>
concept accessible_from = memory_space<Space> && std::remove_cvref_t<Exec>::template can_access<Space>;

}  // namespace dnft
