// SPDX-License-Identifier: Apache-2.0
// dnft: the host backends of the flat parameter-buffer operations (soft update, gradient norm
// and clipping, AdamW), threaded over contiguous element ranges.
#pragma once
// IWYU pragma: private

#include <cstddef>
#include <vector>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/optim.hpp"
#include "dnft/execution.hpp"
#include "dnft/host/common.hpp"

namespace dnft {

//! Host backend of soft_update and ema_update.
template <>
struct soft_update_backend<host_executor> {
  template <class T>
  static void run(const host_executor& ex, const detail::vector_view<T, host_space>& old,
                  const detail::vector_view<const T, host_space>& theta, double decay) {
    const T d = T(decay), e = T(1.0 - decay);
    ex.bulk(old.size, 2, [&](index_t b, index_t end) {
      if (old.stride == 1 && theta.stride == 1) {
        T* o = old.data;
        const T* th = theta.data;
        for (index_t k = b; k < end; ++k) o[k] = detail::soft_update_element(o[k], th[k], d, e);
      } else {
        for (index_t k = b; k < end; ++k) old[k] = detail::soft_update_element(old[k], theta[k], d, e);
      }
    });
  }
};

//! Host backend of l2_norm and clip_grad_norm.
template <>
struct grad_norm_backend<host_executor> {
  //! sum_k x[k]^2 in double: per chunk of detail::reduce_block elements, then chunk sums added
  //! in chunk order, so the result is the same for every thread count.
  template <class T>
  static double sum_squares(const host_executor& ex, const detail::vector_view<const T, host_space>& x) {
    const index_t chunks = detail::chunk_count(x.size, detail::reduce_block);
    std::vector<double> part(static_cast<std::size_t>(chunks), 0.0);
    ex.bulk(chunks, detail::reduce_block, [&](index_t b, index_t e) {
      for (index_t c = b; c < e; ++c) {
        const index_t k0 = c * detail::reduce_block;
        const index_t n = x.size - k0 < detail::reduce_block ? x.size - k0 : detail::reduce_block;
        part[std::size_t(c)] = detail::sum_squares(x.data + k0 * x.stride, n, x.stride);
      }
    });
    double s = 0;
    for (double p : part) s += p;
    return s;
  }

  //! x <- factor x.
  template <class T>
  static void scale(const host_executor& ex, const detail::vector_view<T, host_space>& x, double factor) {
    const T f = T(factor);
    ex.bulk(x.size, 1, [&](index_t b, index_t e) {
      for (index_t k = b; k < e; ++k) x[k] = x[k] * f;
    });
  }

  //! The index of the first non-finite element, or -1 (also used by adamw_step's check).
  template <class T>
  static index_t first_nonfinite(const host_executor& ex, const detail::vector_view<const T, host_space>& x) {
    const index_t chunks = detail::chunk_count(x.size, detail::reduce_block);
    std::vector<index_t> first(static_cast<std::size_t>(chunks), -1);
    ex.bulk(chunks, detail::reduce_block, [&](index_t b, index_t e) {
      for (index_t c = b; c < e; ++c) {
        const index_t k0 = c * detail::reduce_block;
        const index_t n = x.size - k0 < detail::reduce_block ? x.size - k0 : detail::reduce_block;
        const index_t f = detail::first_nonfinite(x.data + k0 * x.stride, n, x.stride);
        first[std::size_t(c)] = f < 0 ? -1 : k0 + f;
      }
    });
    for (index_t f : first)
      if (f >= 0) return f;
    return -1;
  }
};

//! Host backend of adamw_step.
template <>
struct adamw_backend<host_executor> {
  //! One AdamW step over every element (no checks: the front door did them).
  template <class T>
  static void run(const host_executor& ex, const detail::vector_view<T, host_space>& p,
                  const detail::vector_view<const T, host_space>& g, const detail::vector_view<T, host_space>& m,
                  const detail::vector_view<T, host_space>& v, const detail::adamw_scalars& s) {
    const detail::adamw_coefs<T> c = detail::round_adamw<T>(s);
    const bool unit = p.stride == 1 && g.stride == 1 && m.stride == 1 && v.stride == 1;
    ex.bulk(p.size, 8, [&](index_t b, index_t e) {
      if (unit) {
        T* pp = p.data;
        const T* gg = g.data;
        T* mm = m.data;
        T* vv = v.data;
        for (index_t k = b; k < e; ++k) detail::adamw_element(pp[k], gg[k], mm[k], vv[k], c);
      } else {
        for (index_t k = b; k < e; ++k) detail::adamw_element(p[k], g[k], m[k], v[k], c);
      }
    });
  }
};

}  // namespace dnft
