// SPDX-License-Identifier: Apache-2.0
// Noise generation and the forward process on dnft::cuda::executor at the paper's latent shapes
// (B = 64, D = 16x64x64 and B = 8, D = 16x128x128), float and bfloat16, next to the device memcpy
// baseline:
//   BM_fill_normal       Philox4x32-10 + Box-Muller, one call per four elements; bytes = the
//                        elements written
//   BM_forward_noise     dnft::forward_noise with eps regenerated from Philox in the kernel
//                        (x_t = (1 - t) x0 + t eps, no noise in memory): bytes = x0 read + x_t
//                        written. The algorithm checks t and the inputs on the device and copies
//                        the flags back, so each call ends with a small copy and a stream sync.
//   BM_forward_noise_kernel  the same kernel launched alone (no flag copy, no sync): the kernel's
//                        own bandwidth
// The forward-process benchmarks also time a device-to-device copy of one tensor (which moves
// the same bytes: one read, one write) in the same run and report fraction_of_memcpy = memcpy
// time / their time.
#include <cuda_bf16.h>

#include <cstdint>
#include <vector>

#include "bench_support.cuh"

namespace {

template <class T>
void BM_fill_normal(benchmark::State& state) {
  const dnft::index_t B = state.range(0), D = state.range(1);
  dnft::cuda::executor ex;
  auto out = ex.allocate<T>(B * D);
  std::uint64_t k = 0;
  dnft_bench::timed_loop(state, ex, [&] {
    dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 42, .stream = k++}, out.view(B, D));
  });
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * B * D * std::int64_t(sizeof(T)));
  state.counters["normals_per_second"] =
      benchmark::Counter(double(state.iterations()) * double(B * D), benchmark::Counter::kIsRate);
}

//! x0 (normals), t in (0, 1), and the x_t buffer of a (B, D) forward process in T.
template <class T>
struct forward_problem {
  dnft::index_t B, D;
  dnft::cuda::device_buffer<T> x0, xt;
  dnft::cuda::device_buffer<float> t;
  forward_problem(const dnft::cuda::executor& ex, dnft::index_t b, dnft::index_t d)
      : B(b), D(d), x0(ex.allocate<T>(b * d)), xt(ex.allocate<T>(b * d)) {
    dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 2, .stream = 0}, x0.view(B, D));
    std::vector<float> th(static_cast<std::size_t>(B));
    for (dnft::index_t i = 0; i < B; ++i) th[std::size_t(i)] = float(i + 1) / float(B + 1);
    t = ex.to_device(th);
  }
  std::int64_t bytes() const { return std::int64_t(B * D) * std::int64_t(sizeof(T)); }
};

template <class T>
void report_forward(benchmark::State& state, const dnft::cuda::executor& ex, forward_problem<T>& p, double seconds) {
  const double copy = dnft_bench::memcpy_seconds(ex, p.xt.data(), p.x0.data(), std::size_t(p.bytes()));
  const auto it = static_cast<std::int64_t>(state.iterations());
  state.SetBytesProcessed(it * 2 * p.bytes());
  state.counters["memcpy_bytes_per_second"] = 2.0 * double(p.bytes()) / copy;
  state.counters["fraction_of_memcpy"] = copy / (seconds / double(it));
}

template <class T>
void BM_forward_noise(benchmark::State& state) {
  dnft::cuda::executor ex;
  forward_problem<T> p(ex, state.range(0), state.range(1));
  std::uint64_t k = 0;
  const double seconds = dnft_bench::timed_loop(state, ex, [&] {
    dnft::forward_noise(ex, p.x0.view(p.B, p.D), dnft::philox_normal{.seed = 42, .stream = k++}, p.t,
                        p.xt.view(p.B, p.D));
  });
  report_forward(state, ex, p, seconds);
}

//! The forward_noise kernel alone, as the backend launches it (same grid), without the copy of
//! the flags to the host and the stream synchronisation that the algorithm adds for its checks.
template <class T>
void BM_forward_noise_kernel(benchmark::State& state) {
  namespace cd = dnft::cuda::detail;
  dnft::cuda::executor ex;
  forward_problem<T> p(ex, state.range(0), state.range(1));
  const cd::sample_grid g = cd::plan_sample_grid(p.B, p.D, ex.sm_count(), ex.config());
  auto flags = ex.allocate<unsigned char>(g.items);
  using time_view = dnft::detail::vector_view<const float, dnft::device_space>;
  dnft::detail::forward_noise_args<T, dnft::device_space, dnft::philox_normal, time_view> a{
      {p.x0.data(), p.B, p.D, p.D, 1}, {}, {p.t.data(), p.B, 1}, {p.xt.data(), p.B, p.D, p.D, 1}, {}, {}};
  const bool vec = cd::groupable(a.x0) && cd::groupable(a.x_t);
  std::uint64_t k = 0;
  const double seconds = dnft_bench::timed_loop(state, ex, [&] {
    a.noise = dnft::philox_normal{.seed = 42, .stream = k++};
    cd::forward_noise_kernel<false, false><<<g.grid, dnft::cuda::block_threads, 0, ex.stream()>>>(a, g, vec,
                                                                                                 flags.data());
    dnft::cuda::check_launch();
  });
  report_forward(state, ex, p, seconds);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 16 * 64 * 64})->Args({8, 16 * 128 * 128})->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(dnft_bench::BM_memcpy_d2d)
    ->Arg(int64_t(64) * 16 * 64 * 64 * 4)
    ->Arg(int64_t(8) * 16 * 128 * 128 * 4)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_fill_normal<float>)->Apply(shapes)->Name("BM_fill_normal<float>");
BENCHMARK(BM_fill_normal<__nv_bfloat16>)->Apply(shapes)->Name("BM_fill_normal<bfloat16>");
BENCHMARK(BM_forward_noise<float>)->Apply(shapes)->Name("BM_forward_noise<float,philox>");
BENCHMARK(BM_forward_noise<__nv_bfloat16>)->Apply(shapes)->Name("BM_forward_noise<bfloat16,philox>");
BENCHMARK(BM_forward_noise_kernel<float>)->Apply(shapes)->Name("BM_forward_noise_kernel<float,philox>");
BENCHMARK(BM_forward_noise_kernel<__nv_bfloat16>)->Apply(shapes)->Name("BM_forward_noise_kernel<bfloat16,philox>");

int main(int argc, char** argv) { return dnft_bench::run(argc, argv); }
