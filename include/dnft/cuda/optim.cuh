// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA backends of the flat parameter-buffer operations (soft update / EMA,
// gradient norm and clipping, AdamW); mirrors host/optim.hpp.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <vector>

#include "dnft/algorithm/optim.hpp"
#include "dnft/cuda/detail/optim.cuh"
#include "dnft/cuda/detail/report.cuh"
#include "dnft/cuda/error.cuh"
#include "dnft/cuda/execution.cuh"
#include "dnft/cuda/kernels/optim.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/optim.hpp"
#include "dnft/host/common.hpp"

namespace dnft::cuda::detail {

//! Blocks of block_threads threads for an element-wise grid-stride loop over n elements: enough
//! to fill the device, no more than there are elements.
inline unsigned flat_blocks(const executor& ex, index_t n) noexcept {
  const index_t fill = index_t(ex.sm_count() > 0 ? ex.sm_count() : 1) * index_t(ex.config().blocks_per_sm);
  const index_t need = (n + block_threads - 1) / block_threads;
  const index_t b = need < fill ? need : fill;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

//! Blocks for the per-chunk reductions over `chunks` chunks.
inline unsigned chunk_blocks(index_t chunks) noexcept {
  const index_t most = index_t(1) << 30;
  return static_cast<unsigned>(chunks < most ? chunks : most);
}

}  // namespace dnft::cuda::detail

namespace dnft {

//! CUDA backend of soft_update and ema_update: one element-wise kernel (soft_update_element, with
//! d and 1 - d rounded to T as on the host). Asynchronous. float and double buffers.
template <>
struct soft_update_backend<cuda::executor> {
  template <class T, class S>
  static void run(const cuda::executor& ex, const detail::vector_view<T, S>& old,
                  const detail::vector_view<const T, S>& theta, double decay) {
    if (old.size == 0) return;
    cuda::detail::device_guard guard(ex.device());
    cuda::detail::soft_update_kernel<<<cuda::detail::flat_blocks(ex, old.size), cuda::block_threads, 0, ex.stream()>>>(
        old, theta, T(decay), T(1.0 - decay));
    cuda::check_launch();
  }
};

//! @brief CUDA backend of l2_norm and clip_grad_norm. sum_squares is deterministic: per fixed
//! chunk of detail::reduce_block elements (the host backend's chunks) a block sums the squares in
//! double and reduces them with CUB's BlockReduce (a fixed tree), then the host adds the chunk
//! sums in chunk order; the result does not depend on the launch configuration, and equals the
//! host backend's up to the summation order inside a chunk. sum_squares and first_nonfinite
//! synchronise (they return host values); scale is asynchronous.
template <>
struct grad_norm_backend<cuda::executor> {
  template <class T, class S>
  static double sum_squares(const cuda::executor& ex, const detail::vector_view<const T, S>& x) {
    namespace cd = cuda::detail;
    const index_t chunks = detail::chunk_count(x.size, detail::reduce_block);
    if (chunks == 0) return 0.0;
    cd::device_guard guard(ex.device());
    auto part = ex.allocate<double>(chunks);
    cd::sum_squares_kernel<<<cd::chunk_blocks(chunks), cuda::block_threads, 0, ex.stream()>>>(x, chunks, part.data());
    cuda::check_launch();
    double s = 0;
    for (double p : cd::fetch(ex, static_cast<const double*>(part.data()), chunks)) s += p;
    return s;
  }

  //! x <- factor x (factor rounded to T, as on the host).
  template <class T, class S>
  static void scale(const cuda::executor& ex, const detail::vector_view<T, S>& x, double factor) {
    if (x.size == 0) return;
    cuda::detail::device_guard guard(ex.device());
    cuda::detail::scale_kernel<<<cuda::detail::flat_blocks(ex, x.size), cuda::block_threads, 0, ex.stream()>>>(
        x, T(factor));
    cuda::check_launch();
  }

  //! The index of the first non-finite element, or -1.
  template <class T, class S>
  static index_t first_nonfinite(const cuda::executor& ex, const detail::vector_view<const T, S>& x) {
    namespace cd = cuda::detail;
    const index_t chunks = detail::chunk_count(x.size, detail::reduce_block);
    if (chunks == 0) return -1;
    cd::device_guard guard(ex.device());
    auto first = ex.allocate<index_t>(chunks);
    cd::first_nonfinite_kernel<<<cd::chunk_blocks(chunks), cuda::block_threads, 0, ex.stream()>>>(x, chunks,
                                                                                                  first.data());
    cuda::check_launch();
    for (index_t f : cd::fetch(ex, static_cast<const index_t*>(first.data()), chunks))
      if (f != cd::no_index) return f;
    return -1;
  }
};

//! CUDA backend of adamw_step: one element-wise kernel (adamw_element, PyTorch's operation order,
//! on the coefficients rounded to T on the host as the host backend rounds them). Asynchronous.
template <>
struct adamw_backend<cuda::executor> {
  template <class T, class S>
  static void run(const cuda::executor& ex, const detail::vector_view<T, S>& p,
                  const detail::vector_view<const T, S>& g, const detail::vector_view<T, S>& m,
                  const detail::vector_view<T, S>& v, const detail::adamw_scalars& s) {
    if (p.size == 0) return;
    cuda::detail::device_guard guard(ex.device());
    cuda::detail::adamw_kernel<<<cuda::detail::flat_blocks(ex, p.size), cuda::block_threads, 0, ex.stream()>>>(
        p, g, m, v, detail::round_adamw<T>(s));
    cuda::check_launch();
  }
};

}  // namespace dnft
