// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of forward_noise: one pass per sample, noise read in place or
// regenerated chunk by chunk, threaded over samples.
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

//! One sample of forward_noise. Returns false when an input element is not finite.
template <bool HasEps, bool HasU, class T, class Noise, class Time>
bool forward_noise_host_sample(const forward_noise_args<T, host_space, Noise, Time>& a, index_t i) {
  const index_t D = a.x0.elements;
  const T t = T(a.t[i]);
  const bool unit =
      a.x0.unit_stride() && a.x_t.unit_stride() && (!HasEps || a.eps.unit_stride()) && (!HasU || a.u.unit_stride());
  T buf[host_block];
  int finite = 1;
  for (index_t d0 = 0; d0 < D; d0 += host_block) {
    const index_t n = D - d0 < host_block ? D - d0 : host_block;
    index_t es = 1;
    const T* ep = noise_chunk(a.noise, i, d0, n, buf, es);
    if (unit && es == 1) {
      const T* x0 = a.x0.sample(i) + d0;
      T* xt = a.x_t.sample(i) + d0;
      T* eo = HasEps ? a.eps.sample(i) + d0 : nullptr;
      T* uo = HasU ? a.u.sample(i) + d0 : nullptr;
      for (index_t d = 0; d < n; ++d) {
        const T x = x0[d], e = ep[d];
        finite &= int(isfinite(x)) & int(isfinite(e));
        xt[d] = forward_sample(t, x, e);
        if constexpr (HasEps) eo[d] = e;
        if constexpr (HasU) uo[d] = target_velocity(x, e);
      }
    } else {
      for (index_t d = 0; d < n; ++d) {
        const T x = a.x0(i, d0 + d), e = ep[d * es];
        finite &= int(isfinite(x)) & int(isfinite(e));
        a.x_t(i, d0 + d) = forward_sample(t, x, e);
        if constexpr (HasEps) a.eps(i, d0 + d) = e;
        if constexpr (HasU) a.u(i, d0 + d) = target_velocity(x, e);
      }
    }
  }
  return finite != 0;
}

//! Names the first non-finite input element of sample i.
template <class X0, class Noise>
[[noreturn]] void report_nonfinite_input(const X0& x0, const Noise& noise, index_t i, std::string_view fn) {
  index_t d = 0;
  double v = 0;
  const auto where = [&] { return num(v) + " at sample " + std::to_string(i) + ", element " + std::to_string(d); };
  if (find_nonfinite(x0, i, d, v)) fail<value_error>(fn, "x0", "non-finite value " + where());
  if (noise_find_nonfinite(noise, i, x0.elements, d, v)) fail<value_error>(fn, "noise", "non-finite value " + where());
  fail<value_error>(fn, "", "sample " + std::to_string(i) + " produced a non-finite value");
}

}  // namespace dnft::detail

namespace dnft {

//! Host backend of forward_noise.
template <>
struct forward_noise_backend<host_executor> {
  template <bool HasEps, bool HasU, class T, class Noise, class Time>
  static void run(const host_executor& ex, const detail::forward_noise_args<T, host_space, Noise, Time>& a,
                  std::string_view fn) {
    const index_t B = a.x0.batch, D = a.x0.elements;
    std::vector<unsigned char> ok(static_cast<std::size_t>(B), 1);
    constexpr index_t ops_per_element = std::is_same_v<Noise, philox_normal> ? 64 : 4;
    ex.bulk(B, D * ops_per_element, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i)
        ok[std::size_t(i)] = detail::forward_noise_host_sample<HasEps, HasU>(a, i) ? 1 : 0;
    });
    for (index_t i = 0; i < B; ++i)
      if (!ok[std::size_t(i)]) detail::report_nonfinite_input(a.x0, a.noise, i, fn);
  }
};

}  // namespace dnft
