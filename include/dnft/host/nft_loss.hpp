// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of nft_loss: fused, one read pass for the per-sample sums and one
// pass that writes the gradient while the sample is still in cache, threaded over samples.
#pragma once
// IWYU pragma: private

#include <cstdint>
#include <string>
#include <vector>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/noise.hpp"
#include "dnft/detail/nft.hpp"
#include "dnft/execution.hpp"

namespace dnft::detail {

//! Elements per chunk: the unit in which generated noise is materialised (on the stack).
inline constexpr index_t host_chunk = 1024;

//! Lanes of the per-sample sums: element k of a chunk goes to lane k % host_lanes (the tail
//! beyond the last full group to lane 0), and the lanes are added in order at the end of the
//! chunk. Contiguous and strided tensors follow this same order, so results do not depend on
//! the memory layout.
inline constexpr int host_lanes = 4;

//! Pass 1 over one contiguous chunk. W independent lanes of sums, so the compiler can vectorise
//! without reassociating a floating-point reduction (results are the same at any -O level).
template <bool HasRef, class T>
DNFT_FORCEINLINE void nft_sums_unit(nft_sums<double>& out, double beta, const T* x0, const T* eps, const T* vt,
                                    const T* vo, const T* vr, index_t n) noexcept {
  constexpr int W = host_lanes;
  nft_sums<double> lane[W];
  index_t d = 0;
  for (; d + W <= n; d += W)
    for (int j = 0; j < W; ++j)
      nft_accumulate<HasRef>(lane[j], beta, double(x0[d + j]), double(eps[d + j]), double(vt[d + j]),
                             double(vo[d + j]), HasRef ? double(vr[d + j]) : 0.0);
  for (; d < n; ++d)
    nft_accumulate<HasRef>(lane[0], beta, double(x0[d]), double(eps[d]), double(vt[d]), double(vo[d]),
                           HasRef ? double(vr[d]) : 0.0);
  for (int j = 0; j < W; ++j) out += lane[j];
}

//! Pass 1 over one chunk [d0, d0 + n) of a sample of strided tensors, in the lane order of nft_sums_unit.
template <bool HasRef, class T, class Args>
void nft_sums_strided(nft_sums<double>& out, double beta, const Args& a, index_t i, index_t d0, const T* ep,
                      index_t es, index_t n) noexcept {
  constexpr int W = host_lanes;
  nft_sums<double> lane[W];
  auto acc = [&](nft_sums<double>& l, index_t k) {
    const index_t d = d0 + k;
    nft_accumulate<HasRef>(l, beta, double(a.x0(i, d)), double(ep[k * es]), double(a.v_theta(i, d)),
                           double(a.v_old(i, d)), HasRef ? double(a.v_ref(i, d)) : 0.0);
  };
  index_t k = 0;
  for (; k + W <= n; k += W)
    for (int j = 0; j < W; ++j) acc(lane[j], k + j);
  for (; k < n; ++k) acc(lane[0], k);
  for (int j = 0; j < W; ++j) out += lane[j];
}

template <bool HasRef, class T>
DNFT_FORCEINLINE void nft_grad_unit(T* g, T beta, T cp, T cn, T ck, const T* x0, const T* eps, const T* vt,
                                    const T* vo, const T* vr, index_t n) noexcept {
  for (index_t d = 0; d < n; ++d)
    g[d] = nft_grad_element<HasRef>(beta, cp, cn, ck, x0[d], eps[d], vt[d], vo[d], HasRef ? vr[d] : T(0));
}

template <bool HasRef, bool HasGrad, class T, class Noise, class Time, class Adv>
void nft_host_sample(const nft_args<T, host_space, Noise, Time, Adv>& a, const nft_params& p, index_t i, nft_sample& out,
                     bool& bad) {
  const index_t D = a.x0.elements;
  const index_t B = a.x0.batch;
  const bool unit = a.x0.unit_stride() && a.v_theta.unit_stride() && a.v_old.unit_stride() &&
                    (!HasRef || a.v_ref.unit_stride()) && (!HasGrad || a.grad.unit_stride());
  T buf[host_chunk];
  const T* x0 = a.x0.sample(i);
  const T* vt = a.v_theta.sample(i);
  const T* vo = a.v_old.sample(i);
  const T* vr = HasRef ? a.v_ref.sample(i) : nullptr;
  nft_sums<double> s;
  for (index_t d0 = 0; d0 < D; d0 += host_chunk) {
    const index_t n = D - d0 < host_chunk ? D - d0 : host_chunk;
    index_t es = 1;
    const T* ep = noise_chunk(a.noise, i, d0, n, buf, es);
    if (unit && es == 1) {
      nft_sums_unit<HasRef>(s, p.beta, x0 + d0, ep, vt + d0, vo + d0, vr ? vr + d0 : nullptr, n);
    } else {
      nft_sums_strided<HasRef>(s, p.beta, a, i, d0, ep, es, n);
    }
  }
  if (!s.finite()) {
    bad = true;
    return;
  }
  out = nft_finish_sample(s, double(a.t[i]), double(a.adv[i]), double(D), double(B), p, HasRef);
  if constexpr (HasGrad) {
    const T beta = T(p.beta), cp = T(out.coef_pos), cn = T(out.coef_neg), ck = T(out.coef_kl);
    T* g = a.grad.sample(i);
    for (index_t d0 = 0; d0 < D; d0 += host_chunk) {
      const index_t n = D - d0 < host_chunk ? D - d0 : host_chunk;
      index_t es = 1;
      const T* ep = noise_chunk(a.noise, i, d0, n, buf, es);
      if (unit && es == 1) {
        nft_grad_unit<HasRef>(g + d0, beta, cp, cn, ck, x0 + d0, ep, vt + d0, vo + d0, vr ? vr + d0 : nullptr, n);
      } else {
        for (index_t d = d0; d < d0 + n; ++d)
          a.grad(i, d) = nft_grad_element<HasRef>(beta, cp, cn, ck, a.x0(i, d), ep[(d - d0) * es], a.v_theta(i, d),
                                                  a.v_old(i, d), HasRef ? a.v_ref(i, d) : T(0));
      }
    }
  }
}

//! Names the first non-finite input of a sample whose sums were not finite.
template <class T, class Noise, class Time, class Adv>
[[noreturn]] void nft_report_nonfinite(const nft_args<T, host_space, Noise, Time, Adv>& a, index_t i, bool has_ref,
                                       std::string_view fn) {
  index_t d = 0;
  double v = 0;
  auto report = [&](std::string_view name) {
    fail<value_error>(fn, name,
                      "non-finite value " + num(v) + " at sample " + std::to_string(i) + ", element " +
                          std::to_string(d));
  };
  if (find_nonfinite(a.x0, i, d, v)) report("x0");
  if (noise_find_nonfinite(a.noise, i, a.x0.elements, d, v)) report("noise");
  if (find_nonfinite(a.v_theta, i, d, v)) report("v_theta");
  if (find_nonfinite(a.v_old, i, d, v)) report("v_old");
  if (has_ref && find_nonfinite(a.v_ref, i, d, v)) report("v_ref");
  fail<value_error>(fn, "",
                    "the sums of sample " + std::to_string(i) +
                        " overflowed (inputs of magnitude above about 1e150); rescale the inputs");
}

}  // namespace dnft::detail

namespace dnft {

//! Host backend of nft_loss.
template <>
struct nft_loss_backend<host_executor> {
  template <bool HasRef, bool HasGrad, class T, class Noise, class Time, class Adv>
  static nft_stats run(const host_executor& ex, const detail::nft_args<T, host_space, Noise, Time, Adv>& a,
                       const detail::nft_params& p, std::string_view fn) {
    const index_t B = a.x0.batch, D = a.x0.elements;
    std::vector<detail::nft_sample> per(static_cast<std::size_t>(B));
    std::vector<unsigned char> bad(static_cast<std::size_t>(B), 0);
    constexpr index_t ops_per_element = std::is_same_v<Noise, philox_normal> ? 64 : 8;
    ex.bulk(B, D * ops_per_element, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) {
        bool is_bad = false;
        detail::nft_host_sample<HasRef, HasGrad>(a, p, i, per[std::size_t(i)], is_bad);
        bad[std::size_t(i)] = is_bad;
      }
    });
    for (index_t i = 0; i < B; ++i)
      if (bad[std::size_t(i)]) detail::nft_report_nonfinite(a, i, HasRef, fn);
    return detail::nft_reduce(per.data(), B, D, p);
  }
};

}  // namespace dnft
