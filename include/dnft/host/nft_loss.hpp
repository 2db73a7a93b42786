// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of nft_loss: fused, one read pass for the per-sample sums and one
// pass that writes the gradient while the sample is still in cache, threaded over samples.
// Pass 1 sums float terms in fixed lanes per short block (vectorisable, no reassociation
// needed), blocks in double; pass 2 streams large gradients past the cache. Measured against
// the STREAM triad in bench/bench_nft_loss.cpp (bench/README.md).
#pragma once
// IWYU pragma: private

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "dnft/detail/batch.hpp"
#include "dnft/detail/noise.hpp"
#include "dnft/detail/nft.hpp"
#include "dnft/execution.hpp"

namespace dnft::detail {

//! Lanes of the host loops: 32 bytes of T (one AVX register; two SSE or NEON registers). The
//! lane structure is fixed, not taken from the target, so every build sums in the same order.
template <class T>
inline constexpr int host_lanes = sizeof(T) >= 32 ? 1 : int(32 / sizeof(T));

//! Elements per block in the pass-1 sums: within a block each lane accumulates in T (at most
//! nft_sum_block / host_lanes terms, 32 for float), then the block's lane sums are added to
//! double lane sums. So float data is summed with float arithmetic, yet the error stays that
//! of a 32-term float sum per block, far inside what the tests allow.
inline constexpr index_t nft_sum_block = 256;

//! Gradients of at least this many bytes in total are written with non-temporal (streaming)
//! stores: the kernel's footprint (six such tensors) is then comparable to a last-level
//! cache, so the gradient would not stay in cache anyway, and streaming saves the read of
//! every destination line that a normal store makes (half of the gradient's memory traffic).
inline constexpr index_t host_stream_bytes = index_t{4} << 20;

//! Reads element d of a strided array; with S = unit_stride the multiplication folds away.
template <class T, class S>
struct strided_ref {
  const T* p;
  S s;
  DNFT_FORCEINLINE T operator[](index_t d) const noexcept { return p[d * s]; }
};
using unit_stride_t = std::integral_constant<index_t, 1>;

//! Pass 1 over `n` elements read through strided_ref: adds the sample's sums to `out`. The order
//! of every addition depends only on n (not on the layout, the thread or the call), so strided
//! and contiguous tensors give bit-identical results.
template <bool HasRef, class T, class X0, class Eps, class Vt, class Vo, class Vr>
DNFT_FORCEINLINE void nft_sums_lanes(nft_sums<double>& out, T beta, X0 x0, Eps eps, Vt vt, Vo vo, Vr vr,
                                     index_t n) noexcept {
  constexpr int W = host_lanes<T>;
  constexpr int K = 8;  // the fields of nft_sums
  double acc[K][W] = {};
  const index_t full = n / W * W;
  index_t d = 0;
  while (d < full) {
    const index_t end = full - d < nft_sum_block ? full : d + nft_sum_block;
    T blk[K][W] = {};
    for (; d < end; d += W) {
      for (int j = 0; j < W; ++j) {
        const nft_sums<T> e =
            nft_terms<HasRef>(beta, x0[d + j], eps[d + j], vt[d + j], vo[d + j], HasRef ? vr[d + j] : T(0));
        blk[0][j] += e.abs_pos;
        blk[1][j] += e.abs_neg;
        blk[2][j] += e.sq_pos;
        blk[3][j] += e.sq_neg;
        blk[4][j] += e.theta_old;
        blk[5][j] += e.x0_sq;
        if constexpr (HasRef) {
          blk[6][j] += e.theta_ref;
          blk[7][j] += e.old_ref;
        }
      }
    }
    for (int k = 0; k < (HasRef ? K : 6); ++k)
      for (int j = 0; j < W; ++j) acc[k][j] += double(blk[k][j]);
  }
  nft_sums<double> s;
  for (int j = 0; j < W; ++j) {
    s.abs_pos += acc[0][j];
    s.abs_neg += acc[1][j];
    s.sq_pos += acc[2][j];
    s.sq_neg += acc[3][j];
    s.theta_old += acc[4][j];
    s.x0_sq += acc[5][j];
    s.theta_ref += acc[6][j];
    s.old_ref += acc[7][j];
  }
  for (; d < n; ++d)
    nft_accumulate<HasRef>(s, double(beta), double(x0[d]), double(eps[d]), double(vt[d]), double(vo[d]),
                           HasRef ? double(vr[d]) : 0.0);
  out += s;
}

//! Writes host_lanes<T> values to `dst`, streaming (non-temporal) if asked and possible;
//! `dst` is then aligned to 32 bytes.
template <class T>
DNFT_FORCEINLINE void store_lanes(T* dst, const T* src, bool stream) noexcept {
  constexpr int W = host_lanes<T>;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float>) {
    if (stream) return _mm256_stream_ps(dst, _mm256_loadu_ps(src));
  } else if constexpr (std::is_same_v<T, double>) {
    if (stream) return _mm256_stream_pd(dst, _mm256_loadu_pd(src));
  }
#elif defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    if (stream) {
      _mm_stream_ps(dst, _mm_loadu_ps(src));
      return _mm_stream_ps(dst + 4, _mm_loadu_ps(src + 4));
    }
  } else if constexpr (std::is_same_v<T, double>) {
    if (stream) {
      _mm_stream_pd(dst, _mm_loadu_pd(src));
      return _mm_stream_pd(dst + 2, _mm_loadu_pd(src + 2));
    }
  }
#endif
  (void)stream;
  for (int j = 0; j < W; ++j) dst[j] = src[j];
}

//! Whether store_lanes can stream values of type T on this target.
template <class T>
inline constexpr bool can_stream =
#if defined(__SSE2__)
    std::is_same_v<T, float> || std::is_same_v<T, double>;
#else
    false;
#endif

//! Orders earlier streaming stores before later stores (needed before another thread reads them).
inline void stream_fence() noexcept {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

//! Pass 2 over `n` contiguous elements: g[d] from the sample's coefficients. `g` may alias
//! v_theta: every group of lanes is read completely before it is written.
template <bool HasRef, class T>
DNFT_FORCEINLINE void nft_grad_unit(T* g, T beta, T cp, T cn, T ck, const T* x0, const T* eps, const T* vt,
                                    const T* vo, const T* vr, index_t n, bool stream) noexcept {
  constexpr int W = host_lanes<T>;
  index_t d = 0;
  auto one = [&](index_t k) {
    return nft_grad_element<HasRef>(beta, cp, cn, ck, x0[k], eps[k], vt[k], vo[k], HasRef ? vr[k] : T(0));
  };
  stream = stream && can_stream<T>;
  if (stream)  // streaming stores need 32-byte aligned destinations: peel to alignment
    for (; d < n && reinterpret_cast<std::uintptr_t>(g + d) % 32 != 0; ++d) g[d] = one(d);
  for (; d + W <= n; d += W) {
    T lanes[W];
    for (int j = 0; j < W; ++j) lanes[j] = one(d + j);
    store_lanes(g + d, lanes, stream);
  }
  for (; d < n; ++d) g[d] = one(d);
  if (stream) stream_fence();
}

template <bool HasRef, bool HasGrad, class T, class Noise, class Time, class Adv>
void nft_host_sample(const nft_args<T, host_space, Noise, Time, Adv>& a, const nft_params& p, index_t i, nft_sample& out,
                     bool& bad, T* scratch, bool stream) {
  const index_t D = a.x0.elements;
  const index_t B = a.x0.batch;
  index_t es = 1;
  const T* ep = noise_chunk(a.noise, i, 0, D, scratch, es);  // Philox noise: generated once, into scratch
  const bool unit = es == 1 && a.x0.unit_stride() && a.v_theta.unit_stride() && a.v_old.unit_stride() &&
                    (!HasRef || a.v_ref.unit_stride()) && (!HasGrad || a.grad.unit_stride());
  const T* x0 = a.x0.sample(i);
  const T* vt = a.v_theta.sample(i);
  const T* vo = a.v_old.sample(i);
  const T* vr = HasRef ? a.v_ref.sample(i) : nullptr;
  nft_sums<double> s;
  if (unit) {
    using R = strided_ref<T, unit_stride_t>;
    nft_sums_lanes<HasRef>(s, T(p.beta), R{x0, {}}, R{ep, {}}, R{vt, {}}, R{vo, {}}, R{vr, {}}, D);
  } else {
    using R = strided_ref<T, index_t>;
    nft_sums_lanes<HasRef>(s, T(p.beta), R{x0, a.x0.elem_stride}, R{ep, es}, R{vt, a.v_theta.elem_stride},
                           R{vo, a.v_old.elem_stride}, R{vr, HasRef ? a.v_ref.elem_stride : 0}, D);
  }
  if (!s.finite()) {
    bad = true;
    return;
  }
  out = nft_finish_sample(s, double(a.t[i]), double(a.adv[i]), double(D), double(B), p, HasRef);
  if constexpr (HasGrad) {
    const T beta = T(p.beta), cp = T(out.coef_pos), cn = T(out.coef_neg), ck = T(out.coef_kl);
    T* g = a.grad.sample(i);
    if (unit) {
      nft_grad_unit<HasRef>(g, beta, cp, cn, ck, x0, ep, vt, vo, vr, D, stream);
    } else {
      for (index_t d = 0; d < D; ++d)
        a.grad(i, d) = nft_grad_element<HasRef>(beta, cp, cn, ck, a.x0(i, d), ep[d * es], a.v_theta(i, d),
                                                a.v_old(i, d), HasRef ? a.v_ref(i, d) : T(0));
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
    constexpr bool philox = std::is_same_v<Noise, philox_normal>;
    constexpr index_t ops_per_element = philox ? 64 : 8;
    const bool stream = HasGrad && B * D * index_t(sizeof(T)) >= detail::host_stream_bytes;
    ex.bulk(B, D * ops_per_element, [&](index_t b, index_t e) {
      std::vector<T> scratch(philox ? std::size_t(D) : 0);  // one sample of regenerated noise
      for (index_t i = b; i < e; ++i) {
        bool is_bad = false;
        detail::nft_host_sample<HasRef, HasGrad>(a, p, i, per[std::size_t(i)], is_bad, scratch.data(), stream);
        bad[std::size_t(i)] = is_bad;
      }
    });
    for (index_t i = 0; i < B; ++i)
      if (bad[std::size_t(i)]) detail::nft_report_nonfinite(a, i, HasRef, fn);
    return detail::nft_reduce(per.data(), B, D, p);
  }
};

}  // namespace dnft
