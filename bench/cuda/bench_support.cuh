// SPDX-License-Identifier: Apache-2.0
// Shared by the CUDA benchmarks: CUDA-event timing, the device-to-device memcpy baseline and a
// main that says so (and exits 0) when there is no device.
#pragma once

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dnft/cuda/cuda.cuh"

namespace dnft_bench {

//! Times work enqueued on a stream with two CUDA events.
class event_timer {
 public:
  event_timer() {
    dnft::cuda::check(cudaEventCreate(&start_));
    dnft::cuda::check(cudaEventCreate(&stop_));
  }
  event_timer(const event_timer&) = delete;
  event_timer& operator=(const event_timer&) = delete;
  ~event_timer() {
    (void)cudaEventDestroy(start_);
    (void)cudaEventDestroy(stop_);
  }
  void start(cudaStream_t s) { dnft::cuda::check(cudaEventRecord(start_, s)); }
  //! Seconds between start() and now on the stream (waits for the stream to get there).
  double stop(cudaStream_t s) {
    dnft::cuda::check(cudaEventRecord(stop_, s));
    dnft::cuda::check(cudaEventSynchronize(stop_));
    float ms = 0;
    dnft::cuda::check(cudaEventElapsedTime(&ms, start_, stop_));
    return double(ms) * 1e-3;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

//! Runs `f` (which enqueues work on ex's stream) once to warm up, then once per iteration, each
//! timed by events; the reported time is the events' (UseManualTime). Returns the total of the
//! timed iterations in seconds.
template <class F>
double timed_loop(benchmark::State& state, const dnft::cuda::executor& ex, F&& f) {
  f();
  ex.synchronize();
  event_timer timer;
  double total = 0;
  for (auto _ : state) {
    timer.start(ex.stream());
    f();
    const double s = timer.stop(ex.stream());
    total += s;
    state.SetIterationTime(s);
  }
  return total;
}

//! The baseline: cudaMemcpyAsync device to device of range(0) bytes; bytes processed counts
//! the read and the write (2 x bytes), as the algorithm benchmarks count their reads and writes.
inline void BM_memcpy_d2d(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  dnft::cuda::executor ex;
  auto a = ex.allocate<std::uint8_t>(static_cast<dnft::index_t>(bytes));
  auto b = ex.allocate<std::uint8_t>(static_cast<dnft::index_t>(bytes));
  dnft::cuda::check(cudaMemsetAsync(a.data(), 1, bytes, ex.stream()));
  timed_loop(state, ex, [&] {
    dnft::cuda::check(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, ex.stream()));
  });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(2 * bytes));
}

//! Median seconds of `reps` device-to-device copies of `bytes` bytes on ex's stream (each timed by
//! events): the baseline a bandwidth-bound kernel moving 2 x bytes is compared with in its own run.
inline double memcpy_seconds(const dnft::cuda::executor& ex, void* dst, const void* src, std::size_t bytes,
                             int reps = 15) {
  event_timer timer;
  std::vector<double> t;
  dnft::cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ex.stream()));  // warm-up
  ex.synchronize();
  for (int r = 0; r < reps; ++r) {
    timer.start(ex.stream());
    dnft::cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ex.stream()));
    t.push_back(timer.stop(ex.stream()));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

//! main(): runs the registered benchmarks when a CUDA device is present. Without one it says so
//! and exits with 0, or with 77 (ctest's "Skipped") when given --dnft-needs-device.
inline int run(int argc, char** argv) {
  bool needs_device = false;
  int kept = 0;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dnft-needs-device") == 0) {
      needs_device = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    std::printf("no CUDA device: nothing to benchmark (cudaGetDeviceCount: %s)\n",
                e != cudaSuccess ? cudaGetErrorName(e) : "0 devices");
    return needs_device ? 77 : 0;
  }
  cudaDeviceProp prop{};
  dnft::cuda::check(cudaGetDeviceProperties(&prop, 0));
  benchmark::AddCustomContext("cuda_device", prop.name);
  benchmark::AddCustomContext("cuda_compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace dnft_bench
