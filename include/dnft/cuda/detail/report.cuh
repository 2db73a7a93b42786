// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: how the backends bring results and flags back to the host, and how they turn a
// device-side flag into the host backend's error message (reading the offending values back).
#pragma once
// IWYU pragma: private

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "dnft/algorithm/common.hpp"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/gather.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/error.hpp"
#include "dnft/random/philox.hpp"

namespace dnft::cuda::detail {

//! @brief n elements at `src` (device or managed memory) copied to the host through the
//! executor's pinned staging buffer. Waits for the copy, and so for the work enqueued before it.
template <class T>
std::vector<T> fetch(const executor& ex, const T* src, index_t n) {
  static_assert(std::is_trivially_copyable_v<T>, "dnft::cuda::detail::fetch: T must be trivially copyable");
  std::vector<T> out(static_cast<std::size_t>(n > 0 ? n : 0));
  if (n <= 0) return out;
  const std::size_t bytes = out.size() * sizeof(T);
  device_guard guard(ex.device());
  auto stage = ex.host_staging(bytes);
  check(cudaMemcpyAsync(stage.data, src, bytes, cudaMemcpyDeviceToHost, ex.stream()));
  ex.synchronize();
  std::memcpy(out.data(), stage.data, bytes);
  return out;
}

//! Blocks of `threads` threads for a grid-stride loop over n items (at least 1, at most 65535).
inline unsigned blocks_for(index_t n, int threads) noexcept {
  const index_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b < 65535 ? b : 65535));
}

//! Sample i of a batch tensor on the host (for error messages only).
template <class T, class S>
std::vector<T> sample_to_host(const executor& ex, const dnft::detail::batch_view<const T, S>& v, index_t i) {
  auto buf = ex.allocate<T>(v.elements);
  device_guard guard(ex.device());
  gather_sample_kernel<<<blocks_for(v.elements, block_threads), block_threads, 0, ex.stream()>>>(v, i, buf.data());
  check_launch();
  return fetch(ex, static_cast<const T*>(buf.data()), v.elements);
}

//! The first non-finite element of sample i of a device tensor: its index and value.
template <class T, class S>
bool sample_find_nonfinite(const executor& ex, const dnft::detail::batch_view<const T, S>& v, index_t i, index_t& d_out,
                           double& v_out) {
  const std::vector<T> h = sample_to_host(ex, v, i);
  for (std::size_t d = 0; d < h.size(); ++d) {
    const double x = to_double(h[d]);
    if (!dnft::detail::isfinite(x)) {
      d_out = static_cast<index_t>(d);
      v_out = x;
      return true;
    }
  }
  return false;
}

//! Noise regenerated from Philox is always finite.
inline bool sample_find_nonfinite(const executor&, const philox_normal&, index_t, index_t&, double&) { return false; }

//! A vector of per-sample scalars (any stride and storage type) on the host, as double.
template <class T, class S>
std::vector<double> vector_to_host(const executor& ex, const dnft::detail::vector_view<const T, S>& v) {
  auto buf = ex.allocate<double>(v.size);
  if (v.size > 0) {
    device_guard guard(ex.device());
    gather_vector_kernel<<<blocks_for(v.size, block_threads), block_threads, 0, ex.stream()>>>(v, buf.data());
    check_launch();
  }
  return fetch(ex, static_cast<const double*>(buf.data()), v.size);
}

template <class T, class S>
std::vector<double> vector_to_host(const executor& ex, const dnft::detail::vector_view<T, S>& v) {
  return vector_to_host(ex, dnft::detail::vector_view<const T, S>{v.data, v.size, v.stride});
}

//! The host view of a vector fetched with vector_to_host.
inline dnft::detail::vector_view<const double, host_space> host_vector(const std::vector<double>& v) noexcept {
  return {v.data(), static_cast<index_t>(v.size()), 1};
}

//! The front door's check of per-sample values in [lo, hi] on device values (its message).
template <class V>
void require_device_values_in(const executor& ex, const V& v, double lo, double hi, std::string_view name,
                              std::string_view fn) {
  const std::vector<double> h = vector_to_host(ex, v);
  dnft::detail::require_values_in(host_vector(h), lo, hi, name, fn);
}

//! The front door's check of finite per-sample values on device values (its message).
template <class V>
void require_device_finite(const executor& ex, const V& v, std::string_view name, std::string_view fn) {
  const std::vector<double> h = vector_to_host(ex, v);
  dnft::detail::require_finite_values(host_vector(h), name, fn);
}

//! An input to search for the first non-finite element of a sample: its name and its view (a
//! batch view, or a philox_normal, which has none).
template <class V>
struct named_input {
  std::string_view name;
  const V& view;
};
template <class V>
named_input(std::string_view, const V&) -> named_input<V>;

//! @brief Names the first non-finite element of sample i among `inputs` (in order) with the host
//! backends' message "<fn>: <name>: non-finite value <v> at sample <i>, element <d>", or throws
//! value_error with `fallback` (no argument named) when every input is finite.
template <class... V>
[[noreturn]] void report_nonfinite(const executor& ex, std::string_view fn, index_t i, const std::string& fallback,
                                   const named_input<V>&... inputs) {
  index_t d = 0;
  double v = 0;
  std::string_view name;
  const bool found = ((sample_find_nonfinite(ex, inputs.view, i, d, v) ? (name = inputs.name, true) : false) || ...);
  if (found)
    dnft::detail::fail<value_error>(fn, name,
                                    "non-finite value " + dnft::detail::num(v) + " at sample " + std::to_string(i) +
                                        ", element " + std::to_string(d));
  dnft::detail::fail<value_error>(fn, "", fallback);
}

//! Per-sample flags from per-work-item flags (see sample_grid): the OR over a sample's chunks.
inline std::vector<unsigned> flags_per_sample(const std::vector<unsigned char>& items, const sample_grid& g,
                                              index_t batch) {
  std::vector<unsigned> f(static_cast<std::size_t>(batch), 0u);
  for (std::size_t w = 0; w < items.size(); ++w) f[w / static_cast<std::size_t>(g.per_sample)] |= items[w];
  return f;
}

}  // namespace dnft::cuda::detail
