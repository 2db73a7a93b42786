// SPDX-License-Identifier: Apache-2.0
// nft_loss (loss + gradient) against the memory-bandwidth bound (a STREAM triad over the same
// footprint) and against an eager, one-pass-per-operation version; Philox normals per second.
//
// Run: scripts/bench.sh nft   (builds the release preset, runs this binary with repetitions and
// prints the table of bench/README.md through scripts/bench_report.py).
//
// Names: bm_<what>/B:<B>/D:<D>/threads:<n>. Every benchmark reports the counter "bytes": what
// the kernel's arguments occupy (inputs read once, the gradient written once, t and adv), the
// figure the triad bound is computed from. The triad, fused and eager iterations each start
// from cold caches (dnft_bench::cache_flusher, not timed).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "dnft/algorithm/nft_loss.hpp"
#include "support/bench_support.hpp"

namespace {

using dnft::index_t;
using dnft_bench::aligned_buffer;

// ---- the problem ------------------------------------------------------------------------------

//! One batch of inputs, made once per shape and shared by all benchmarks of that shape.
struct nft_problem {
  index_t B, D;
  aligned_buffer<float> x0, eps, v_theta, v_old, v_ref, grad;
  std::vector<double> t, adv;

  nft_problem(index_t b, index_t d)
      : B(b), D(d), x0(b * d), eps(b * d), v_theta(b * d), v_old(b * d), v_ref(b * d), grad(b * d), t(std::size_t(b)),
        adv(std::size_t(b)) {
    const auto ex = dnft_bench::executor(2);
    const index_t n = b * d;
    dnft_bench::fill_normal(ex, x0.data(), n, 11);
    dnft_bench::fill_normal(ex, eps.data(), n, 12);
    // velocities near the flow-matching target u = eps - x0 (realistic branch errors)
    dnft_bench::fill_normal(ex, v_theta.data(), n, 13, 0.3f);
    dnft_bench::fill_normal(ex, v_old.data(), n, 14, 0.3f);
    dnft_bench::fill_normal(ex, v_ref.data(), n, 15, 0.3f);
    dnft_bench::fill_normal(ex, grad.data(), n, 16);
    dnft_bench::parallel_ranges(ex, n, [&](index_t lo, index_t hi) {
      for (index_t k = lo; k < hi; ++k) {
        const float u = eps[k] - x0[k];
        v_theta[k] += u;
        v_old[k] += u;
        v_ref[k] += u;
      }
    });
    std::mt19937_64 g(17);
    std::uniform_real_distribution<double> ut(0.0, 1.0);
    std::normal_distribution<double> na(0.0, 2.0);
    for (auto& x : t) x = ut(g);
    for (auto& x : adv) x = na(g);
  }

  auto view(aligned_buffer<float>& a) { return dnft::make_view(a.data(), {B, D}); }
  auto cview(const aligned_buffer<float>& a) const { return dnft::make_view(a.data(), {B, D}); }

  //! Bytes of the arguments: `tensors` (B, D) float tensors (inputs plus the gradient) and t, adv.
  double bytes(int tensors) const {
    return double(tensors) * double(B) * double(D) * sizeof(float) + 2.0 * double(B) * sizeof(double);
  }
};

nft_problem& problem(index_t b, index_t d) {
  static std::map<std::pair<index_t, index_t>, std::unique_ptr<nft_problem>> cache;
  auto& p = cache[{b, d}];
  if (!p) p = std::make_unique<nft_problem>(b, d);
  return *p;
}

const dnft::philox_normal philox{.seed = 2509, .stream = dnft::stream_id(7, 3)};

// ---- the fused kernel -------------------------------------------------------------------------

enum class variant { noise_tensor, philox_noise, no_ref };

template <variant V>
void bm_fused(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  auto& p = problem(B, D);
  const auto ex = dnft_bench::executor(threads);
  const auto x0 = p.cview(p.x0), eps = p.cview(p.eps), vt = p.cview(p.v_theta), vo = p.cview(p.v_old),
             vr = p.cview(p.v_ref);
  const auto g = p.view(p.grad);
  const dnft_bench::cache_flusher flush;
  flush.timed_loop(state, [&] {
    dnft::nft_stats s;
    if constexpr (V == variant::noise_tensor)
      s = dnft::nft_loss(ex, x0, eps, p.t, p.adv, vt, vo, vr, g);
    else if constexpr (V == variant::philox_noise)
      s = dnft::nft_loss(ex, x0, philox, p.t, p.adv, vt, vo, vr, g);
    else
      s = dnft::nft_loss(ex, x0, eps, p.t, p.adv, vt, vo, dnft::none, g);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  });
  // inputs read + the gradient written: 5 + 1, or 4 + 1 without v_ref or with regenerated noise
  dnft_bench::set_bytes(state, p.bytes(V == variant::noise_tensor ? 6 : 5));
  state.counters["threads"] = threads;
}

// ---- the eager version ------------------------------------------------------------------------
// What an eager framework (PyTorch without a compiler) executes for the reference code of
// ALGORITHM.md section 2 and its autograd backward: every operation is one full pass over the
// batch writing one full-size temporary; per-sample means are separate reduction passes; the
// adaptive weight is computed in float64 as the reference does (.double()). Temporaries come
// from a pool allocated once (as a caching allocator would hand them out: no page faults timed).
// Each operation is threaded over samples with the same executor as the fused kernel.

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

struct eager_workspace {
  std::vector<aligned_buffer<float>> f;
  std::vector<aligned_buffer<double>> d;
  eager_workspace(index_t n) {
    for (int k = 0; k < 8; ++k) f.emplace_back(n);
    for (int k = 0; k < 3; ++k) d.emplace_back(n);
    for (auto& b : f) std::fill(b.data(), b.data() + n, 0.0f);
    for (auto& b : d) std::fill(b.data(), b.data() + n, 0.0);
  }
};

//! The eager loss and gradient with v_ref (the same result as nft_loss, default options).
double eager_nft(const eager& E, eager_workspace& w, const nft_problem& p, float* grad) {
  const double beta = 1.0, C = 5.0, lambda = 1e-4, w_floor = 1e-5;
  const float fb = float(beta);
  const float *x0 = p.x0.data(), *eps = p.eps.data(), *vt = p.v_theta.data(), *vo = p.v_old.data(),
              *vr = p.v_ref.data();
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

void bm_eager(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  auto& p = problem(B, D);
  const auto ex = dnft_bench::executor(threads);
  const eager E{ex, B, D};
  eager_workspace w(B * D);
  const dnft_bench::cache_flusher flush;
  flush.timed_loop(state, [&] {
    double loss = eager_nft(E, w, p, p.grad.data());
    benchmark::DoNotOptimize(loss);
    benchmark::ClobberMemory();
  });
  dnft_bench::set_bytes(state, p.bytes(6));
  state.counters["threads"] = threads;
}

// ---- the bandwidth reference and Philox throughput ------------------------------------------

//! The triad over three arrays of 2 B D floats: the same 6 B D floats the fused kernel touches.
void bm_triad(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  dnft_bench::bm_triad(state, 2 * B * D, static_cast<int>(state.range(2)));
}

//! Standard normals per second: philox_normal::fill of B samples x D elements into a buffer.
void bm_philox_fill(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  const auto ex = dnft_bench::executor(threads);
  aligned_buffer<float> out(B * D);
  for (auto _ : state) {
    ex.bulk(B, D * 64, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) philox.fill(std::uint64_t(i), 0, std::uint64_t(D), out.data() + i * D);
    });
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * B * D);
  state.counters["threads"] = threads;
}

// Shapes: B = 64 samples of 16 x 64 x 64, and B = 8 samples of 16 x 128 x 128; 1 and 2 threads.
void shapes(benchmark::internal::Benchmark* b) {
  for (const auto& [B, D] : {std::pair<index_t, index_t>{64, 16 * 64 * 64}, {8, 16 * 128 * 128}})
    for (int threads : {1, 2}) b->Args({B, D, threads});
  // wall time decides; the process CPU time (all threads) is reported too (bench_report.py)
  b->ArgNames({"B", "D", "threads"})->MeasureProcessCPUTime()->UseRealTime()->Unit(benchmark::kMillisecond);
  dnft_bench::with_min(b);
}

// The triad first, so that a run reads top to bottom: bound, fused, variants, eager.
BENCHMARK(bm_triad)->Apply(shapes);
BENCHMARK(bm_fused<variant::noise_tensor>)->Name("bm_nft_fused")->Apply(shapes);
BENCHMARK(bm_fused<variant::philox_noise>)->Name("bm_nft_fused_philox")->Apply(shapes);
BENCHMARK(bm_fused<variant::no_ref>)->Name("bm_nft_fused_noref")->Apply(shapes);
BENCHMARK(bm_eager)->Name("bm_nft_eager")->Apply(shapes);
BENCHMARK(bm_philox_fill)
    ->Args({8, 1 << 18, 1})
    ->Args({8, 1 << 18, 2})
    ->ArgNames({"B", "D", "threads"})
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Apply([](benchmark::internal::Benchmark* b) { dnft_bench::with_min(b); });

}  // namespace

BENCHMARK_MAIN();
