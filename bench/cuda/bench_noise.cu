// SPDX-License-Identifier: Apache-2.0
// Noise generation on dnft::cuda::executor: fill_normal (Philox4x32-10 + Box-Muller, one call
// per four elements) at the paper's latent shapes, float and bfloat16, next to the device memcpy
// baseline. bytes_processed counts the elements written.
#include <cuda_bf16.h>

#include <cstdint>

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

int main(int argc, char** argv) { return dnft_bench::run(argc, argv); }
