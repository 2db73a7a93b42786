// SPDX-License-Identifier: Apache-2.0
// cuda::mlp_policy throughput: forward, and forward + backward, at B = 1024, 8192, 65536 samples,
// width 256 and 1024 (3 hidden layers, the demo's depth), D = 2 and 64, float with full FP32
// products and with TF32 (opt-in), next to the raw cuBLAS baseline: the same sequence of matrix
// products (same shapes, same transposes, same precision) called directly through
// cublasGemmEx, without the element-wise kernels, uploads and checks.
//
// Names: BM_<what>/<B>/<width>/<D>/<tf32>. Counters: samples/s (items_per_second) and
// "TFLOP/s" (a rate: the multiply-adds of the matrix products, 2 FLOP each, counted exactly for
// what each benchmark runs, as bench/bench_mlp.cpp counts them; element-wise work is not
// counted). Times are CUDA-event times (UseManualTime). The policy checks its inputs for
// non-finite values (the default), which costs one wait for the stream per call.
#include <cublas_v2.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "bench_support.cuh"

namespace {

using dnft::index_t;

constexpr index_t depth = 3;

dnft::mlp_config bench_config(index_t width, index_t dim) {
  dnft::mlp_config c;
  c.dim = dim;
  c.num_conditions = 8;
  c.width = width;
  c.depth = depth;
  c.seed = 1;
  return c;
}

//! 2 x the multiply-adds of one forward pass per sample: the sum of in * out over the layers.
double forward_flops_per_sample(const dnft::mlp_config& c) {
  const double W = double(c.width), D = double(c.dim), in0 = double(dnft::detail::mlp_input_features(c));
  return 2 * (in0 * W + double(c.depth - 1) * W * W + W * D);
}

//! Of one backward pass per sample: weight gradients of every layer and input gradients of every
//! layer but the first (whose input gradient is only taken for the E embedding rows). The bias
//! gradients (column sums) are element-wise work here and not counted.
double backward_flops_per_sample(const dnft::mlp_config& c) {
  const double W = double(c.width), D = double(c.dim), E = double(c.cond_dim),
               in0 = double(dnft::detail::mlp_input_features(c));
  double macs = in0 * W + double(c.depth - 1) * W * W + W * D;  // weight gradients
  macs += double(c.depth - 1) * W * W + W * D + W * E;           // input gradients
  return 2 * macs;
}

//! One benchmark shape, kept between the runs of one benchmark (Google Benchmark calls the
//! function several times; building a width-1024 model on the host takes a while).
struct setup {
  index_t B, W, D;
  bool tf32;
  dnft::cuda::executor ex;
  dnft::cuda::mlp_policy<float> policy;
  dnft::cuda::device_buffer<float> x, t, v, dv;
  std::vector<int> c;

  setup(index_t b, index_t w, index_t d, bool tf)
      : B(b), W(w), D(d), tf32(tf), policy(bench_config(w, d), ex, options(tf)), x(ex.allocate<float>(b * d)),
        t(ex.allocate<float>(b)), v(ex.allocate<float>(b * d)), dv(ex.allocate<float>(b * d)),
        c(static_cast<std::size_t>(b)) {
    dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 2, .stream = 0}, x.view(b, d));
    dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 3, .stream = 0}, dv.view(b, d));
    // a training-like batch: 10 grid times, all conditions and the null one
    std::vector<float> th(static_cast<std::size_t>(b));
    for (std::size_t i = 0; i < th.size(); ++i) {
      th[i] = float(1 + (i * 7) % 10) / 10.0f;
      c[i] = int(i % 9);
    }
    ex.copy(th, t);
    ex.synchronize();
  }

  static dnft::cuda::mlp_options options(bool tf) {
    dnft::cuda::mlp_options o;
    o.precision = tf ? dnft::cuda::gemm_precision::tf32 : dnft::cuda::gemm_precision::standard;
    return o;
  }
};

//! The current shape's setup (released before main returns, while the CUDA runtime is still up).
std::unique_ptr<setup> current_setup;

setup& get_setup(index_t B, index_t W, index_t D, bool tf32) {
  auto& s = current_setup;
  if (!s || s->B != B || s->W != W || s->D != D || s->tf32 != tf32) {
    s.reset();
    s = std::make_unique<setup>(B, W, D, tf32);
  }
  return *s;
}

void report(benchmark::State& state, index_t B, double flops_per_sample) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * B);
  state.counters["TFLOP/s"] =
      benchmark::Counter(double(state.iterations()) * double(B) * flops_per_sample * 1e-12, benchmark::Counter::kIsRate);
}

template <bool Backward>
void BM_mlp(benchmark::State& state) {
  const index_t B = state.range(0), W = state.range(1), D = state.range(2);
  setup& s = get_setup(B, W, D, state.range(3) != 0);
  const auto x = dnft::make_view(static_cast<const float*>(s.x.data()), {B, D}, dnft::device_space{});
  const auto dv = dnft::make_view(static_cast<const float*>(s.dv.data()), {B, D}, dnft::device_space{});
  dnft_bench::timed_loop(state, s.ex, [&] {
    s.policy.forward(x, s.t, s.c, s.v.view(B, D));
    if constexpr (Backward) s.policy.backward(dv);
  });
  const auto cfg = bench_config(W, D);
  report(state, B, forward_flops_per_sample(cfg) + (Backward ? backward_flops_per_sample(cfg) : 0.0));
}

// ---- the raw cuBLAS baseline ----------------------------------------------------------------

void raw_gemm(cublasHandle_t h, bool tf32, cublasOperation_t ta, cublasOperation_t tb, index_t m, index_t n, index_t k,
              const float* a, index_t lda, const float* b, index_t ldb, float beta, float* c, index_t ldc) {
  const float alpha = 1.0f;
  dnft::cuda::check(cublasGemmEx(h, ta, tb, int(m), int(n), int(k), &alpha, a, CUDA_R_32F, int(lda), b, CUDA_R_32F,
                                 int(ldb), &beta, c, CUDA_R_32F, int(ldc),
                                 tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

//! The policy's matrix products alone: activations (B, features) row-major, i.e. column-major
//! (features, B) for cuBLAS; weights (out, in) row-major.
template <bool Backward>
void BM_cublas_raw(benchmark::State& state) {
  const index_t B = state.range(0), W = state.range(1), D = state.range(2);
  const bool tf32 = state.range(3) != 0;
  const auto cfg = bench_config(W, D);
  const index_t in0 = dnft::detail::mlp_input_features(cfg), E = cfg.cond_dim, L = depth;
  dnft::cuda::executor ex;
  const cublasHandle_t h = ex.cublas();
  auto w0 = ex.allocate<float>(W * in0), wh = ex.allocate<float>(W * W), wl = ex.allocate<float>(D * W);
  auto dw0 = ex.allocate<float>(W * in0), dwh = ex.allocate<float>(W * W), dwl = ex.allocate<float>(D * W);
  auto z = ex.allocate<float>(B * in0), act = ex.allocate<float>(L * B * W), out = ex.allocate<float>(B * D);
  auto g0 = ex.allocate<float>(B * W), g1 = ex.allocate<float>(B * W), gemb = ex.allocate<float>(B * E);
  for (auto* b : {&w0, &wh, &wl, &z, &act, &out, &g0})
    dnft::cuda::fill_normal(ex, dnft::philox_normal{.seed = 5, .stream = 0}, b->view(1, b->size()));
  dnft::cuda::check(cudaMemsetAsync(dw0.data(), 0, dw0.bytes(), ex.stream()));
  dnft::cuda::check(cudaMemsetAsync(dwh.data(), 0, dwh.bytes(), ex.stream()));
  dnft::cuda::check(cudaMemsetAsync(dwl.data(), 0, dwl.bytes(), ex.stream()));
  const index_t n = B * W;
  dnft_bench::timed_loop(state, ex, [&] {
    // forward: a_0 = z W_0^T, a_l = a_{l-1} W_l^T, out = a_{L-1} W_L^T
    raw_gemm(h, tf32, CUBLAS_OP_T, CUBLAS_OP_N, W, B, in0, w0.data(), in0, z.data(), in0, 0.f, act.data(), W);
    for (index_t l = 1; l < L; ++l)
      raw_gemm(h, tf32, CUBLAS_OP_T, CUBLAS_OP_N, W, B, W, wh.data(), W, act.data() + (l - 1) * n, W, 0.f,
               act.data() + l * n, W);
    raw_gemm(h, tf32, CUBLAS_OP_T, CUBLAS_OP_N, D, B, W, wl.data(), W, act.data() + (L - 1) * n, W, 0.f, out.data(), D);
    if constexpr (Backward) {
      raw_gemm(h, tf32, CUBLAS_OP_N, CUBLAS_OP_T, W, D, B, act.data() + (L - 1) * n, W, out.data(), D, 1.f, dwl.data(),
               W);
      raw_gemm(h, tf32, CUBLAS_OP_N, CUBLAS_OP_N, W, B, D, wl.data(), W, out.data(), D, 0.f, g0.data(), W);
      float* cur = g0.data();
      float* nxt = g1.data();
      for (index_t l = L - 1; l > 0; --l) {
        raw_gemm(h, tf32, CUBLAS_OP_N, CUBLAS_OP_T, W, W, B, act.data() + (l - 1) * n, W, cur, W, 1.f, dwh.data(), W);
        raw_gemm(h, tf32, CUBLAS_OP_N, CUBLAS_OP_N, W, B, W, wh.data(), W, cur, W, 0.f, nxt, W);
        std::swap(cur, nxt);
      }
      raw_gemm(h, tf32, CUBLAS_OP_N, CUBLAS_OP_T, in0, W, B, z.data(), in0, cur, W, 1.f, dw0.data(), in0);
      raw_gemm(h, tf32, CUBLAS_OP_N, CUBLAS_OP_N, E, B, W, w0.data() + (in0 - E), in0, cur, W, 0.f, gemb.data(), E);
    }
  });
  report(state, B, forward_flops_per_sample(cfg) + (Backward ? backward_flops_per_sample(cfg) : 0.0));
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "width", "D", "tf32"});
  for (std::int64_t tf32 : {0, 1})
    for (std::int64_t width : {256, 1024})
      for (std::int64_t dim : {2, 64})
        for (std::int64_t batch : {1024, 8192, 65536}) b->Args({batch, width, dim, tf32});
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_cublas_raw<false>)->Apply(shapes)->Name("BM_cublas_raw_forward");
BENCHMARK(BM_mlp<false>)->Apply(shapes)->Name("BM_mlp_forward");
BENCHMARK(BM_cublas_raw<true>)->Apply(shapes)->Name("BM_cublas_raw_forward_backward");
BENCHMARK(BM_mlp<true>)->Apply(shapes)->Name("BM_mlp_forward_backward");

int main(int argc, char** argv) {
  const int rc = dnft_bench::run(argc, argv);
  current_setup.reset();
  return rc;
}
