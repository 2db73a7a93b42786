// SPDX-License-Identifier: Apache-2.0
// Shared by the tests that run the CUDA kernels' per-thread work on the CPU: host memory laid out
// as a (B, D) batch in several layouts, launch configurations, and a loop over the work items
// and threads a launch would run.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "dnft/cuda/cuda.cuh"
#include "nft_support.cuh"
#include "support/random_data.hpp"

namespace dnft_cuda_test {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

//! Times in [0, 1] with the two ends at samples 0 and 1.
inline std::vector<double> times(long B, std::uint64_t seed) {
  auto t = dnft_test::uniform_data(std::size_t(B), seed, 0.0, 1.0);
  if (B > 2) {
    t[0] = 0.0;
    t[1] = 1.0;
  }
  return t;
}

//! A row-major (B, D) view of a device buffer.
template <class T>
auto dview(dnft::cuda::device_buffer<T>& b, long B, long D) {
  return b.view(B, D);
}

//! Host memory laid out as a (B, D) batch with the given strides (elements beyond the view are 0).
template <class T>
struct host_batch {
  std::vector<T> mem;
  dnft::detail::batch_view<T, dnft::host_space> view;
  //! layout: 0 row-major, 1 column-major, 2 row-major starting one element into the allocation
  //! The view starts on a 32-byte boundary (layouts 0 and 1), so groups may be loaded as vectors.
  host_batch(const std::vector<double>& v, long B, long D, int layout) : mem(std::size_t(B * D + 1 + 32)) {
    std::size_t first = 0;
    while (reinterpret_cast<std::uintptr_t>(mem.data() + first) % 32 != 0) ++first;
    view.data = mem.data() + first + (layout == 2 ? 1 : 0);
    view.batch = B;
    view.elements = D;
    view.sample_stride = layout == 1 ? 1 : D;
    view.elem_stride = layout == 1 ? B : 1;
    for (long i = 0; i < B; ++i)
      for (long d = 0; d < D; ++d)
        view(i, d) = dnft::cuda::from_compute<T>(dnft::cuda::compute_t<T>(v[std::size_t(i * D + d)]));
  }
  host_batch(long B, long D, int layout) : host_batch(std::vector<double>(std::size_t(B * D), 0.0), B, D, layout) {}
  dnft::detail::batch_view<const T, dnft::host_space> cview() const {
    return {view.data, view.batch, view.elements, view.sample_stride, view.elem_stride};
  }
  //! The values in (i, d) row-major order, as double.
  std::vector<double> values() const {
    std::vector<double> r(std::size_t(view.batch * view.elements));
    for (long i = 0; i < view.batch; ++i)
      for (long d = 0; d < view.elements; ++d)
        r[std::size_t(i * view.elements + d)] = dnft::cuda::to_double(view(i, d));
    return r;
  }
};

using vec_t = dnft::detail::vector_view<const double, dnft::host_space>;

//! A read-only per-sample vector over a std::vector<double>.
inline vec_t vec_of(const std::vector<double>& v) { return {v.data(), long(v.size()), 1}; }

inline const dnft::cuda::launch_config h200 = dnft::cuda::launch_config_for(9, 0);
inline const dnft::cuda::launch_config tiny{
    .blocks_per_sm = 1, .min_elements_per_block = 4, .max_blocks_per_sample = 5};

//! Calls f(w, range, tid) for every work item w and thread tid a launch over (B, D) with
//! configuration c on `sms` multiprocessors would run (items in order, threads in order); returns
//! the grid.
template <class F>
dnft::cuda::detail::sample_grid for_each_thread(long B, long D, const dnft::cuda::launch_config& c, int sms, F&& f) {
  const auto g = dnft::cuda::detail::plan_sample_grid(B, D, sms, c);
  for (long w = 0; w < g.items; ++w) {
    const auto r = dnft::cuda::detail::chunk_of(g, w, D);
    for (int tid = 0; tid < dnft::cuda::block_threads; ++tid) f(w, r, tid);
  }
  return g;
}

//! A contiguous (B, D) host view of a std::vector.
template <class T>
auto view2(std::vector<T>& v, long B, long D) {
  return dnft::make_view(v.data(), {B, D});
}

}  // namespace dnft_cuda_test
