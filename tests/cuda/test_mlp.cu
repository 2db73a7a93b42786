// SPDX-License-Identifier: Apache-2.0
// cuda::mlp_policy: concepts (compile time); the device passes run on the CPU (same per-element
// operations, same sequence of matrix products with cuBLAS's conventions) against the host
// model (no GPU needed); and with a GPU: parameters, predict / forward / backward against the
// host model on identical inputs, layouts, central finite differences of backward in double,
// accumulation, copies and bad input.
#include <doctest/doctest.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dnft/cuda/cuda.cuh"
#include "support/expect_error.hpp"
#include "mlp_host_model.hpp"
#include "support/random_data.hpp"

namespace {

using dnft::index_t;
namespace cd = dnft::cuda::detail;

static_assert(dnft::velocity_field<dnft::cuda::mlp_policy<float>>);
static_assert(dnft::velocity_field<dnft::cuda::mlp_policy<double>>);
static_assert(dnft::guidable_field<dnft::cuda::mlp_policy<float>>);
static_assert(dnft::guidable_field<dnft::cuda::mlp_policy<double>>);
static_assert(dnft::trainable_policy<dnft::cuda::mlp_policy<float>>);
static_assert(dnft::trainable_policy<dnft::cuda::mlp_policy<double>>);
static_assert(std::is_same_v<dnft::policy_space_t<dnft::cuda::mlp_policy<float>>, dnft::device_space>);
static_assert(std::is_same_v<dnft::condition_t<dnft::cuda::mlp_policy<double>>, int>);
static_assert(std::is_nothrow_move_constructible_v<dnft::cuda::mlp_policy<float>>);
static_assert(std::is_nothrow_move_assignable_v<dnft::cuda::mlp_policy<float>>);
static_assert(std::is_trivially_copyable_v<cd::mlp_input_op<float, dnft::device_space, double, dnft::device_space>>);
static_assert(std::is_trivially_copyable_v<cd::mlp_bias_silu_op<double, true>>);
static_assert(std::is_trivially_copyable_v<cd::mlp_embedding_finish_op<float>>);

using dnft_test::contains;
using dnft_test::message_of;

//! The host tests' small model: D = 3, K = 4, E = 5, F = 3, width 6.
dnft::mlp_config small_config(index_t depth = 2, std::uint64_t seed = 7) {
  dnft::mlp_config c;
  c.dim = 3;
  c.num_conditions = 4;
  c.cond_dim = 5;
  c.time_frequencies = 3;
  c.time_min_frequency = 0.5;
  c.time_max_frequency = 20.0;
  c.width = 6;
  c.depth = depth;
  c.seed = seed;
  return c;
}

//! A wider model (products of 40 to 57 terms, as in real use).
dnft::mlp_config wide_config(std::uint64_t seed = 3) {
  dnft::mlp_config c;
  c.dim = 4;
  c.num_conditions = 6;
  c.cond_dim = 8;
  c.time_frequencies = 4;
  c.width = 40;
  c.depth = 3;
  c.seed = seed;
  return c;
}

//! x ~ N(0, 1), t in [0, 1] with runs of equal times, conditions cycling through 0 .. K (the
//! null condition included); with `grouped`, long runs of few conditions (several pieces each).
struct batch {
  index_t B = 0, D = 0;
  std::vector<double> x, t;
  std::vector<int> c;
  batch(index_t b, index_t d, int K, std::uint64_t seed, bool grouped = false) : B(b), D(d) {
    x = dnft_test::normal_data(std::size_t(b * d), seed);
    t = dnft_test::uniform_data(std::size_t(b), seed + 1, 0.0, 1.0);
    for (index_t i = 0; i < b; ++i) {
      if (i % 3 == 2) t[std::size_t(i)] = t[std::size_t(i - 1)];
      c.push_back(grouped ? int((i * 7 + index_t(seed)) % 3) : int((i * 3 + index_t(seed)) % (K + 1)));
    }
  }
};

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
double max_abs(const std::vector<T>& v) {
  double m = 0;
  for (T e : v) m = std::max(m, std::abs(double(e)));
  return m;
}

//! Every |got - want| <= tol (scale + |want|); one CHECK, with the worst element in the message.
template <class A, class B>
void check_close(const std::vector<A>& got, const std::vector<B>& want, double tol, double scale, const char* what) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  std::size_t at = 0, bad = 0;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const double err = std::abs(double(got[k]) - double(want[k]));
    const double lim = tol * (scale + std::abs(double(want[k])));
    if (!(err <= lim)) ++bad;
    if (!(err / lim <= worst)) {
      worst = err / lim;
      at = k;
    }
  }
  INFO(what << ": " << bad << " of " << got.size() << " elements beyond tolerance " << tol << "; worst at " << at
            << ": " << double(got[at]) << " vs " << double(want[at]) << " (" << worst << " x the tolerance)");
  CHECK(bad == 0);
}

//! The test loss L = sum R v + 1/2 sum v^2 and its gradient dL/dv = R + v.
double test_loss(const std::vector<double>& v, const std::vector<double>& r) {
  double s = 0;
  for (std::size_t k = 0; k < v.size(); ++k) s += r[k] * v[k] + 0.5 * v[k] * v[k];
  return s;
}

template <class Real>
std::vector<Real> loss_grad(const std::vector<Real>& v, const std::vector<double>& r) {
  std::vector<Real> g(v.size());
  for (std::size_t k = 0; k < v.size(); ++k) g[k] = Real(r[k] + double(v[k]));
  return g;
}

// ---- the CPU engine: cuBLAS's column-major conventions with naive loops ----------------------

//! Runs the device passes on the CPU: gemm with cuBLAS's argument conventions (and its checks
//! of leading dimensions), products summed in double; element operations in plain loops. Every
//! matrix a product touches must lie inside a registered buffer.
struct host_engine {
  std::vector<std::pair<const char*, const char*>> buffers;
  int products = 0;

  template <class T>
  void add(const std::vector<T>& v) {
    buffers.emplace_back(reinterpret_cast<const char*>(v.data()), reinterpret_cast<const char*>(v.data() + v.size()));
  }

  template <class T>
  bool inside(const T* first, index_t last) const {
    const char* a = reinterpret_cast<const char*>(first);
    const char* b = reinterpret_cast<const char*>(first + last + 1);
    for (const auto& [lo, hi] : buffers)
      if (a >= lo && b <= hi) return true;
    return false;
  }

  template <class Real>
  void gemm(cublasOperation_t ta, cublasOperation_t tb, index_t m, index_t n, index_t k, Real alpha, const Real* A,
            index_t lda, const Real* B, index_t ldb, Real beta, Real* C, index_t ldc) {
    ++products;
    if (m == 0 || n == 0) return;
    // cuBLAS's own requirements (CUBLAS_STATUS_INVALID_VALUE otherwise)
    REQUIRE(lda >= std::max<index_t>(1, ta == CUBLAS_OP_N ? m : k));
    REQUIRE(ldb >= std::max<index_t>(1, tb == CUBLAS_OP_N ? k : n));
    REQUIRE(ldc >= std::max<index_t>(1, m));
    const index_t rows_a = ta == CUBLAS_OP_N ? m : k, cols_a = ta == CUBLAS_OP_N ? k : m;
    const index_t rows_b = tb == CUBLAS_OP_N ? k : n, cols_b = tb == CUBLAS_OP_N ? n : k;
    REQUIRE(inside(A, (rows_a - 1) + (cols_a - 1) * lda));
    REQUIRE(inside(B, (rows_b - 1) + (cols_b - 1) * ldb));
    REQUIRE(inside(C, (m - 1) + (n - 1) * ldc));
    for (index_t j = 0; j < n; ++j)
      for (index_t i = 0; i < m; ++i) {
        double s = 0;
        for (index_t p = 0; p < k; ++p) {
          const double a = ta == CUBLAS_OP_N ? double(A[i + p * lda]) : double(A[p + i * lda]);
          const double b = tb == CUBLAS_OP_N ? double(B[p + j * ldb]) : double(B[j + p * ldb]);
          s += a * b;
        }
        const double c = beta == Real(0) ? 0.0 : double(beta) * double(C[i + j * ldc]);
        C[i + j * ldc] = Real(double(alpha) * s + c);
      }
  }

  template <class Op>
  void for_each(index_t rows, index_t cols, const Op& op) {
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j) op(i, j);
  }
};

template <class T>
dnft::detail::batch_view<T, dnft::host_space> host_batch_view(T* p, index_t B, index_t D, bool column_major) {
  return {p, B, D, column_major ? 1 : D, column_major ? B : 1};
}

//! The CPU run of the device passes on one batch: forward (keeping activations) into a
//! column-major v, predict into a row-major v, backward for dL/dv = R + v.
template <class Real>
struct emulated_run {
  std::vector<Real> v_forward, v_predict, grads;
  unsigned flags[2] = {0, 0};
  int products = 0;
};

template <class Real>
emulated_run<Real> emulate(const dnft::mlp_config& cfg, const std::vector<Real>& params, const batch& b,
                           const std::vector<double>& r, index_t piece_length) {
  const cd::mlp_shape s = cd::make_mlp_shape(cfg);
  const index_t B = b.B, L = s.L, W = s.W;
  const auto x = cast<Real>(b.x), t = cast<Real>(b.t);
  const auto omega = dnft::detail::mlp_frequencies(cfg);
  host_engine eng;
  const index_t ls = cd::mlp_layer_stride(B, W);
  std::vector<Real> z(std::size_t(B * s.in0)), h(std::size_t(L * ls)), d(std::size_t(L * ls)),
      out(std::size_t(B * s.D)), pz(z.size()), ph(std::size_t(2 * ls)), pout(out.size());
  eng.add(params);
  for (const auto* v : {&z, &h, &d, &out, &pz, &ph, &pout}) eng.add(*v);
  emulated_run<Real> res;
  // forward into a column-major v
  std::vector<Real> vcm(std::size_t(B * s.D), Real(-99));
  cd::mlp_forward_buffers<Real> w{z.data(), h.data(), d.data(), ls, out.data(), b.c.data(), res.flags};
  const dnft::detail::vector_view<const Real, dnft::host_space> tv{t.data(), B, 1};
  cd::mlp_forward<true>(eng, s, B, params.data(), omega.data(), w, host_batch_view(x.data(), B, s.D, false), tv,
                        host_batch_view(vcm.data(), B, s.D, true));
  res.v_forward.resize(vcm.size());
  for (index_t i = 0; i < B; ++i)
    for (index_t k = 0; k < s.D; ++k) res.v_forward[std::size_t(i * s.D + k)] = vcm[std::size_t(i + k * B)];
  // predict (ping-pong buffers, no silu') into a row-major v
  res.v_predict.assign(std::size_t(B * s.D), Real(-99));
  cd::mlp_forward_buffers<Real> wp{pz.data(), ph.data(), nullptr, ls, pout.data(), b.c.data(), nullptr};
  cd::mlp_forward<false>(eng, s, B, params.data(), omega.data(), wp, host_batch_view(x.data(), B, s.D, false), tv,
                         host_batch_view(res.v_predict.data(), B, s.D, false));
  // backward: dv packed from a column-major copy
  const auto dv = loss_grad(res.v_forward, r);
  std::vector<Real> dvcm(dv.size()), gout(dv.size());
  for (index_t i = 0; i < B; ++i)
    for (index_t k = 0; k < s.D; ++k) dvcm[std::size_t(i + k * B)] = dv[std::size_t(i * s.D + k)];
  eng.for_each(B, s.D,
               cd::mlp_pack_op<Real, dnft::host_space>{{dvcm.data(), B, s.D, 1, B}, gout.data(), res.flags});
  cd::mlp_condition_groups groups;
  cd::mlp_group_conditions(b.c, cfg.num_conditions + 1, piece_length, groups);
  std::vector<Real> g0(std::size_t(B * W)), g1(g0.size()), gemb(std::size_t(B * s.E));
  std::vector<double> colpart(std::size_t(cd::mlp_column_chunks(B) * std::max(W, s.D))),
      embpart(std::size_t(groups.pieces * s.E));
  res.grads.assign(params.size(), Real(0));
  for (const auto* v : {&gout, &g0, &g1, &gemb, &res.grads}) eng.add(*v);
  cd::mlp_backward_buffers<Real> wb{z.data(),     h.data(),       d.data(),          ls,
                                    gout.data(),  g0.data(),      g1.data(),         gemb.data(),
                                    colpart.data(), embpart.data(), groups.data.data(), groups.pieces,
                                    groups.segments};
  cd::mlp_backward(eng, s, B, params.data(), res.grads.data(), wb);
  res.products = eng.products;
  return res;
}

template <class Real>
constexpr double cpu_tol = std::is_same_v<Real, float> ? 2e-5 : 1e-12;

}  // namespace

TEST_SUITE("cuda_host") {
  TEST_CASE("cuda::mlp_policy: the parameter offsets of the passes are the host model's layout") {
    for (const auto& cfg : {small_config(1), small_config(3), wide_config()}) {
      const cd::mlp_shape s = cd::make_mlp_shape(cfg);
      const auto layout = dnft::detail::mlp_layout(cfg);
      REQUIRE(layout.size() == std::size_t(2 * s.L + 3));
      CHECK(layout[0].offset == 0);
      CHECK(layout[0].size == s.K1 * s.E);
      for (index_t l = 0; l <= s.L; ++l) {
        CHECK(layout[std::size_t(1 + 2 * l)].offset == s.weight_offset(l));
        CHECK(layout[std::size_t(1 + 2 * l)].shape == std::vector<index_t>{s.layer_out(l), s.layer_in(l)});
        CHECK(layout[std::size_t(2 + 2 * l)].offset == s.bias_offset(l));
      }
      CHECK(s.count() == layout.back().offset + layout.back().size);
      CHECK(s.in0 == dnft_cuda_test::host_mlp<float>(cfg).input_features());
    }
  }

  TEST_CASE("cuda::mlp_policy: per-element formulas (time features, SiLU, SiLU')") {
    // time features: sin and cos of w t in double, rounded once
    const auto w = dnft::detail::mlp_frequencies(small_config());
    REQUIRE(w.size() == 3);
    CHECK(w[0] == 0.5);
    CHECK(w[1] == doctest::Approx(std::sqrt(0.5 * 20.0)).epsilon(1e-15));
    CHECK(w[2] == doctest::Approx(20.0).epsilon(1e-15));
    for (double t : {0.0, 0.1234, 0.5, 1.0})
      for (double wk : w) {
        CHECK(dnft::detail::mlp_sin_feature<float>(wk, t) == float(std::sin(wk * t)));
        CHECK(dnft::detail::mlp_cos_feature<double>(wk, t) == std::cos(wk * t));
      }
    // SiLU and its derivative against the definition and central differences, in double
    for (double a : {-30.0, -4.0, -1.0, -0.25, 0.0, 0.3, 2.0, 7.5, 40.0}) {
      const double s = dnft::detail::mlp_sigmoid(a);
      CHECK(s == doctest::Approx(1.0 / (1.0 + std::exp(-a))).epsilon(1e-15));
      const double h = dnft::detail::mlp_silu<double>(a, s);
      CHECK(h == doctest::Approx(a / (1.0 + std::exp(-a))).epsilon(1e-15));
      auto silu = [](double y) { return y / (1.0 + std::exp(-y)); };
      const double e = 1e-6, fd = (silu(a + e) - silu(a - e)) / (2 * e);
      CHECK(dnft::detail::mlp_silu_grad<double>(a, s) == doctest::Approx(fd).epsilon(1e-8));
    }
    // float sigmoid: within a few ulps of the double one, saturating without NaN
    for (float a : {-100.f, -20.f, -1.f, 0.f, 1.f, 20.f, 100.f}) {
      const float s = dnft::detail::mlp_sigmoid(a);
      CHECK(std::abs(double(s) - 1.0 / (1.0 + std::exp(-double(a)))) <= 4e-7);
      CHECK(std::isfinite(dnft::detail::mlp_silu_grad<float>(a, s)));
    }
  }

  TEST_CASE("cuda::mlp_policy: samples grouped by condition for the embedding gradient") {
    const std::vector<int> c = {2, 0, 2, 2, 4, 0, 2, 2, 2, 4, 2};
    cd::mlp_condition_groups g;
    cd::mlp_group_conditions(c, 5, 2, g);
    // condition 0: samples 1, 5 (one piece); 2: 0, 2, 3, 6, 7, 8, 10 (four pieces); 4: 4, 9 (one)
    REQUIRE(g.batch == 11);
    CHECK(g.segments == 3);
    CHECK(g.pieces == 6);
    const std::vector<int> perm(g.data.begin(), g.data.begin() + 11);
    CHECK(perm == std::vector<int>{1, 5, 0, 2, 3, 6, 7, 8, 10, 4, 9});
    const std::vector<int> piece_begin(g.data.begin() + g.piece_begin_at(), g.data.begin() + g.seg_piece_at());
    CHECK(piece_begin == std::vector<int>{0, 2, 4, 6, 8, 9, 11});
    const std::vector<int> seg_piece(g.data.begin() + g.seg_piece_at(), g.data.begin() + g.seg_cond_at());
    CHECK(seg_piece == std::vector<int>{0, 1, 5, 6});
    const std::vector<int> seg_cond(g.data.begin() + g.seg_cond_at(), g.data.end());
    CHECK(seg_cond == std::vector<int>{0, 2, 4});
    // an empty batch
    cd::mlp_group_conditions(std::vector<int>{}, 5, 2, g);
    CHECK(g.pieces == 0);
    CHECK(g.segments == 0);
    CHECK(g.size() == 2);
  }

  TEST_CASE_TEMPLATE("cuda::mlp_policy: the device passes, run on the CPU, match the host model", Real, float,
                     double) {
    struct setup {
      dnft::mlp_config cfg;
      index_t B;
      bool grouped;
      index_t piece;
    };
    const std::vector<setup> setups = {{small_config(1, 4), 1, false, 128}, {small_config(2, 5), 7, false, 2},
                                       {small_config(3, 6), 33, false, 3},  {small_config(2, 8), 70, true, 5},
                                       {wide_config(9), 40, false, 128}};
    for (const auto& su : setups) {
      CAPTURE(su.cfg.depth);
      CAPTURE(su.B);
      dnft_cuda_test::host_mlp<Real> hm(su.cfg);
      const auto params = hm.parameters();
      const batch b(su.B, su.cfg.dim, su.cfg.num_conditions, std::uint64_t(100 + su.B), su.grouped);
      const auto r = dnft_test::normal_data(std::size_t(su.B * su.cfg.dim), std::uint64_t(200 + su.B));
      const auto run = emulate<Real>(su.cfg, params, b, r, su.piece);
      // one product per layer in forward and in predict, two per layer in backward
      CHECK(run.products == int(4 * (su.cfg.depth + 1)));
      CHECK(run.flags[0] == 0u);
      CHECK(run.flags[1] == 0u);
      CHECK(run.v_predict == run.v_forward);  // predict and forward run the same arithmetic
      const auto x = cast<Real>(b.x), t = cast<Real>(b.t);
      const auto v_host = hm.forward(x, t, b.c);
      check_close(run.v_forward, v_host, cpu_tol<Real>, 1.0, "v");
      hm.zero_grad();
      hm.backward(loss_grad(v_host, r));
      const auto g_host = hm.gradients();
      check_close(run.grads, g_host, cpu_tol<Real>, max_abs(g_host), "gradients");
      // embedding rows of conditions absent from the batch get no gradient at all
      for (int row = 0; row <= su.cfg.num_conditions; ++row) {
        const bool used = std::find(b.c.begin(), b.c.end(), row) != b.c.end();
        double n = 0;
        for (index_t e = 0; e < su.cfg.cond_dim; ++e) n += std::abs(double(run.grads[std::size_t(row * su.cfg.cond_dim + e)]));
        CHECK((n > 0) == used);
      }
    }
  }

  TEST_CASE("cuda::mlp_policy: the input pass flags non-finite x and t") {
    const auto cfg = small_config();
    const cd::mlp_shape s = cd::make_mlp_shape(cfg);
    const auto params = dnft_cuda_test::host_mlp<float>(cfg).parameters();
    const auto omega = dnft::detail::mlp_frequencies(cfg);
    const batch b(4, 3, 4, 1);
    for (int which : {0, 1, 2}) {
      auto x = cast<float>(b.x), t = cast<float>(b.t);
      if (which == 1) x[5] = std::numeric_limits<float>::infinity();
      if (which == 2) t[3] = std::nanf("");
      std::vector<float> z(std::size_t(4 * s.in0));
      unsigned flags[2] = {0, 0};
      const cd::mlp_input_op<float, dnft::host_space, float, dnft::host_space> op{
          host_batch_view<const float>(x.data(), 4, 3, false), {t.data(), 4, 1}, omega.data(), b.c.data(), params.data(),
          z.data(), s.D, s.F, s.E, s.in0, flags};
      host_engine{}.for_each(4, s.in0, op);
      CHECK(flags[0] == (which == 1 ? 1u : 0u));
      CHECK(flags[1] == (which == 2 ? 1u : 0u));
      // the embedding columns are rows of the table
      for (index_t i = 0; i < 4; ++i)
        for (index_t e = 0; e < s.E; ++e)
          CHECK(z[std::size_t(i * s.in0 + s.emb_row() + e)] == params[std::size_t(b.c[std::size_t(i)] * s.E + e)]);
    }
  }
}

// ---- on the device ------------------------------------------------------------------------------

namespace {

template <class T>
auto device_view(dnft::cuda::device_buffer<T>& b, index_t B, index_t D) {
  return dnft::make_view(b.data(), {B, D}, dnft::device_space{});
}
template <class T>
auto const_device_view(const dnft::cuda::device_buffer<T>& b, index_t B, index_t D) {
  return dnft::make_view(b.data(), {B, D}, dnft::device_space{});
}

//! One batch on the device for a model of value type Real.
template <class Real>
struct device_batch {
  index_t B, D;
  std::vector<Real> x, t;
  std::vector<int> c;
  dnft::cuda::device_buffer<Real> dx, dt, dv;
  device_batch(const dnft::cuda::executor& ex, const batch& b)
      : B(b.B), D(b.D), x(cast<Real>(b.x)), t(cast<Real>(b.t)), c(b.c), dx(ex.to_device(x)), dt(ex.to_device(t)),
        dv(ex.allocate<Real>(std::max<index_t>(1, B * D))) {}
  std::vector<Real> predict(dnft::cuda::mlp_policy<Real>& p) {
    p.predict(const_device_view(dx, B, D), dt, c, device_view(dv, B, D));
    return p.get_executor().to_host(dnft::make_view(dv.data(), {B * D}, dnft::device_space{}));
  }
  std::vector<Real> forward(dnft::cuda::mlp_policy<Real>& p) {
    p.forward(const_device_view(dx, B, D), dt, c, device_view(dv, B, D));
    return p.get_executor().to_host(dnft::make_view(dv.data(), {B * D}, dnft::device_space{}));
  }
  void backward(dnft::cuda::mlp_policy<Real>& p, const std::vector<Real>& g) {
    const auto dg = p.get_executor().to_device(g);
    p.backward(const_device_view(dg, B, D));
    p.get_executor().synchronize();
  }
};

template <class Real>
std::vector<Real> host_params(const dnft::cuda::mlp_policy<Real>& p) {
  return p.get_executor().to_host(p.parameters());
}
template <class Real>
std::vector<Real> host_grads(const dnft::cuda::mlp_policy<Real>& p) {
  return p.get_executor().to_host(p.gradients());
}

// Tolerances, device against host on identical parameters and inputs.
// float: FP32 products in another summation order, expf-based sigmoid against Eigen's rational
// approximation: outputs agree to ~1e-6 relative, gradients (sums over the batch) to ~1e-5 of
// the largest gradient. double: summation order only.
template <class Real>
constexpr double v_tol = std::is_same_v<Real, float> ? 2e-5 : 1e-12;
template <class Real>
constexpr double g_tol = std::is_same_v<Real, float> ? 1e-4 : 1e-11;
// TF32 (float only): every product's inputs rounded to a 10-bit mantissa.
constexpr double tf32_v_tol = 1e-2;
constexpr double tf32_g_tol = 3e-2;

}  // namespace

TEST_SUITE("cuda_device") {
  TEST_CASE_TEMPLATE("cuda::mlp_policy: parameters are bit-identical to the host model's", Real, float, double) {
    dnft::cuda::executor ex;
    for (const auto& cfg : {small_config(1, 1), small_config(3, 2), wide_config(5)}) {
      dnft::cuda::mlp_policy<Real> p(cfg, ex);
      dnft_cuda_test::host_mlp<Real> hm(cfg);
      CHECK(host_params(p) == hm.parameters());
      for (Real g : host_grads(p)) CHECK(g == Real(0));
      const auto hl = hm.layout();
      REQUIRE(p.layout().size() == hl.size());
      for (std::size_t k = 0; k < hl.size(); ++k) {
        CHECK(p.layout()[k].name == hl[k].name);
        CHECK(p.layout()[k].kind == hl[k].kind);
        CHECK(p.layout()[k].shape == hl[k].shape);
        CHECK(p.layout()[k].offset == hl[k].offset);
      }
      CHECK(p.dim() == cfg.dim);
      CHECK(p.null_condition() == cfg.num_conditions);
      CHECK(p.input_features() == hm.input_features());
      CHECK(p.parameter_count() == index_t(hm.parameters().size()));
    }
  }

  TEST_CASE_TEMPLATE("cuda::mlp_policy: predict, forward and backward match the host model", Real, float, double) {
    dnft::cuda::executor ex;
    struct setup {
      dnft::mlp_config cfg;
      index_t B;
      bool grouped;
    };
    for (const setup& su : {setup{small_config(1, 11), 1, false}, setup{small_config(2, 12), 7, false},
                            setup{small_config(3, 13), 33, false}, setup{wide_config(14), 300, false},
                            setup{wide_config(15), 1000, true}}) {
      CAPTURE(su.cfg.depth);
      CAPTURE(su.B);
      dnft::cuda::mlp_policy<Real> p(su.cfg, ex);
      dnft_cuda_test::host_mlp<Real> hm(su.cfg);
      const batch b(su.B, su.cfg.dim, su.cfg.num_conditions, std::uint64_t(300 + su.B), su.grouped);
      device_batch<Real> db(ex, b);
      const auto v_pred = db.predict(p);
      const auto v_fwd = db.forward(p);
      CHECK(v_pred == v_fwd);  // bit-identical
      const auto v_host = hm.forward(db.x, db.t, db.c);
      check_close(v_fwd, v_host, v_tol<Real>, 1.0, "v");
      const auto r = dnft_test::normal_data(std::size_t(su.B * su.cfg.dim), std::uint64_t(400 + su.B));
      const auto dv = loss_grad(v_host, r);
      hm.zero_grad();
      hm.backward(dv);
      db.backward(p, dv);
      const auto g_host = hm.gradients();
      check_close(host_grads(p), g_host, g_tol<Real>, max_abs(g_host), "gradients");
      // deterministic: the same backward again gives exactly twice... the same increment
      const auto g1 = host_grads(p);
      p.zero_grad();
      db.backward(p, dv);
      CHECK(host_grads(p) == g1);
    }
  }

  TEST_CASE("cuda::mlp_policy: TF32 products (opt-in) stay within the documented accuracy") {
    dnft::cuda::executor ex;
    const auto cfg = wide_config(21);
    dnft::cuda::mlp_options o;
    o.precision = dnft::cuda::gemm_precision::tf32;
    dnft::cuda::mlp_policy<float> p(cfg, ex, o);
    CHECK(p.options().precision == dnft::cuda::gemm_precision::tf32);
    dnft_cuda_test::host_mlp<float> hm(cfg);
    const batch b(256, cfg.dim, cfg.num_conditions, 22);
    device_batch<float> db(ex, b);
    const auto v = db.forward(p);
    const auto v_host = hm.forward(db.x, db.t, db.c);
    check_close(v, v_host, tf32_v_tol, 1.0, "v (tf32)");
    const auto dv = loss_grad(v_host, dnft_test::normal_data(v.size(), 23));
    hm.backward(dv);
    db.backward(p, dv);
    const auto g_host = hm.gradients();
    check_close(host_grads(p), g_host, tf32_g_tol, max_abs(g_host), "gradients (tf32)");
    // back to full FP32
    p.set_options({});
    check_close(db.predict(p), v_host, v_tol<float>, 1.0, "v (fp32 again)");
  }

  TEST_CASE("cuda::mlp_policy: strided, column-major and aliased tensors give the same results") {
    dnft::cuda::executor ex;
    const auto cfg = small_config();
    dnft::cuda::mlp_policy<double> p(cfg, ex);
    const index_t B = 10, D = 3;
    const batch b(B, D, 4, 3);
    device_batch<double> db(ex, b);
    const auto v_ref = db.forward(p);
    // x and v column-major (strides {1, B}); t every other element of a (B, 2) buffer
    std::vector<double> xcm(std::size_t(B * D)), t2(std::size_t(2 * B), 7.0);
    for (index_t i = 0; i < B; ++i) {
      for (index_t d = 0; d < D; ++d) xcm[std::size_t(i + d * B)] = db.x[std::size_t(i * D + d)];
      t2[std::size_t(2 * i)] = db.t[std::size_t(i)];
    }
    auto dx = ex.to_device(xcm), dt2 = ex.to_device(t2);
    auto dvcm = ex.allocate<double>(B * D);
    const auto tv = dnft::make_view(static_cast<const double*>(dt2.data()), {B}, {2}, dnft::device_space{});
    p.predict(dnft::make_view(static_cast<const double*>(dx.data()), {B, D}, {1, B}, dnft::device_space{}), tv, db.c,
              dnft::make_view(dvcm.data(), {B, D}, {1, B}, dnft::device_space{}));
    const auto vcm = ex.to_host(dvcm);
    for (index_t i = 0; i < B; ++i)
      for (index_t d = 0; d < D; ++d) CHECK(vcm[std::size_t(i + d * B)] == v_ref[std::size_t(i * D + d)]);
    // v aliasing x (in place)
    auto dxi = ex.to_device(db.x);
    p.predict(const_device_view(dxi, B, D), db.dt, db.c, device_view(dxi, B, D));
    CHECK(ex.to_host(dxi) == v_ref);
    // padded rows: sample stride 5, padding untouched
    std::vector<double> pad(std::size_t(5 * B), 99.0);
    auto dpad = ex.to_device(pad);
    p.forward(const_device_view(db.dx, B, D), db.dt, db.c, dnft::make_view(dpad.data(), {B, D}, {5, 1}, dnft::device_space{}));
    const auto vpad = ex.to_host(dpad);
    for (index_t i = 0; i < B; ++i) {
      for (index_t d = 0; d < D; ++d) CHECK(vpad[std::size_t(i * 5 + d)] == v_ref[std::size_t(i * D + d)]);
      CHECK(vpad[std::size_t(i * 5 + 3)] == 99.0);
      CHECK(vpad[std::size_t(i * 5 + 4)] == 99.0);
    }
    // a column-major dv gives exactly the gradients of a row-major one
    const auto r = dnft_test::normal_data(std::size_t(B * D), 8);
    p.zero_grad();
    db.backward(p, r);
    const auto g_rm = host_grads(p);
    std::vector<double> rcm(r.size());
    for (index_t i = 0; i < B; ++i)
      for (index_t d = 0; d < D; ++d) rcm[std::size_t(i + d * B)] = r[std::size_t(i * D + d)];
    auto drcm = ex.to_device(rcm);
    p.zero_grad();
    p.backward(dnft::make_view(static_cast<const double*>(drcm.data()), {B, D}, {1, B}, dnft::device_space{}));
    CHECK(host_grads(p) == g_rm);
    // an empty batch does nothing (and backward after it neither)
    p.forward(dnft::make_view(static_cast<const double*>(db.dx.data()), {0, D}, dnft::device_space{}),
              dnft::make_view(static_cast<const double*>(db.dt.data()), {0}, dnft::device_space{}),
              std::span<const int>{}, dnft::make_view(dvcm.data(), {0, D}, dnft::device_space{}));
    p.backward(dnft::make_view(static_cast<const double*>(drcm.data()), {0, D}, dnft::device_space{}));
    CHECK(host_grads(p) == g_rm);
  }

  TEST_CASE("cuda::mlp_policy: backward matches central finite differences for every parameter (double)") {
    dnft::cuda::executor ex;
    struct setup {
      index_t depth;
      index_t B;
    };
    for (const setup s : {setup{2, 1}, setup{2, 9}, setup{1, 5}, setup{3, 4}}) {
      CAPTURE(s.depth);
      CAPTURE(s.B);
      const auto cfg = small_config(s.depth, 3 + std::uint64_t(s.B));
      dnft::cuda::mlp_policy<double> p(cfg, ex);
      const batch b(s.B, 3, 4, std::uint64_t(20 + s.B));
      device_batch<double> db(ex, b);
      const auto r = dnft_test::normal_data(std::size_t(s.B * 3), std::uint64_t(40 + s.B));
      p.zero_grad();
      db.backward(p, loss_grad(db.forward(p), r));
      const auto g = host_grads(p);
      std::vector<double> theta = host_params(p);
      double* dtheta = p.parameters().data;
      auto set = [&](index_t k, double value) {
        ex.copy_from_host(&value, dtheta + k, 1);  // on the executor's stream (a pageable cudaMemcpy may return early)
      };
      const double h = 1e-5;
      std::size_t bad = 0;
      for (index_t k = 0; k < p.parameter_count(); ++k) {
        const double keep = theta[std::size_t(k)];
        set(k, keep + h);
        const double lp = test_loss(db.predict(p), r);
        set(k, keep - h);
        const double lm = test_loss(db.predict(p), r);
        set(k, keep);
        const double fd = (lp - lm) / (2 * h);
        if (!(std::abs(fd - g[std::size_t(k)]) <= 1e-7 * (1 + std::abs(fd)))) ++bad;
      }
      CHECK(bad == 0);
      // embedding rows of conditions absent from the batch get no gradient
      for (int row = 0; row <= 4; ++row) {
        const bool used = std::find(b.c.begin(), b.c.end(), row) != b.c.end();
        double n = 0;
        for (index_t e = 0; e < cfg.cond_dim; ++e) n += std::abs(g[std::size_t(row * cfg.cond_dim + e)]);
        CHECK((n > 0) == used);
      }
    }
  }

  TEST_CASE_TEMPLATE("cuda::mlp_policy: gradients accumulate over forward/backward pairs and repeated backward", Real,
                     float, double) {
    dnft::cuda::executor ex;
    dnft::cuda::mlp_policy<Real> p(small_config(), ex);
    const batch b1(6, 3, 4, 31), b2(11, 3, 4, 32);
    device_batch<Real> d1(ex, b1), d2(ex, b2);
    const auto r1 = dnft_test::normal_data(18, 33), r2 = dnft_test::normal_data(33, 34);
    p.zero_grad();
    d1.backward(p, loss_grad(d1.forward(p), r1));
    const auto g1 = host_grads(p);
    p.zero_grad();
    d2.backward(p, loss_grad(d2.forward(p), r2));
    const auto g2 = host_grads(p);
    p.zero_grad();
    d1.backward(p, loss_grad(d1.forward(p), r1));
    d2.backward(p, loss_grad(d2.forward(p), r2));
    const auto g12 = host_grads(p);
    const double tol = std::is_same_v<Real, double> ? 1e-13 : 1e-5;
    double max_g = 0;
    for (std::size_t k = 0; k < g1.size(); ++k) max_g = std::max(max_g, std::abs(double(g1[k]) + double(g2[k])));
    REQUIRE(max_g > 0);
    std::vector<double> sum(g1.size());
    for (std::size_t k = 0; k < g1.size(); ++k) sum[k] = double(g1[k]) + double(g2[k]);
    check_close(g12, sum, tol, max_g, "g(b1) + g(b2)");
    // backward twice after one forward (with a predict in between): twice the gradient
    p.zero_grad();
    const auto dv = loss_grad(d1.forward(p), r1);
    d2.predict(p);
    d1.backward(p, dv);
    d1.backward(p, dv);
    std::vector<double> twice(g1.size());
    for (std::size_t k = 0; k < g1.size(); ++k) twice[k] = 2 * double(g1[k]);
    check_close(host_grads(p), twice, tol, max_g, "2 g(b1)");
    p.zero_grad();
    for (Real gk : host_grads(p)) CHECK(gk == Real(0));
  }

  TEST_CASE_TEMPLATE("cuda::mlp_policy: copies own their parameters; moves are cheap", Real, float, double) {
    dnft::cuda::executor ex;
    dnft::cuda::mlp_policy<Real> p(small_config(), ex);
    const batch b(5, 3, 4, 51);
    device_batch<Real> db(ex, b);
    const auto r = dnft_test::normal_data(15, 52);
    const auto v0 = db.predict(p);
    db.backward(p, loss_grad(db.forward(p), r));
    const auto theta0 = host_params(p);
    const auto g0 = host_grads(p);

    dnft::cuda::mlp_policy<Real> q(p);  // copy construction
    CHECK(q.parameters().data != p.parameters().data);
    CHECK(q.gradients().data != p.gradients().data);
    CHECK(host_params(q) == theta0);
    CHECK(host_grads(q) == g0);
    CHECK(db.predict(q) == v0);
    // the copy's parameters change (+0.25 everywhere), the original's do not
    std::vector<Real> shifted = theta0;
    for (Real& e : shifted) e += Real(0.25);
    ex.copy(shifted, q.parameters());
    CHECK(db.predict(q) != v0);
    CHECK(db.predict(p) == v0);
    CHECK(host_params(p) == theta0);
    q.zero_grad();
    CHECK(host_grads(p) == g0);
    // a copy has no forward pass to differentiate
    std::vector<Real> ones(15, Real(1));
    const auto dones = ex.to_device(ones);
    CHECK_THROWS_AS(q.backward(const_device_view(dones, 5, 3)), dnft::error);
    // its own backward writes its own gradients
    db.backward(q, loss_grad(db.forward(q), r));
    CHECK(host_grads(p) == g0);
    CHECK(host_grads(q) != g0);

    // copy assignment over a model of the same size on the same stream (buffers reused) ...
    dnft::cuda::mlp_policy<Real> s(small_config(2, 999), ex);
    CHECK(host_params(s) != theta0);
    const Real* s_data = s.parameters().data;
    s = p;
    CHECK(s.parameters().data == s_data);
    CHECK(host_params(s) == theta0);
    CHECK(db.predict(s) == v0);
    // ... and over a model of another size on another stream (takes p's executor)
    dnft::cuda::executor other;
    dnft::cuda::mlp_policy<Real> u(wide_config(), other);
    u = p;
    CHECK(u.get_executor().stream() == ex.stream());
    CHECK(u.parameter_count() == p.parameter_count());
    CHECK(host_params(u) == theta0);
    CHECK(db.predict(u) == v0);
    ex.copy(shifted, u.parameters());
    CHECK(db.predict(p) == v0);

    // moves keep working on the moved buffers
    const Real* q_data = q.parameters().data;
    dnft::cuda::mlp_policy<Real> m(std::move(q));
    CHECK(m.parameters().data == q_data);
    CHECK(host_params(m) == shifted);
    dnft::cuda::mlp_policy<Real> m2(small_config(1), ex);
    m2 = std::move(m);
    CHECK(m2.parameters().data == q_data);
    CHECK(db.predict(m2) != v0);
  }

  TEST_CASE("cuda::mlp_policy: without the finiteness check the numbers are the same") {
    dnft::cuda::executor ex;
    const auto cfg = wide_config(31);
    dnft::cuda::mlp_options o;
    o.check_finite = false;
    dnft::cuda::mlp_policy<float> checked(cfg, ex), unchecked(cfg, ex, o);
    const batch b(200, cfg.dim, cfg.num_conditions, 32);
    device_batch<float> db(ex, b);
    const auto v = db.forward(checked);
    CHECK(db.forward(unchecked) == v);
    const auto dv = loss_grad(v, dnft_test::normal_data(v.size(), 33));
    db.backward(checked, dv);
    db.backward(unchecked, dv);
    CHECK(host_grads(unchecked) == host_grads(checked));
  }

  TEST_CASE("cuda::mlp_policy: bad input is reported with the host model's messages") {
    dnft::cuda::executor ex;
    dnft::mlp_config cfg;
    cfg.dim = 2;
    cfg.num_conditions = 3;
    cfg.cond_dim = 4;
    cfg.time_frequencies = 2;
    cfg.width = 5;
    cfg.depth = 2;
    // configuration fields
    {
      auto bad = cfg;
      bad.width = 0;
      CHECK(message_of<dnft::value_error>([&] { dnft::cuda::mlp_policy<float> q(bad, ex); }) ==
            "dnft::cuda::mlp_policy: config.width: expected >= 1, got 0");
      bad = cfg;
      bad.time_max_frequency = 0.5;
      CHECK(contains(message_of<dnft::value_error>([&] { dnft::cuda::mlp_policy<double> q(bad, ex); }),
                     "dnft::cuda::mlp_policy: config.time_max_frequency: expected a finite value >= "));
    }
    dnft::cuda::mlp_policy<float> p(cfg, ex);
    std::vector<float> x(8, 0.5f), t = {0.1f, 0.2f, 0.3f, 1.0f}, v(8);
    std::vector<int> c = {0, 1, 2, 3};
    auto dx = ex.to_device(x), dt = ex.to_device(t), dv = ex.to_device(v);
    auto X = [&](index_t B, index_t D) { return const_device_view(dx, B, D); };
    auto V = [&](index_t B, index_t D) { return device_view(dv, B, D); };
    auto T = [&](index_t n) { return dnft::make_view(static_cast<const float*>(dt.data()), {n}, dnft::device_space{}); };
    CHECK_NOTHROW(p.predict(X(4, 2), T(4), c, V(4, 2)));
    CHECK(message_of<dnft::shape_error>([&] { p.predict(X(8, 1), T(4), c, V(4, 2)); }) ==
          "dnft::cuda::mlp_policy::predict: x: expected (B, 2) (batch, dim()), got shape (8, 1)");
    CHECK(message_of<dnft::shape_error>([&] { p.forward(X(4, 2), T(3), c, V(4, 2)); }) ==
          "dnft::cuda::mlp_policy::forward: t: expected one time per sample (4), got 3");
    CHECK(message_of<dnft::shape_error>([&] { p.predict(X(4, 2), T(4), std::span<const int>(c).first(3), V(4, 2)); }) ==
          "dnft::cuda::mlp_policy::predict: c: expected one condition per sample (4), got 3");
    CHECK(message_of<dnft::shape_error>([&] { p.predict(X(4, 2), T(4), c, V(2, 4)); }) ==
          "dnft::cuda::mlp_policy::predict: v: expected the shape of x (4, 2), got shape (2, 4)");
    CHECK(contains(message_of<dnft::layout_error>([&] {
                     p.predict(X(4, 2), T(4), c, dnft::make_view(dv.data(), {4, 2}, {0, 1}, dnft::device_space{}));
                   }),
                   "dnft::cuda::mlp_policy::predict: v: an output tensor has overlapping elements"));
    for (int bad : {-1, 4}) {
      auto cb = c;
      cb[2] = bad;
      CHECK(message_of<dnft::value_error>([&] { p.predict(X(4, 2), T(4), cb, V(4, 2)); }) ==
            "dnft::cuda::mlp_policy::predict: c: expected condition ids in [0, 3] (3 is the null condition), got " +
                std::to_string(bad) + " at sample 2");
    }
    // backward without a forward, after a predict only, with the wrong batch
    CHECK(contains(message_of<dnft::error>([&] { p.backward(X(4, 2)); }),
                   "dnft::cuda::mlp_policy::backward: dv: no forward pass to differentiate"));
    p.forward(X(4, 2), T(4), c, V(4, 2));
    CHECK(message_of<dnft::shape_error>([&] { p.backward(X(3, 2)); }) ==
          "dnft::cuda::mlp_policy::backward: dv: expected the shape of the last forward's output (4, 2), got shape "
          "(3, 2)");
    CHECK(message_of<dnft::shape_error>([&] { p.backward(X(2, 4)); }) ==
          "dnft::cuda::mlp_policy::backward: dv: expected (B, 2) (batch, dim()), got shape (2, 4)");
    // non-finite x, t and dv: the first one in sample order is named; a bad dv leaves the gradients alone
    const float inf = std::numeric_limits<float>::infinity();
    for (float bad : {std::nanf(""), inf, -inf}) {
      CAPTURE(bad);
      auto xb = x;
      xb[5] = bad;  // sample 2, element 1
      xb[7] = bad;  // sample 3, element 1 (not reported: the first one is)
      auto dxb = ex.to_device(xb);
      const auto mx = message_of<dnft::value_error>([&] { p.forward(const_device_view(dxb, 4, 2), T(4), c, V(4, 2)); });
      CHECK(contains(mx, "dnft::cuda::mlp_policy::forward: x: non-finite value"));
      CHECK(contains(mx, "at sample 2, element 1"));
      // the failed forward left nothing to differentiate
      CHECK(contains(message_of<dnft::error>([&] { p.backward(X(4, 2)); }), "no forward pass to differentiate"));
      auto tb = t;
      tb[3] = bad;
      auto dtb = ex.to_device(tb);
      const auto mt = message_of<dnft::value_error>([&] { p.predict(X(4, 2), dtb, c, V(4, 2)); });
      CHECK(contains(mt, "dnft::cuda::mlp_policy::predict: t: non-finite value"));
      CHECK(contains(mt, "at sample 3"));
      p.forward(X(4, 2), T(4), c, V(4, 2));
      p.zero_grad();
      std::vector<float> g(8, 0.25f);
      g[6] = bad;  // sample 3, element 0
      auto dg = ex.to_device(g);
      const auto mg = message_of<dnft::value_error>([&] { p.backward(const_device_view(dg, 4, 2)); });
      CHECK(contains(mg, "dnft::cuda::mlp_policy::backward: dv: non-finite value"));
      CHECK(contains(mg, "at sample 3, element 0"));
      for (float e : host_grads(p)) CHECK(e == 0.0f);
    }
  }
}
