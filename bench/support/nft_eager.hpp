// SPDX-License-Identifier: Apache-2.0
// The eager (one pass and one temporary per operation) DiffusionNFT loss and gradient: the
// naive baseline of bench_nft_loss and bench_kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "dnft/execution.hpp"
#include "support/bench_support.hpp"

namespace dnft_bench {

using dnft::index_t;

// What an eager framework (PyTorch without a compiler) executes for the reference code of
// ALGORITHM.md section 2 and its autograd backward: every operation is one full pass over the
// batch writing one full-size temporary; per-sample means are separate reduction passes; the
// adaptive weight is computed in float64 as the reference does (.double()). Temporaries come
// from a pool allocated once (as a caching allocator would hand them out: no page faults timed).
// Each operation is threaded over samples with the same executor as the fused kernel.

//! One-pass operations over a (B, D) batch, threaded over samples.
struct eager {
  const dnft::host_executor& ex;
  index_t B, D;

  //! out[i, d] = f(i, k) for k = i * D + d: one pass, one temporary.
  template <class T, class F>
  void map(T* out, F f) const {
    const index_t d_ = D;
    ex.bulk(B, D, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i)
        for (index_t k = i * d_; k < (i + 1) * d_; ++k) out[k] = f(i, k);
    });
  }
  //! Per-sample mean (a reduction pass), accumulated in double.
  template <class T>
  void mean(const T* in, std::vector<double>& out) const {
    out.resize(std::size_t(B));
    const index_t d_ = D;
    ex.bulk(B, D, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) {
        double s = 0;
        for (index_t k = i * d_; k < (i + 1) * d_; ++k) s += double(in[k]);
        out[std::size_t(i)] = s / double(d_);
      }
    });
  }
};

//! The temporaries of eager_nft (8 float and 3 double tensors of n elements), zeroed once.
struct eager_workspace {
  std::vector<aligned_buffer<float>> f;
  std::vector<aligned_buffer<double>> d;
  explicit eager_workspace(index_t n) {
    for (int k = 0; k < 8; ++k) f.emplace_back(n);
    for (int k = 0; k < 3; ++k) d.emplace_back(n);
    for (auto& b : f) std::fill(b.data(), b.data() + n, 0.0f);
    for (auto& b : d) std::fill(b.data(), b.data() + n, 0.0);
  }
};

//! The inputs of one NFT loss evaluation: (B, D) float tensors, (B) times and advantages.
struct nft_inputs {
  const float *x0, *eps, *v_theta, *v_old, *v_ref;
  const std::vector<double>& t;
  const std::vector<double>& adv;
};

//! The eager loss and gradient with v_ref (the same result as nft_loss, default options).
inline double eager_nft(const eager& E, eager_workspace& w, const nft_inputs& p, float* grad) {
  const double beta = 1.0, C = 5.0, lambda = 1e-4, w_floor = 1e-5;
  const float fb = float(beta);
  const float *x0 = p.x0, *eps = p.eps, *vt = p.v_theta, *vo = p.v_old, *vr = p.v_ref;
  const auto& t = p.t;
  float *xt = w.f[0].data(), *a = w.f[1].data(), *b = w.f[2].data(), *vpos = w.f[3].data(), *vneg = w.f[4].data(),
        *dpos = w.f[5].data(), *dneg = w.f[6].data(), *dkl = w.f[7].data();
  double *xd = w.d[0].data(), *yd = w.d[1].data(), *zd = w.d[2].data();
  const index_t B = E.B, D = E.D;
  auto ti = [&](index_t i) { return float(t[std::size_t(i)]); };
  // forward: x_t = (1 - t) x0 + t eps
  E.map(a, [&](index_t i, index_t k) { return (1.0f - ti(i)) * x0[k]; });
  E.map(b, [&](index_t i, index_t k) { return ti(i) * eps[k]; });
  E.map(xt, [&](index_t, index_t k) { return a[k] + b[k]; });
  // v_pos = beta v_theta + (1 - beta) v_old;  v_neg = (1 + beta) v_old - beta v_theta
  E.map(a, [&](index_t, index_t k) { return fb * vt[k]; });
  E.map(b, [&](index_t, index_t k) { return (1.0f - fb) * vo[k]; });
  E.map(vpos, [&](index_t, index_t k) { return a[k] + b[k]; });
  E.map(a, [&](index_t, index_t k) { return (1.0f + fb) * vo[k]; });
  E.map(b, [&](index_t, index_t k) { return fb * vt[k]; });
  E.map(vneg, [&](index_t, index_t k) { return a[k] - b[k]; });
  // x0_pos = x_t - t v_pos (reuses vpos for t v_pos, then a for x0_pos), likewise for neg
  E.map(a, [&](index_t i, index_t k) { return ti(i) * vpos[k]; });
  E.map(vpos, [&](index_t, index_t k) { return xt[k] - a[k]; });  // vpos now holds x0_pos
  E.map(a, [&](index_t i, index_t k) { return ti(i) * vneg[k]; });
  E.map(vneg, [&](index_t, index_t k) { return xt[k] - a[k]; });  // vneg now holds x0_neg
  // adaptive weights in float64: w = clip(mean |x0_pred.double() - x0.double()|, 1e-5)
  std::vector<double> w_pos, w_neg, l_pos, l_neg, kl;
  E.map(xd, [&](index_t, index_t k) { return double(x0[k]); });
  E.map(yd, [&](index_t, index_t k) { return double(vpos[k]); });
  E.map(zd, [&](index_t, index_t k) { return yd[k] - xd[k]; });
  E.map(yd, [&](index_t, index_t k) { return std::abs(zd[k]); });
  E.mean(yd, w_pos);
  E.map(yd, [&](index_t, index_t k) { return double(vneg[k]); });
  E.map(zd, [&](index_t, index_t k) { return yd[k] - xd[k]; });
  E.map(yd, [&](index_t, index_t k) { return std::abs(zd[k]); });
  E.mean(yd, w_neg);
  for (index_t i = 0; i < B; ++i) {
    w_pos[std::size_t(i)] = std::max(w_pos[std::size_t(i)], w_floor);
    w_neg[std::size_t(i)] = std::max(w_neg[std::size_t(i)], w_floor);
  }
  // branch losses: mean((x0_pred - x0)^2 / w)
  E.map(dpos, [&](index_t, index_t k) { return vpos[k] - x0[k]; });
  E.map(a, [&](index_t, index_t k) { return dpos[k] * dpos[k]; });
  E.map(b, [&](index_t i, index_t k) { return float(a[k] / w_pos[std::size_t(i)]); });
  E.mean(b, l_pos);
  E.map(dneg, [&](index_t, index_t k) { return vneg[k] - x0[k]; });
  E.map(a, [&](index_t, index_t k) { return dneg[k] * dneg[k]; });
  E.map(b, [&](index_t i, index_t k) { return float(a[k] / w_neg[std::size_t(i)]); });
  E.mean(b, l_neg);
  // KL: mean((v_theta - v_ref)^2)
  E.map(dkl, [&](index_t, index_t k) { return vt[k] - vr[k]; });
  E.map(a, [&](index_t, index_t k) { return dkl[k] * dkl[k]; });
  E.mean(a, kl);
  // the scalar tail on (B) vectors
  std::vector<double> r(static_cast<std::size_t>(B));
  double loss = 0;
  for (index_t i = 0; i < B; ++i) {
    const auto s = std::size_t(i);
    const double ah = std::min(std::max(p.adv[s], -C), C);
    r[s] = std::min(std::max(ah / C / 2 + 0.5, 0.0), 1.0);
    loss += (C * (r[s] * l_pos[s] + (1 - r[s]) * l_neg[s]) / beta + lambda * kl[s]) / double(B);
  }
  // backward (autograd): d/d x0_pos of C r mean(d^2 / w) / (beta B) is 2 C r d / (beta B D w);
  // x0_pos = x_t - t v_pos gives a factor -t, v_pos = beta v_theta + ... a factor beta.
  auto cpos = [&](index_t i) {
    return float(2 * C * r[std::size_t(i)] / (beta * double(B) * double(D) * w_pos[std::size_t(i)]));
  };
  auto cneg = [&](index_t i) {
    return float(2 * C * (1 - r[std::size_t(i)]) / (beta * double(B) * double(D) * w_neg[std::size_t(i)]));
  };
  E.map(a, [&](index_t i, index_t k) { return cpos(i) * dpos[k]; });         // grad x0_pos
  E.map(a, [&](index_t i, index_t k) { return -ti(i) * a[k]; });             // grad v_pos
  E.map(a, [&](index_t, index_t k) { return fb * a[k]; });                   // grad v_theta via v_pos
  E.map(b, [&](index_t i, index_t k) { return cneg(i) * dneg[k]; });         // grad x0_neg
  E.map(b, [&](index_t i, index_t k) { return -ti(i) * b[k]; });             // grad v_neg
  E.map(b, [&](index_t, index_t k) { return -fb * b[k]; });                  // grad v_theta via v_neg
  E.map(xt, [&](index_t, index_t k) { return a[k] + b[k]; });                // accumulate
  const float ckl = float(2 * lambda / (double(B) * double(D)));
  E.map(a, [&](index_t, index_t k) { return ckl * dkl[k]; });                // grad v_theta via KL
  E.map(grad, [&](index_t, index_t k) { return xt[k] + a[k]; });
  return loss;
}

}  // namespace dnft_bench
