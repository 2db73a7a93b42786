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
#include "support/nft_eager.hpp"

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

void bm_eager(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  const int threads = static_cast<int>(state.range(2));
  auto& p = problem(B, D);
  const auto ex = dnft_bench::executor(threads);
  const dnft_bench::eager E{ex, B, D};
  dnft_bench::eager_workspace w(B * D);
  const dnft_bench::nft_inputs in{p.x0.data(), p.eps.data(), p.v_theta.data(), p.v_old.data(), p.v_ref.data(), p.t, p.adv};
  const dnft_bench::cache_flusher flush;
  flush.timed_loop(state, [&] {
    double loss = dnft_bench::eager_nft(E, w, in, p.grad.data());
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

// Shapes: B = 64 samples of 16 x 64 x 64, and B = 8 samples of 16 x 128 x 128; 1 and 2 threads
// (B = 4 samples of 4096 in the smoke test, DNFT_BENCH_SMOKE=1).
void shapes(benchmark::internal::Benchmark* b) {
  if (dnft_bench::smoke_run()) {
    for (int threads : {1, 2}) b->Args({4, 4096, threads});
  } else {
    for (const auto& [B, D] : {std::pair<index_t, index_t>{64, 16 * 64 * 64}, {8, 16 * 128 * 128}})
      for (int threads : {1, 2}) b->Args({B, D, threads});
  }
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
    ->Args({8, dnft_bench::smoke_run() ? 1024 : 1 << 18, 1})
    ->Args({8, dnft_bench::smoke_run() ? 1024 : 1 << 18, 2})
    ->ArgNames({"B", "D", "threads"})
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Apply([](benchmark::internal::Benchmark* b) { dnft_bench::with_min(b); });

}  // namespace

BENCHMARK_MAIN();
