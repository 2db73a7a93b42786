// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of flow_matching_loss: per sample one pass for the sum of squared
// errors and one that writes the gradient, threaded over samples.
#pragma once
// IWYU pragma: private

#include <string>
#include <string_view>
#include <vector>

#include "dnft/algorithm/common.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/forward.hpp"
#include "dnft/detail/noise.hpp"
#include "dnft/execution.hpp"
#include "dnft/host/common.hpp"

namespace dnft::detail {

//! sum_d (v - u)^2 over one contiguous chunk, four independent lanes in double.
template <class T>
DNFT_FORCEINLINE double fm_sum_unit(const T* x0, const T* eps, const T* v, index_t n) noexcept {
  double lane[4] = {0, 0, 0, 0};
  index_t d = 0;
  for (; d + 4 <= n; d += 4)
    for (int j = 0; j < 4; ++j) fm_accumulate(lane[j], x0[d + j], eps[d + j], v[d + j]);
  for (; d < n; ++d) fm_accumulate(lane[0], x0[d], eps[d], v[d]);
  return (lane[0] + lane[1]) + (lane[2] + lane[3]);
}

//! One sample of flow_matching_loss. Returns false when its sum is not finite.
template <bool HasGrad, class T, class Noise, class Time>
bool fm_host_sample(const flow_matching_args<T, host_space, Noise, Time>& a, time_weighting w, index_t i,
                    fm_sample& out) {
  const index_t D = a.x0.elements, B = a.x0.batch;
  const bool unit = a.x0.unit_stride() && a.v.unit_stride() && (!HasGrad || a.grad.unit_stride());
  T buf[host_block];
  double sum = 0;
  for (index_t d0 = 0; d0 < D; d0 += host_block) {
    const index_t n = D - d0 < host_block ? D - d0 : host_block;
    index_t es = 1;
    const T* ep = noise_chunk(a.noise, i, d0, n, buf, es);
    if (unit && es == 1) {
      sum += fm_sum_unit(a.x0.sample(i) + d0, ep, a.v.sample(i) + d0, n);
    } else {
      double s = 0;
      for (index_t d = 0; d < n; ++d) fm_accumulate(s, a.x0(i, d0 + d), ep[d * es], a.v(i, d0 + d));
      sum += s;
    }
  }
  if (!isfinite(sum)) return false;
  out = fm_finish_sample(sum, double(a.t[i]), double(D), double(B), w);
  if constexpr (HasGrad) {
    const T coef = T(out.coef);
    for (index_t d0 = 0; d0 < D; d0 += host_block) {
      const index_t n = D - d0 < host_block ? D - d0 : host_block;
      index_t es = 1;
      const T* ep = noise_chunk(a.noise, i, d0, n, buf, es);
      if (unit && es == 1) {
        const T* x0 = a.x0.sample(i) + d0;
        const T* v = a.v.sample(i) + d0;
        T* g = a.grad.sample(i) + d0;
        for (index_t d = 0; d < n; ++d) g[d] = fm_grad_element(coef, x0[d], ep[d], v[d]);
      } else {
        for (index_t d = 0; d < n; ++d)
          a.grad(i, d0 + d) = fm_grad_element(coef, a.x0(i, d0 + d), ep[d * es], a.v(i, d0 + d));
      }
    }
  }
  return true;
}

}  // namespace dnft::detail

namespace dnft {

//! Host backend of flow_matching_loss.
template <>
struct flow_matching_loss_backend<host_executor> {
  template <bool HasGrad, class T, class Noise, class Time>
  static flow_matching_stats run(const host_executor& ex,
                                 const detail::flow_matching_args<T, host_space, Noise, Time>& a, time_weighting w,
                                 std::string_view fn) {
    const index_t B = a.x0.batch, D = a.x0.elements;
    std::vector<detail::fm_sample> per(static_cast<std::size_t>(B));
    std::vector<unsigned char> ok(static_cast<std::size_t>(B), 1);
    constexpr index_t ops_per_element = std::is_same_v<Noise, philox_normal> ? 64 : 6;
    ex.bulk(B, D * ops_per_element, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i)
        ok[std::size_t(i)] = detail::fm_host_sample<HasGrad>(a, w, i, per[std::size_t(i)]) ? 1 : 0;
    });
    for (index_t i = 0; i < B; ++i) {
      if (ok[std::size_t(i)]) continue;
      index_t d = 0;
      double v = 0;
      const auto where = [&] {
        return detail::num(v) + " at sample " + std::to_string(i) + ", element " + std::to_string(d);
      };
      if (detail::find_nonfinite(a.x0, i, d, v)) detail::fail<value_error>(fn, "x0", "non-finite value " + where());
      if (detail::noise_find_nonfinite(a.noise, i, D, d, v))
        detail::fail<value_error>(fn, "noise", "non-finite value " + where());
      if (detail::find_nonfinite(a.v, i, d, v)) detail::fail<value_error>(fn, "v", "non-finite value " + where());
      detail::fail<value_error>(fn, "",
                                "the squared error of sample " + std::to_string(i) +
                                    " overflowed (inputs of magnitude above about 1e150); rescale the inputs");
    }
    return detail::fm_reduce(per.data(), B, D);
  }
};

}  // namespace dnft
