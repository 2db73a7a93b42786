// SPDX-License-Identifier: Apache-2.0
// nft_loss on the same data through every tensor backend (raw pointers, std containers, Eigen,
// xtensor, a user-owned type) gives bit-identical results: the adapters only describe memory.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <span>
#include <vector>

#include <Eigen/Core>
#include <xtensor/xadapt.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xtensor.hpp>

#include "dnft/adapters/eigen.hpp"
#include "dnft/adapters/xtensor.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "support/nft_reference.hpp"
#include "support/random_data.hpp"

namespace user {

//! A tensor type the user owns: a (rows, cols) row-major matrix with a row pitch.
class pitched_matrix {
 public:
  pitched_matrix(int rows, int cols, int pitch) : rows_(rows), cols_(cols), pitch_(pitch), buf_(std::size_t(rows * pitch)) {}
  float& at(int i, int j) { return buf_[std::size_t(i * pitch_ + j)]; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int pitch() const { return pitch_; }
  float* base() { return buf_.data(); }
  const float* base() const { return buf_.data(); }

 private:
  int rows_, cols_, pitch_;
  std::vector<float> buf_;
};

}  // namespace user

// What makes it usable by dnft: one specialisation, a few lines.
template <>
struct dnft::tensor_traits<user::pitched_matrix> {
  template <class M>  // M = pitched_matrix or const pitched_matrix
  static auto view(M& m) {
    return dnft::make_view(m.base(), {m.rows(), m.cols()}, {m.pitch(), 1});
  }
};

namespace {

constexpr int B = 6, H = 3, W = 401, D = H * W;  // D = 1203: two host chunks, neither a multiple of 4 lanes
using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Row-major (B, D) float data; t and adv are exactly representable in float, so float and
// double containers of them hold the same values.
struct dataset {
  std::vector<float> x0, eps, vth, vold, vref;
  std::vector<float> t{0.0f, 0.125f, 0.5f, 0.75f, 0.9375f, 1.0f};
  std::vector<float> adv{1.5f, -2.25f, 0.0f, 7.0f, -0.5f, 3.0f};  // 7 is clipped
  dataset() {
    const auto n = std::size_t(B * D);
    x0 = dnft_test::cast<float>(dnft_test::normal_data(n, 101));
    eps = dnft_test::cast<float>(dnft_test::normal_data(n, 102));
    vth = dnft_test::cast<float>(dnft_test::normal_data(n, 103, 0.3));
    vold = dnft_test::cast<float>(dnft_test::normal_data(n, 104, 0.3));
    vref = dnft_test::cast<float>(dnft_test::normal_data(n, 105, 0.3));
    for (std::size_t k = 0; k < n; ++k) {
      const float u = eps[k] - x0[k];
      vth[k] += u;
      vold[k] += u;
      vref[k] += u;
    }
  }
};

struct outcome {
  dnft::nft_stats st;
  std::vector<float> grad;  // row-major (B, D)
};

dnft::nft_options options() {
  dnft::nft_options o;
  o.kl_weight = 0.25;  // make the KL term visible
  return o;
}

void check_identical(const outcome& a, const outcome& b) {
  CHECK(a.st.loss == b.st.loss);
  CHECK(a.st.policy_loss == b.st.policy_loss);
  CHECK(a.st.kl == b.st.kl);
  CHECK(a.st.theta_old == b.st.theta_old);
  CHECK(a.st.old_ref == b.st.old_ref);
  CHECK(a.st.x0_sq == b.st.x0_sq);
  CHECK(a.st.mean_r == b.st.mean_r);
  CHECK(a.st.clipped_fraction == b.st.clipped_fraction);
  CHECK(a.st.mean_weight_pos == b.st.mean_weight_pos);
  CHECK(a.st.mean_weight_neg == b.st.mean_weight_neg);
  CHECK(b.st.batch == B);
  CHECK(b.st.elements == D);
  REQUIRE(b.grad.size() == a.grad.size());
  int mismatches = 0;
  for (std::size_t k = 0; k < a.grad.size(); ++k) mismatches += a.grad[k] != b.grad[k];
  CHECK(mismatches == 0);
}

// The baseline: raw pointers through make_view.
outcome run_raw(const dataset& d) {
  outcome r;
  r.grad.assign(std::size_t(B * D), -1.0f);
  auto v = [](const std::vector<float>& a) { return dnft::make_view(a.data(), {B, D}); };
  r.st = dnft::nft_loss(dnft::host, v(d.x0), v(d.eps), dnft::make_view(d.t.data(), {B}),
                        dnft::make_view(d.adv.data(), {B}), v(d.vth), v(d.vold), v(d.vref),
                        dnft::make_view(r.grad.data(), {B, D}), options());
  return r;
}

template <class M>
M to_eigen(const std::vector<float>& a) {
  M m(B, D);
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < D; ++j) m(i, j) = a[std::size_t(i * D + j)];
  return m;
}

template <class M>
std::vector<float> from_2d(const M& m) {  // any (B, D) object with m(i, j)
  std::vector<float> a(std::size_t(B * D));
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < D; ++j) a[std::size_t(i * D + j)] = m(i, j);
  return a;
}

template <class X>
X to_xtensor(const std::vector<float>& a) {
  X x = X::from_shape({std::size_t(B), std::size_t(D)});
  for (int i = 0; i < B; ++i)
    for (int j = 0; j < D; ++j) x(i, j) = a[std::size_t(i * D + j)];
  return x;
}

}  // namespace

TEST_SUITE("adapters") {
  TEST_CASE("the raw-pointer baseline matches the naive double reference") {
    const dataset d;
    const outcome raw = run_raw(d);
    std::vector<double> x0(d.x0.begin(), d.x0.end()), eps(d.eps.begin(), d.eps.end()), vth(d.vth.begin(), d.vth.end()),
        vold(d.vold.begin(), d.vold.end()), vref(d.vref.begin(), d.vref.end()), t(d.t.begin(), d.t.end()),
        adv(d.adv.begin(), d.adv.end());
    const auto ref = dnft_test::nft_reference(B, D, x0, eps, t, adv, vth, vold, &vref, options());
    // float data, float element arithmetic (double across blocks): the float tolerance of
    // tests/algorithm/test_nft_loss.cpp
    CHECK(raw.st.loss == doctest::Approx(ref.loss).epsilon(2e-5));
    CHECK(raw.st.kl == doctest::Approx(ref.kl).epsilon(2e-5));
    CHECK(raw.st.clipped_fraction == doctest::Approx(1.0 / B));
  }

  TEST_CASE("std::vector and std::span of double and float are interchangeable for t and adv") {
    const dataset d;
    const outcome raw = run_raw(d);
    auto v = [](const std::vector<float>& a) { return dnft::make_view(a.data(), {B, D}); };
    const std::vector<double> t(d.t.begin(), d.t.end()), adv(d.adv.begin(), d.adv.end());
    outcome r;
    r.grad.assign(std::size_t(B * D), 0.0f);
    SUBCASE("std::vector<float>") {
      r.st = dnft::nft_loss(dnft::host, v(d.x0), v(d.eps), d.t, d.adv, v(d.vth), v(d.vold), v(d.vref),
                            dnft::make_view(r.grad.data(), {B, D}), options());
    }
    SUBCASE("std::vector<double>") {
      r.st = dnft::nft_loss(dnft::host, v(d.x0), v(d.eps), t, adv, v(d.vth), v(d.vold), v(d.vref),
                            dnft::make_view(r.grad.data(), {B, D}), options());
    }
    SUBCASE("std::span<const float>") {
      r.st = dnft::nft_loss(dnft::host, v(d.x0), v(d.eps), std::span<const float>(d.t), std::span<const float>(d.adv),
                            v(d.vth), v(d.vold), v(d.vref), dnft::make_view(r.grad.data(), {B, D}), options());
    }
    SUBCASE("std::span<const double, B>") {
      r.st = dnft::nft_loss(dnft::host, v(d.x0), v(d.eps), std::span<const double, B>(t.data(), B),
                            std::span<const double, B>(adv.data(), B), v(d.vth), v(d.vold), v(d.vref),
                            dnft::make_view(r.grad.data(), {B, D}), options());
    }
    check_identical(raw, r);
  }

  TEST_CASE("raw pointers with explicit strides: column-major and padded rows") {
    const dataset d;
    const outcome raw = run_raw(d);
    outcome r;
    SUBCASE("column-major (B, D): element stride B") {
      auto cm = [](const std::vector<float>& a) {
        std::vector<float> c(a.size());
        for (int i = 0; i < B; ++i)
          for (int j = 0; j < D; ++j) c[std::size_t(j * B + i)] = a[std::size_t(i * D + j)];
        return c;
      };
      const auto x0 = cm(d.x0), eps = cm(d.eps), vth = cm(d.vth), vold = cm(d.vold), vref = cm(d.vref);
      std::vector<float> g(std::size_t(B * D));
      auto v = [](const std::vector<float>& a) { return dnft::make_view(a.data(), {B, D}, {1, B}); };
      r.st = dnft::nft_loss(dnft::host, v(x0), v(eps), d.t, d.adv, v(vth), v(vold), v(vref),
                            dnft::make_view(g.data(), {B, D}, {1, B}), options());
      r.grad = from_2d(dnft::make_view(g.data(), {B, D}, {1, B}));
    }
    SUBCASE("rows padded to a pitch of D + 5, as (B, H, W)") {
      constexpr int P = D + 5;
      auto pad = [](const std::vector<float>& a) {
        std::vector<float> c(std::size_t(B * P), 99.0f);
        for (int i = 0; i < B; ++i)
          for (int j = 0; j < D; ++j) c[std::size_t(i * P + j)] = a[std::size_t(i * D + j)];
        return c;
      };
      const auto x0 = pad(d.x0), eps = pad(d.eps), vth = pad(d.vth), vold = pad(d.vold), vref = pad(d.vref);
      std::vector<float> g(std::size_t(B * P), 42.0f);
      auto v = [](const std::vector<float>& a) { return dnft::make_view(a.data(), {B, H, W}, {P, W, 1}); };
      r.st = dnft::nft_loss(dnft::host, v(x0), v(eps), d.t, d.adv, v(vth), v(vold), v(vref),
                            dnft::make_view(g.data(), {B, H, W}, {P, W, 1}), options());
      r.grad = from_2d(dnft::make_view(g.data(), {B, D}, {P, 1}));
      for (int i = 0; i < B; ++i)
        for (int j = D; j < P; ++j) CHECK(g[std::size_t(i * P + j)] == 42.0f);  // padding untouched
    }
    check_identical(raw, r);
  }

  TEST_CASE("Eigen: row-major, column-major, Map with OuterStride, Ref, Block") {
    const dataset d;
    const outcome raw = run_raw(d);
    outcome r;
    SUBCASE("row-major matrices, VectorXf t and adv") {
      const auto x0 = to_eigen<row_matrix>(d.x0), eps = to_eigen<row_matrix>(d.eps),
                 vth = to_eigen<row_matrix>(d.vth), vold = to_eigen<row_matrix>(d.vold),
                 vref = to_eigen<row_matrix>(d.vref);
      const Eigen::VectorXf t = Eigen::Map<const Eigen::VectorXf>(d.t.data(), B);
      const Eigen::VectorXf adv = Eigen::Map<const Eigen::VectorXf>(d.adv.data(), B);
      row_matrix g(B, D);
      r.st = dnft::nft_loss(dnft::host, x0, eps, t, adv, vth, vold, vref, g, options());
      r.grad = from_2d(g);
    }
    SUBCASE("column-major matrices (strided elements), t and adv as rows of a column-major matrix") {
      const auto x0 = to_eigen<Eigen::MatrixXf>(d.x0), eps = to_eigen<Eigen::MatrixXf>(d.eps),
                 vth = to_eigen<Eigen::MatrixXf>(d.vth), vold = to_eigen<Eigen::MatrixXf>(d.vold),
                 vref = to_eigen<Eigen::MatrixXf>(d.vref);
      Eigen::MatrixXf ta(2, B);  // row 0: t, row 1: adv; a row has inner stride 2
      for (int i = 0; i < B; ++i) {
        ta(0, i) = d.t[std::size_t(i)];
        ta(1, i) = d.adv[std::size_t(i)];
      }
      Eigen::MatrixXf g(B, D);
      r.st = dnft::nft_loss(dnft::host, x0, eps, ta.row(0), ta.row(1), vth, vold, vref, g, options());
      r.grad = from_2d(g);
    }
    SUBCASE("Map<row-major, OuterStride<>> of padded buffers") {
      constexpr int P = D + 3;
      using map_c = Eigen::Map<const row_matrix, 0, Eigen::OuterStride<>>;
      auto pad = [](const std::vector<float>& a) {
        std::vector<float> c(std::size_t(B * P), -5.0f);
        for (int i = 0; i < B; ++i)
          for (int j = 0; j < D; ++j) c[std::size_t(i * P + j)] = a[std::size_t(i * D + j)];
        return c;
      };
      const auto x0 = pad(d.x0), eps = pad(d.eps), vth = pad(d.vth), vold = pad(d.vold), vref = pad(d.vref);
      std::vector<float> gbuf(std::size_t(B * P), 7.0f);
      auto m = [](const std::vector<float>& a) { return map_c(a.data(), B, D, Eigen::OuterStride<>(P)); };
      Eigen::Map<row_matrix, 0, Eigen::OuterStride<>> g(gbuf.data(), B, D, Eigen::OuterStride<>(P));
      r.st = dnft::nft_loss(dnft::host, m(x0), m(eps), d.t, d.adv, m(vth), m(vold), m(vref), g, options());
      r.grad = from_2d(g);
      CHECK(gbuf[std::size_t(P - 1)] == 7.0f);
    }
    SUBCASE("Ref<const MatrixXf> inputs, Ref<MatrixXf> output") {
      const auto x0 = to_eigen<Eigen::MatrixXf>(d.x0), eps = to_eigen<Eigen::MatrixXf>(d.eps),
                 vth = to_eigen<Eigen::MatrixXf>(d.vth), vold = to_eigen<Eigen::MatrixXf>(d.vold),
                 vref = to_eigen<Eigen::MatrixXf>(d.vref);
      Eigen::MatrixXf g(B, D);
      using cref = Eigen::Ref<const Eigen::MatrixXf>;
      const cref rx0(x0), reps(eps), rvth(vth), rvold(vold), rvref(vref);
      Eigen::Ref<Eigen::MatrixXf> rg(g);
      r.st = dnft::nft_loss(dnft::host, rx0, reps, d.t, d.adv, rvth, rvold, rvref, rg, options());
      r.grad = from_2d(g);
    }
    SUBCASE("Blocks of bigger matrices (a Block written as grad)") {
      auto big = [](const std::vector<float>& a) {
        Eigen::MatrixXf m = Eigen::MatrixXf::Constant(B + 2, D + 3, 1e30f);
        m.block(1, 2, B, D) = to_eigen<Eigen::MatrixXf>(a);
        return m;
      };
      const auto x0 = big(d.x0), eps = big(d.eps), vth = big(d.vth), vold = big(d.vold), vref = big(d.vref);
      Eigen::MatrixXf g = Eigen::MatrixXf::Zero(B + 2, D + 3);
      r.st = dnft::nft_loss(dnft::host, x0.block(1, 2, B, D), eps.block(1, 2, B, D), d.t, d.adv,
                            vth.block(1, 2, B, D), vold.block(1, 2, B, D), vref.block(1, 2, B, D),
                            g.block(1, 2, B, D), options());
      r.grad = from_2d(g.block(1, 2, B, D));
      CHECK(g.row(0).isZero());
      CHECK(g.col(D + 2).isZero());
    }
    check_identical(raw, r);
  }

  TEST_CASE("xtensor: xtensor, rank 3, xtensor_fixed, adapt, column-major") {
    const dataset d;
    const outcome raw = run_raw(d);
    outcome r;
    SUBCASE("xt::xtensor<float, 2>, xt::xtensor<float, 1> t and adv") {
      using X = xt::xtensor<float, 2>;
      const auto x0 = to_xtensor<X>(d.x0), eps = to_xtensor<X>(d.eps), vth = to_xtensor<X>(d.vth),
                 vold = to_xtensor<X>(d.vold), vref = to_xtensor<X>(d.vref);
      xt::xtensor<float, 1> t = xt::adapt(d.t, std::array<std::size_t, 1>{B});
      xt::xtensor<float, 1> adv = xt::adapt(d.adv, std::array<std::size_t, 1>{B});
      X g = X::from_shape({B, D});
      r.st = dnft::nft_loss(dnft::host, x0, eps, t, adv, vth, vold, vref, g, options());
      r.grad = from_2d(g);
    }
    SUBCASE("xt::xtensor<float, 3> (B, H, W): trailing axes flattened") {
      using X = xt::xtensor<float, 3>;
      auto x3 = [](const std::vector<float>& a) {
        X x = xt::adapt(a, std::array<std::size_t, 3>{B, H, W});
        return x;
      };
      const auto x0 = x3(d.x0), eps = x3(d.eps), vth = x3(d.vth), vold = x3(d.vold), vref = x3(d.vref);
      X g = X::from_shape({B, H, W});
      r.st = dnft::nft_loss(dnft::host, x0, eps, d.t, d.adv, vth, vold, vref, g, options());
      r.grad.assign(g.begin(), g.end());
    }
    SUBCASE("xt::xtensor_fixed<float, xshape<B, D>>") {
      using X = xt::xtensor_fixed<float, xt::xshape<B, D>>;
      auto fx = [](const std::vector<float>& a) {
        X x;
        std::copy(a.begin(), a.end(), x.begin());
        return x;
      };
      const auto x0 = fx(d.x0), eps = fx(d.eps), vth = fx(d.vth), vold = fx(d.vold), vref = fx(d.vref);
      X g;
      r.st = dnft::nft_loss(dnft::host, x0, eps, d.t, d.adv, vth, vold, vref, g, options());
      r.grad = from_2d(g);
    }
    SUBCASE("xt::adapt(ptr, n, no_ownership(), shape)") {
      auto copy = d;  // adapt wants non-const pointers
      std::vector<float> gbuf(std::size_t(B * D));
      const std::array<std::size_t, 2> shape{B, D};
      const std::size_t n = std::size_t(B * D);
      auto a = [&](std::vector<float>& v) { return xt::adapt(v.data(), n, xt::no_ownership(), shape); };
      const auto x0 = a(copy.x0), eps = a(copy.eps), vth = a(copy.vth), vold = a(copy.vold), vref = a(copy.vref);
      auto g = a(gbuf);
      r.st = dnft::nft_loss(dnft::host, x0, eps, d.t, d.adv, vth, vold, vref, g, options());
      r.grad = gbuf;
    }
    SUBCASE("column-major xt::xtensor<float, 2, layout_type::column_major>") {
      using X = xt::xtensor<float, 2, xt::layout_type::column_major>;
      const auto x0 = to_xtensor<X>(d.x0), eps = to_xtensor<X>(d.eps), vth = to_xtensor<X>(d.vth),
                 vold = to_xtensor<X>(d.vold), vref = to_xtensor<X>(d.vref);
      X g = X::from_shape({B, D});
      r.st = dnft::nft_loss(dnft::host, x0, eps, d.t, d.adv, vth, vold, vref, g, options());
      r.grad = from_2d(g);
    }
    check_identical(raw, r);
  }

  TEST_CASE("a user-owned tensor type with a tensor_traits specialisation, and a mix of backends") {
    const dataset d;
    const outcome raw = run_raw(d);
    auto um = [](const std::vector<float>& a) {
      user::pitched_matrix m(B, D, D + 2);
      for (int i = 0; i < B; ++i)
        for (int j = 0; j < D; ++j) m.at(i, j) = a[std::size_t(i * D + j)];
      return m;
    };
    outcome r;
    SUBCASE("every tensor a pitched_matrix") {
      const auto x0 = um(d.x0), eps = um(d.eps), vth = um(d.vth), vold = um(d.vold), vref = um(d.vref);
      auto g = um(std::vector<float>(std::size_t(B * D)));
      r.st = dnft::nft_loss(dnft::host, x0, eps, d.t, d.adv, vth, vold, vref, g, options());
      r.grad = from_2d(dnft::as_view(g));
    }
    SUBCASE("x0 pitched_matrix, eps Eigen column-major, v_theta xtensor, v_old raw, v_ref Eigen row-major") {
      const auto x0 = um(d.x0);
      const auto eps = to_eigen<Eigen::MatrixXf>(d.eps);
      const auto vth = to_xtensor<xt::xtensor<float, 2>>(d.vth);
      const auto vref = to_eigen<row_matrix>(d.vref);
      xt::xtensor<float, 2, xt::layout_type::column_major> g =
          xt::xtensor<float, 2, xt::layout_type::column_major>::from_shape({B, D});
      r.st = dnft::nft_loss(dnft::host, x0, eps, std::span<const float>(d.t), d.adv, vth,
                            dnft::make_view(d.vold.data(), {B, D}), vref, g, options());
      r.grad = from_2d(g);
    }
    check_identical(raw, r);
  }
}
