// SPDX-License-Identifier: Apache-2.0
// nft_loss with its gradient on dnft::cuda::executor (float and bfloat16; noise stored or
// regenerated from Philox) at the paper's latent shapes, next to the device memcpy baseline.
//
// bytes_processed counts the minimum traffic of a fused implementation: each input read once
// (x0, eps unless regenerated, v_theta, v_old, v_ref) and the gradient written once. The
// backend makes two passes over the inputs, so it moves "moved_bytes" (also reported as a rate):
// compare that rate with BM_memcpy_d2d's.
#include <cuda_bf16.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench_support.cuh"

namespace {

template <class T, bool Philox>
void BM_nft_loss(benchmark::State& state) {
  const dnft::index_t B = state.range(0), D = state.range(1), n = B * D;
  dnft::cuda::executor ex;
  auto x0 = ex.allocate<T>(n), eps = ex.allocate<T>(n), vt = ex.allocate<T>(n), vo = ex.allocate<T>(n),
       vr = ex.allocate<T>(n), grad = ex.allocate<T>(n);
  const dnft::philox_normal noise{.seed = 1, .stream = 0};
  dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 2, .stream = 0}, x0.view(B, D));
  dnft::cuda::fill_normal(ex, noise, eps.view(B, D));
  dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 3, .stream = 0}, vt.view(B, D));
  dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 4, .stream = 0}, vo.view(B, D));
  dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 5, .stream = 0}, vr.view(B, D));
  std::vector<double> th(static_cast<std::size_t>(B)), ah(static_cast<std::size_t>(B));
  for (dnft::index_t i = 0; i < B; ++i) {
    th[std::size_t(i)] = double(i + 1) / double(B + 1);
    ah[std::size_t(i)] = double(i % 7) - 3.0;
  }
  const auto t = ex.to_device(th), adv = ex.to_device(ah);
  double loss = 0;
  dnft_bench::timed_loop(state, ex, [&] {
    dnft::nft_stats st;
    if constexpr (Philox) {
      st = dnft::nft_loss(ex, x0.view(B, D), noise, t, adv, vt.view(B, D), vo.view(B, D), vr.view(B, D),
                          grad.view(B, D));
    } else {
      st = dnft::nft_loss(ex, x0.view(B, D), eps.view(B, D), t, adv, vt.view(B, D), vo.view(B, D), vr.view(B, D),
                          grad.view(B, D));
    }
    loss = st.loss;
  });
  benchmark::DoNotOptimize(loss);
  const auto it = static_cast<std::int64_t>(state.iterations());
  const std::int64_t bytes = std::int64_t(n) * std::int64_t(sizeof(T));
  const std::int64_t inputs = Philox ? 4 : 5;
  state.SetBytesProcessed(it * (inputs + 1) * bytes);
  state.counters["moved_bytes_per_second"] =
      benchmark::Counter(double(it * (2 * inputs + 1) * bytes), benchmark::Counter::kIsRate);
  state.counters["loss"] = loss;
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 16 * 64 * 64})->Args({8, 16 * 128 * 128})->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(dnft_bench::BM_memcpy_d2d)
    ->Arg(int64_t(64) * 16 * 64 * 64 * 4)  // one float (64, 16x64x64) tensor
    ->Arg(int64_t(8) * 16 * 128 * 128 * 4)
    ->Arg(int64_t(6) * 64 * 16 * 64 * 64 * 4)  // a fused nft_loss's minimum traffic
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_nft_loss<float, false>)->Apply(shapes)->Name("BM_nft_loss<float>");
BENCHMARK(BM_nft_loss<float, true>)->Apply(shapes)->Name("BM_nft_loss<float,philox>");
BENCHMARK(BM_nft_loss<__nv_bfloat16, false>)->Apply(shapes)->Name("BM_nft_loss<bfloat16>");
BENCHMARK(BM_nft_loss<__nv_bfloat16, true>)->Apply(shapes)->Name("BM_nft_loss<bfloat16,philox>");

int main(int argc, char** argv) { return dnft_bench::run(argc, argv); }
