// SPDX-License-Identifier: Apache-2.0
// mlp_policy throughput: predict, forward, forward + backward at the demo's shape (3 hidden
// layers of width 256), next to a raw baseline of the same Eigen matrix products alone.
//
// Names: BM_<what><Real>/<B>/<D>. Counters: samples/s (items_per_second) and GFLOP/s ("flops"
// as a rate: the multiply-adds of the matrix products, 2 per multiply-add, counted exactly for
// what each benchmark runs; element-wise work such as SiLU and bias adds is not counted).
// Needs Eigen (link Eigen3::Eigen). Eigen runs single-threaded unless built with OpenMP.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include <Eigen/Core>

#include "dnft/policies/mlp.hpp"
#include "support/bench_support.hpp"

namespace {

using dnft::index_t;

constexpr index_t width = 256;
constexpr index_t depth = 3;

dnft::mlp_config demo_config(index_t dim) {
  dnft::mlp_config c;
  c.dim = dim;
  c.num_conditions = 8;
  c.width = width;
  c.depth = depth;
  c.seed = 1;
  return c;
}

//! Multiply-adds times 2 of one forward pass per sample: the sum of in * out over the layers.
double forward_flops_per_sample(const dnft::mlp_config& c, index_t in0) {
  double macs = double(in0) * double(c.width) + double(c.depth - 1) * double(c.width) * double(c.width) +
                double(c.width) * double(c.dim);
  return 2 * macs;
}

//! Of one backward pass per sample: weight gradients of every layer, input gradients of every
//! layer but the first (whose input gradient is only taken for the E embedding rows), and the
//! bias gradients (a matrix-vector product per layer).
double backward_flops_per_sample(const dnft::mlp_config& c, index_t in0) {
  const double W = double(c.width), D = double(c.dim), E = double(c.cond_dim);
  double macs = double(in0) * W + double(c.depth - 1) * W * W + W * D;  // weight gradients
  macs += double(c.depth - 1) * W * W + W * D + W * E;                   // input gradients
  macs += double(c.depth) * W + D;                                       // bias gradients
  return 2 * macs;
}

template <class Real>
struct problem {
  index_t B, D;
  std::vector<Real> x, t, v, dv;
  std::vector<int> c;
  problem(index_t b, index_t d, int num_conditions)
      : B(b), D(d), x(std::size_t(b * d)), t(std::size_t(b)), v(std::size_t(b * d)), dv(std::size_t(b * d)),
        c(std::size_t(b)) {
    std::mt19937_64 g(42);
    std::normal_distribution<double> n01;
    std::uniform_real_distribution<double> u01;
    for (auto& e : x) e = Real(n01(g));
    for (auto& e : dv) e = Real(n01(g) * 1e-3);
    // a training-like batch: 10 grid times, all conditions and the null one
    for (std::size_t i = 0; i < t.size(); ++i) {
      t[i] = Real(double(1 + (i * 7) % 10) / 10.0);
      c[i] = int(i % std::size_t(num_conditions + 1));
    }
  }
  auto xv() const { return dnft::make_view(x.data(), {B, D}); }
  auto vv() { return dnft::make_view(v.data(), {B, D}); }
  auto dvv() const { return dnft::make_view(dv.data(), {B, D}); }
};

void report(benchmark::State& state, double flops_per_sample, index_t B) {
  state.SetItemsProcessed(state.iterations() * B);
  state.counters["flops"] = benchmark::Counter(double(state.iterations()) * double(B) * flops_per_sample,
                                               benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

template <class Real>
void BM_mlp_predict(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  dnft::mlp_policy<Real> p(demo_config(D));
  problem<Real> pr(B, D, p.num_conditions());
  for (auto _ : state) {
    p.predict(pr.xv(), pr.t, pr.c, pr.vv());
    benchmark::DoNotOptimize(pr.v.data());
    benchmark::ClobberMemory();
  }
  report(state, forward_flops_per_sample(p.config(), p.input_features()), B);
}

template <class Real>
void BM_mlp_forward(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  dnft::mlp_policy<Real> p(demo_config(D));
  problem<Real> pr(B, D, p.num_conditions());
  for (auto _ : state) {
    p.forward(pr.xv(), pr.t, pr.c, pr.vv());
    benchmark::DoNotOptimize(pr.v.data());
    benchmark::ClobberMemory();
  }
  report(state, forward_flops_per_sample(p.config(), p.input_features()), B);
}

template <class Real>
void BM_mlp_forward_backward(benchmark::State& state) {
  const index_t B = state.range(0), D = state.range(1);
  dnft::mlp_policy<Real> p(demo_config(D));
  problem<Real> pr(B, D, p.num_conditions());
  for (auto _ : state) {
    p.forward(pr.xv(), pr.t, pr.c, pr.vv());
    p.backward(pr.dvv());
    benchmark::DoNotOptimize(p.gradients().data);
    benchmark::ClobberMemory();
  }
  const auto& cfg = p.config();
  report(state,
               forward_flops_per_sample(cfg, p.input_features()) + backward_flops_per_sample(cfg, p.input_features()),
               B);
}

//! The raw baseline: the forward pass's matrix products alone on plain Eigen matrices, in the
//! model's arrangement (activations (B, features) column-major times W^T), with no input
//! assembly, bias, activation or checks: what the model's forward cannot beat.
template <class Real>
void BM_mlp_forward_gemm_raw(benchmark::State& state) {
  using matrix = Eigen::Matrix<Real, Eigen::Dynamic, Eigen::Dynamic>;
  const index_t B = state.range(0), D = state.range(1);
  const auto cfg = demo_config(D);
  const index_t in0 = D + 2 * cfg.time_frequencies + cfg.cond_dim;
  std::vector<matrix> wt;  // W_l^T (in, out)
  wt.push_back(matrix::Random(in0, width));
  for (index_t l = 1; l < depth; ++l) wt.push_back(matrix::Random(width, width));
  wt.push_back(matrix::Random(width, D));
  matrix z = matrix::Random(B, in0), h0(B, width), h1(B, width), out(B, D);
  for (auto _ : state) {
    h0.noalias() = z * wt[0];
    for (index_t l = 1; l < depth; ++l) {
      h1.noalias() = h0 * wt[std::size_t(l)];
      h0.swap(h1);
    }
    out.noalias() = h0 * wt.back();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  report(state, forward_flops_per_sample(cfg, in0), B);
}

void shapes(benchmark::internal::Benchmark* b) {
  if (dnft_bench::smoke_run()) {  // DNFT_BENCH_SMOKE=1: one small shape
    b->Args({16, 2});
  } else {
    for (int D : {2, 64})
      for (int B : {128, 1024}) b->Args({B, D});
  }
  b->ArgNames({"B", "D"})->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_mlp_forward_gemm_raw<float>)->Apply(shapes);
BENCHMARK(BM_mlp_predict<float>)->Apply(shapes);
BENCHMARK(BM_mlp_forward<float>)->Apply(shapes);
BENCHMARK(BM_mlp_forward_backward<float>)->Apply(shapes);
BENCHMARK(BM_mlp_forward_gemm_raw<double>)->Apply(shapes);
BENCHMARK(BM_mlp_predict<double>)->Apply(shapes);
BENCHMARK(BM_mlp_forward_backward<double>)->Apply(shapes);

BENCHMARK_MAIN();
