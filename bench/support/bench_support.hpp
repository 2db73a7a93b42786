// SPDX-License-Identifier: Apache-2.0
// Shared benchmark helpers: aligned buffers, deterministic data, the STREAM triad, byte counters.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "dnft/execution.hpp"
#include "dnft/random/philox.hpp"

namespace dnft_bench {

using dnft::index_t;

//! True when the environment variable DNFT_BENCH_SMOKE is set to anything but "" or "0" (the
//! bench-smoke ctest sets it): benchmarks then run small shapes only.
inline bool smoke_run() {
  const char* e = std::getenv("DNFT_BENCH_SMOKE");
  return e != nullptr && *e != '\0' && !(e[0] == '0' && e[1] == '\0');
}

//! A host executor with exactly `threads` threads that parallelises any amount of work (the
//! benchmarks choose their sizes; the library's min_parallel_work heuristic is not under test).
inline dnft::host_executor executor(int threads) {
  dnft::host_executor ex{threads};
  ex.min_parallel_work = 1;
  return ex;
}

//! An uninitialised, 64-byte aligned array (tensors from PyTorch or a CUDA-pinned allocator
//! are at least this aligned; glibc's malloc gives 16 bytes for large blocks).
template <class T>
class aligned_buffer {
 public:
  static constexpr std::size_t alignment = 64;

  aligned_buffer() = default;
  explicit aligned_buffer(index_t n) : n_(n) {
    const std::size_t bytes = (static_cast<std::size_t>(n) * sizeof(T) + alignment - 1) / alignment * alignment;
    p_.reset(static_cast<T*>(::operator new(bytes, std::align_val_t{alignment})));
  }

  T* data() noexcept { return p_.get(); }
  const T* data() const noexcept { return p_.get(); }
  index_t size() const noexcept { return n_; }
  T& operator[](index_t i) noexcept { return p_.get()[i]; }
  const T& operator[](index_t i) const noexcept { return p_.get()[i]; }

 private:
  struct deleter {
    void operator()(T* p) const noexcept { ::operator delete(static_cast<void*>(p), std::align_val_t{alignment}); }
  };
  std::unique_ptr<T, deleter> p_;
  index_t n_ = 0;
};

//! Elements per work item when a flat array is split between threads (256 KiB of floats).
inline constexpr index_t flat_chunk = index_t{1} << 16;

//! Calls f(begin, end) on contiguous element ranges of [0, n), split between the executor's threads.
template <class F>
void parallel_ranges(const dnft::host_executor& ex, index_t n, F&& f) {
  const index_t chunks = (n + flat_chunk - 1) / flat_chunk;
  ex.bulk(chunks, flat_chunk, [&](index_t b, index_t e) { f(b * flat_chunk, e * flat_chunk < n ? e * flat_chunk : n); });
}

//! Fills p[0, n) with scale * N(0, 1) + shift from Philox (deterministic, any thread count),
//! touching the pages from the threads that will later read them.
template <class T>
void fill_normal(const dnft::host_executor& ex, T* p, index_t n, std::uint64_t seed, T scale = T(1), T shift = T(0)) {
  const dnft::philox_normal gen{.seed = seed, .stream = 0};
  parallel_ranges(ex, n, [&](index_t b, index_t e) {
    gen.fill(0, std::uint64_t(b), std::uint64_t(e), p + b);
    for (index_t k = b; k < e; ++k) p[k] = scale * p[k] + shift;
  });
}

//! The STREAM triad a[i] = b[i] + s * c[i], threaded like the kernels (contiguous ranges).
inline void triad(const dnft::host_executor& ex, float* __restrict a, const float* __restrict b,
                  const float* __restrict c, float s, index_t n) {
  parallel_ranges(ex, n, [=](index_t lo, index_t hi) {
    for (index_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
  });
}

//! @brief Evicts the benchmark's data from every cache level by reading a buffer twice the size
//! of a large last-level cache (64 MiB), so that each timed iteration starts cold, as the STREAM
//! rules ask (arrays of 4x the cache) and as a training step meets tensors a model has just
//! written elsewhere. Reading (not writing) leaves no dirty lines to be written back later.
class cache_flusher {
 public:
  static constexpr index_t bytes = index_t{64} << 20;

  void operator()() const {
    const auto& buf = buffer();
    const std::uint64_t* p = buf.data();
    std::uint64_t acc = 0;
    for (index_t i = 0; i < buf.size(); i += index_t(64 / sizeof(std::uint64_t))) acc += p[i];  // a line each
    benchmark::DoNotOptimize(acc);
  }

  //! Runs `f` once per benchmark iteration, timing only `f` (the flush runs with timing paused).
  template <class F>
  void timed_loop(benchmark::State& state, F&& f) const {
    for (auto _ : state) {
      state.PauseTiming();
      (*this)();
      state.ResumeTiming();
      f();
    }
  }

 private:
  static const aligned_buffer<std::uint64_t>& buffer() {
    static const aligned_buffer<std::uint64_t> b = [] {
      aligned_buffer<std::uint64_t> r(bytes / index_t(sizeof(std::uint64_t)));
      for (index_t i = 0; i < r.size(); ++i) r[i] = std::uint64_t(i);
      return r;
    }();
    return b;
  }
};

//! Bytes the STREAM convention counts for a triad of n floats: two arrays read, one written.
constexpr double triad_bytes(index_t n) noexcept { return 3.0 * double(n) * sizeof(float); }

//! Reports `bytes` per iteration as bytes_per_second and as the counter "bytes" (which
//! scripts/bench_report.py uses to compute ratios to the triad bound).
inline void set_bytes(benchmark::State& state, double bytes) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) * static_cast<std::int64_t>(state.iterations()));
  state.counters["bytes"] = benchmark::Counter(bytes);
}

//! Adds the aggregate "min" (the fastest repetition: on a shared machine the least disturbed)
//! to the mean, median, stddev and cv Google Benchmark reports with --benchmark_repetitions.
inline benchmark::internal::Benchmark* with_min(benchmark::internal::Benchmark* b) {
  return b->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

//! The STREAM triad benchmark over three arrays of `n` floats at `threads` threads, each
//! iteration from cold caches. Registered by each binary that compares against it, with n
//! chosen to match its kernels' footprint.
inline void bm_triad(benchmark::State& state, index_t n, int threads) {
  const auto ex = executor(threads);
  aligned_buffer<float> a(n), b(n), c(n);
  fill_normal(ex, a.data(), n, 1);
  fill_normal(ex, b.data(), n, 2);
  fill_normal(ex, c.data(), n, 3);
  const cache_flusher flush;
  flush.timed_loop(state, [&] {
    triad(ex, a.data(), b.data(), c.data(), 0.5f, n);
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  });
  set_bytes(state, triad_bytes(n));
  state.counters["threads"] = threads;
}

}  // namespace dnft_bench
