// SPDX-License-Identifier: Apache-2.0
// mlp_policy: concepts, layout, forward against a naive reference, backward against central
// finite differences, accumulation, copies, initialisation, float vs double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "dnft/adapters/eigen.hpp"
#include "dnft/policies/mlp.hpp"
#include "support/mlp_reference.hpp"
#include "support/random_data.hpp"

namespace {

static_assert(dnft::velocity_field<dnft::mlp_policy<float>>);
static_assert(dnft::velocity_field<dnft::mlp_policy<double>>);
static_assert(dnft::guidable_field<dnft::mlp_policy<float>>);
static_assert(dnft::guidable_field<dnft::mlp_policy<double>>);
static_assert(dnft::trainable_policy<dnft::mlp_policy<float>>);
static_assert(dnft::trainable_policy<dnft::mlp_policy<double>>);
static_assert(std::is_same_v<dnft::condition_t<dnft::mlp_policy<float>>, int>);
static_assert(std::is_same_v<dnft::policy_space_t<dnft::mlp_policy<float>>, dnft::host_space>);

dnft::mlp_config small_config(dnft::index_t depth = 2, std::uint64_t seed = 7) {
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

//! A deterministic batch: x ~ N(0, 1), t in [0, 1] with a few repeated values, conditions
//! cycling through 0 .. K (the null condition included, ids repeated).
struct batch {
  int B = 0, D = 0;
  std::vector<double> x, t;
  std::vector<int> c;
  batch(int b, int d, int K, std::uint64_t seed) : B(b), D(d) {
    x = dnft_test::normal_data(std::size_t(b * d), seed);
    t = dnft_test::uniform_data(std::size_t(b), seed + 1, 0.0, 1.0);
    for (int i = 0; i < b; ++i) {
      if (i % 3 == 2) t[std::size_t(i)] = t[std::size_t(i - 1)];  // runs of equal times
      c.push_back((i * 3 + int(seed)) % (K + 1));
    }
  }
};

template <class Real>
std::vector<Real> run_predict(dnft::mlp_policy<Real>& p, const batch& b) {
  auto x = dnft_test::cast<Real>(b.x);
  auto t = dnft_test::cast<Real>(b.t);
  std::vector<Real> v(x.size());
  p.predict(dnft::make_view(static_cast<const Real*>(x.data()), {b.B, b.D}), t, b.c, dnft::make_view(v.data(), {b.B, b.D}));
  return v;
}

template <class Real>
std::vector<Real> run_forward(dnft::mlp_policy<Real>& p, const batch& b) {
  auto x = dnft_test::cast<Real>(b.x);
  auto t = dnft_test::cast<Real>(b.t);
  std::vector<Real> v(x.size());
  p.forward(dnft::make_view(static_cast<const Real*>(x.data()), {b.B, b.D}), t, b.c, dnft::make_view(v.data(), {b.B, b.D}));
  return v;
}

//! The test loss L = sum R v + 1/2 sum v^2 and its gradient dL/dv = R + v.
double test_loss(const std::vector<double>& v, const std::vector<double>& r) {
  double s = 0;
  for (std::size_t k = 0; k < v.size(); ++k) s += r[k] * v[k] + 0.5 * v[k] * v[k];
  return s;
}

template <class Real>
std::vector<Real> forward_backward(dnft::mlp_policy<Real>& p, const batch& b, const std::vector<double>& r) {
  const auto v = run_forward(p, b);
  std::vector<Real> dv(v.size());
  for (std::size_t k = 0; k < v.size(); ++k) dv[k] = Real(r[k] + double(v[k]));
  p.backward(dnft::make_view(static_cast<const Real*>(dv.data()), {b.B, b.D}));
  return v;
}

template <class Real>
std::vector<Real> copy_of(dnft::tensor_view<const Real, 1> v) {
  return std::vector<Real>(v.data, v.data + v.size());
}

std::string kind_name(dnft::parameter_kind k) {
  return k == dnft::parameter_kind::embedding ? "embedding" : k == dnft::parameter_kind::weight ? "weight" : "bias";
}

}  // namespace

TEST_SUITE("policies") {
  TEST_CASE("mlp_policy: layout follows the documented order, shapes and offsets") {
    const auto cfg = small_config(2);
    dnft::mlp_policy<float> p(cfg);
    const dnft::index_t in0 = 3 + 2 * 3 + 5;
    CHECK(p.dim() == 3);
    CHECK(p.num_conditions() == 4);
    CHECK(p.null_condition() == 4);
    CHECK(p.input_features() == in0);
    struct expect {
      std::string name;
      dnft::parameter_kind kind;
      std::vector<dnft::index_t> shape;
    };
    const std::vector<expect> want = {
        {"cond_embedding.weight", dnft::parameter_kind::embedding, {5, 5}},
        {"layers.0.weight", dnft::parameter_kind::weight, {6, in0}},
        {"layers.0.bias", dnft::parameter_kind::bias, {6}},
        {"layers.1.weight", dnft::parameter_kind::weight, {6, 6}},
        {"layers.1.bias", dnft::parameter_kind::bias, {6}},
        {"layers.2.weight", dnft::parameter_kind::weight, {3, 6}},
        {"layers.2.bias", dnft::parameter_kind::bias, {3}},
    };
    const auto layout = p.layout();
    REQUIRE(layout.size() == want.size());
    dnft::index_t off = 0;
    for (std::size_t k = 0; k < want.size(); ++k) {
      CAPTURE(k);
      CHECK(layout[k].name == want[k].name);
      CHECK(layout[k].kind == want[k].kind);
      CHECK(layout[k].shape == want[k].shape);
      CHECK(layout[k].offset == off);
      dnft::index_t n = 1;
      for (auto e : want[k].shape) n *= e;
      CHECK(layout[k].size == n);
      off += n;
    }
    CHECK(p.parameter_count() == off);
    CHECK(p.parameters().size() == off);
    CHECK(p.gradients().size() == off);
    const dnft::mlp_policy<float>& cp = p;
    CHECK(cp.parameters().data == p.parameters().data);
  }

  TEST_CASE_TEMPLATE("mlp_policy: predict matches a naive double reference", Real, float, double) {
    for (dnft::index_t depth : {1, 2, 3}) {
      const auto cfg = small_config(depth, 11 + std::uint64_t(depth));
      dnft::mlp_policy<Real> p(cfg);
      for (int B : {1, 2, 7, 33}) {
        CAPTURE(depth);
        CAPTURE(B);
        const batch b(B, 3, 4, std::uint64_t(100 + B));
        const auto v = run_predict(p, b);
        const auto ref = dnft_test::mlp_reference(cfg, p.parameters().data, dnft_test::rounded<Real>(b.x),
                                                  dnft_test::rounded<Real>(b.t), b.c);
        const double tol = std::is_same_v<Real, double> ? 1e-12 : 2e-5;
        for (std::size_t k = 0; k < ref.size(); ++k) CHECK(std::abs(double(v[k]) - ref[k]) <= tol * (1 + std::abs(ref[k])));
      }
    }
  }

  TEST_CASE_TEMPLATE("mlp_policy: forward gives exactly predict's output, and predict keeps forward's state", Real,
                     float, double) {
    dnft::mlp_policy<Real> p(small_config());
    const batch b1(9, 3, 4, 1), b2(4, 3, 4, 2);
    const auto vp = run_predict(p, b1);
    const auto vf = run_forward(p, b1);
    CHECK(vp == vf);
    // gradients of b1 with a predict on another batch in between equal those without
    const auto r = dnft_test::normal_data(27, 5);
    p.zero_grad();
    forward_backward(p, b1, r);
    const auto g_plain = copy_of<Real>(p.gradients());
    p.zero_grad();
    const auto v1 = run_forward(p, b1);
    (void)run_predict(p, b2);
    std::vector<Real> dv(v1.size());
    for (std::size_t k = 0; k < v1.size(); ++k) dv[k] = Real(r[k] + double(v1[k]));
    p.backward(dnft::make_view(static_cast<const Real*>(dv.data()), {9, 3}));
    CHECK(copy_of<Real>(p.gradients()) == g_plain);
  }

  TEST_CASE("mlp_policy: strided, column-major and aliased tensors give the same result") {
    const auto cfg = small_config();
    dnft::mlp_policy<double> p(cfg);
    const batch b(10, 3, 4, 3);
    const auto v_ref = run_predict(p, b);
    // column-major Eigen matrices for x and v (strides {1, B}); t as a float vector
    Eigen::MatrixXd x(10, 3), v(10, 3);
    for (int i = 0; i < 10; ++i)
      for (int d = 0; d < 3; ++d) x(i, d) = b.x[std::size_t(i * 3 + d)];
    p.predict(x, b.t, b.c, v);
    for (int i = 0; i < 10; ++i)
      for (int d = 0; d < 3; ++d) CHECK(v(i, d) == v_ref[std::size_t(i * 3 + d)]);
    // v aliasing x (in place)
    std::vector<double> xv = b.x;
    p.predict(dnft::make_view(static_cast<const double*>(xv.data()), {10, 3}), b.t, b.c, dnft::make_view(xv.data(), {10, 3}));
    CHECK(xv == v_ref);
    // rows with padding: sample stride 5
    std::vector<double> xp(50, -7.0), vpad(50, 99.0);
    for (int i = 0; i < 10; ++i)
      for (int d = 0; d < 3; ++d) xp[std::size_t(i * 5 + d)] = b.x[std::size_t(i * 3 + d)];
    p.forward(dnft::make_view(static_cast<const double*>(xp.data()), {10, 3}, {5, 1}), b.t, b.c,
              dnft::make_view(vpad.data(), {10, 3}, {5, 1}));
    for (int i = 0; i < 10; ++i) {
      for (int d = 0; d < 3; ++d) CHECK(vpad[std::size_t(i * 5 + d)] == v_ref[std::size_t(i * 3 + d)]);
      CHECK(vpad[std::size_t(i * 5 + 3)] == 99.0);  // padding untouched
    }
    // a strided dv gives the same gradients as a contiguous one
    const auto r = dnft_test::normal_data(30, 8);
    p.zero_grad();
    p.backward(dnft::make_view(r.data(), {10, 3}));
    const auto g_contig = copy_of<double>(p.gradients());
    Eigen::MatrixXd dv(10, 3);
    for (int i = 0; i < 10; ++i)
      for (int d = 0; d < 3; ++d) dv(i, d) = r[std::size_t(i * 3 + d)];
    p.zero_grad();
    p.backward(dv);
    const auto g_cm = copy_of<double>(p.gradients());
    for (std::size_t k = 0; k < g_contig.size(); ++k) CHECK(g_cm[k] == doctest::Approx(g_contig[k]).epsilon(1e-14));
  }

  TEST_CASE("mlp_policy: backward matches central finite differences for every parameter") {
    struct setup {
      dnft::index_t depth;
      int B;
    };
    for (const setup s : {setup{2, 1}, setup{2, 4}, setup{2, 9}, setup{1, 5}, setup{3, 3}}) {
      CAPTURE(s.depth);
      CAPTURE(s.B);
      const auto cfg = small_config(s.depth, 3 + std::uint64_t(s.B));
      dnft::mlp_policy<double> p(cfg);
      const batch b(s.B, 3, 4, std::uint64_t(20 + s.B));
      const auto r = dnft_test::normal_data(std::size_t(s.B * 3), std::uint64_t(40 + s.B));
      p.zero_grad();
      forward_backward(p, b, r);
      const auto g = copy_of<double>(p.gradients());
      auto theta = p.parameters();
      const double h = 1e-5;
      for (const auto& pt : p.layout()) {
        double max_err = 0, max_g = 0;
        for (dnft::index_t k = pt.offset; k < pt.offset + pt.size; ++k) {
          const double keep = theta.data[k];
          theta.data[k] = keep + h;
          const double lp = test_loss(run_predict(p, b), r);
          theta.data[k] = keep - h;
          const double lm = test_loss(run_predict(p, b), r);
          theta.data[k] = keep;
          const double fd = (lp - lm) / (2 * h);
          const double err = std::abs(fd - g[std::size_t(k)]);
          max_err = std::max(max_err, err);
          max_g = std::max(max_g, std::abs(fd));
          CHECK(err <= 1e-7 * (1 + std::abs(fd)));
        }
        MESSAGE("depth " << s.depth << " B " << s.B << " " << pt.name << " (" << kind_name(pt.kind)
                         << "): max |fd - grad| = " << max_err << ", max |grad| = " << max_g);
      }
      // embedding rows of conditions absent from the batch get no gradient
      const auto& emb = p.layout()[0];
      for (int row = 0; row <= 4; ++row) {
        const bool used = std::find(b.c.begin(), b.c.end(), row) != b.c.end();
        double n = 0;
        for (dnft::index_t e = 0; e < cfg.cond_dim; ++e) n += std::abs(g[std::size_t(emb.offset + row * cfg.cond_dim + e)]);
        CHECK((n > 0) == used);
      }
    }
  }

  TEST_CASE_TEMPLATE("mlp_policy: gradients accumulate over forward/backward pairs and repeated backward", Real, float,
                     double) {
    dnft::mlp_policy<Real> p(small_config());
    const batch b1(6, 3, 4, 31), b2(11, 3, 4, 32);
    const auto r1 = dnft_test::normal_data(18, 33), r2 = dnft_test::normal_data(33, 34);
    p.zero_grad();
    forward_backward(p, b1, r1);
    const auto g1 = copy_of<Real>(p.gradients());
    p.zero_grad();
    forward_backward(p, b2, r2);
    const auto g2 = copy_of<Real>(p.gradients());
    p.zero_grad();
    forward_backward(p, b1, r1);
    forward_backward(p, b2, r2);
    const auto g12 = copy_of<Real>(p.gradients());
    const double tol = std::is_same_v<Real, double> ? 1e-13 : 1e-5;
    double max_g = 0;
    for (std::size_t k = 0; k < g1.size(); ++k) max_g = std::max(max_g, std::abs(double(g1[k]) + double(g2[k])));
    REQUIRE(max_g > 0);
    for (std::size_t k = 0; k < g1.size(); ++k)
      CHECK(std::abs(double(g12[k]) - (double(g1[k]) + double(g2[k]))) <= tol * (1 + max_g));
    // backward twice after one forward: twice the gradient
    p.zero_grad();
    const auto v = run_forward(p, b1);
    std::vector<Real> dv(v.size());
    for (std::size_t k = 0; k < v.size(); ++k) dv[k] = Real(r1[k] + double(v[k]));
    p.backward(dnft::make_view(static_cast<const Real*>(dv.data()), {6, 3}));
    p.backward(dnft::make_view(static_cast<const Real*>(dv.data()), {6, 3}));
    const auto g11 = copy_of<Real>(p.gradients());
    for (std::size_t k = 0; k < g1.size(); ++k)
      CHECK(std::abs(double(g11[k]) - 2 * double(g1[k])) <= tol * (1 + max_g));
    p.zero_grad();
    for (Real gk : copy_of<Real>(p.gradients())) CHECK(gk == Real(0));
  }

  TEST_CASE_TEMPLATE("mlp_policy: copies own their parameters", Real, float, double) {
    dnft::mlp_policy<Real> p(small_config());
    const batch b(5, 3, 4, 51);
    const auto r = dnft_test::normal_data(15, 52);
    const auto v0 = run_predict(p, b);
    forward_backward(p, b, r);
    const auto theta0 = copy_of<Real>(p.parameters());
    const auto g0 = copy_of<Real>(p.gradients());

    dnft::mlp_policy<Real> q(p);  // copy construction
    CHECK(q.parameters().data != p.parameters().data);
    CHECK(q.gradients().data != p.gradients().data);
    CHECK(copy_of<Real>(q.parameters()) == theta0);
    CHECK(copy_of<Real>(q.gradients()) == g0);
    CHECK(run_predict(q, b) == v0);
    for (dnft::index_t k = 0; k < q.parameter_count(); ++k) q.parameters().data[k] += Real(0.25);
    CHECK(run_predict(q, b) != v0);      // the copy computes with its own buffer ...
    CHECK(run_predict(p, b) == v0);      // ... and the original is untouched
    CHECK(copy_of<Real>(p.parameters()) == theta0);
    q.zero_grad();
    CHECK(copy_of<Real>(p.gradients()) == g0);
    // the copy's backward writes its own gradients, computed with its own parameters
    forward_backward(q, b, r);
    CHECK(copy_of<Real>(p.gradients()) == g0);
    CHECK(copy_of<Real>(q.gradients()) != g0);

    dnft::mlp_policy<Real> s(small_config(2, 999));  // copy assignment over a different model
    CHECK(copy_of<Real>(s.parameters()) != theta0);
    s = p;
    CHECK(copy_of<Real>(s.parameters()) == theta0);
    CHECK(run_predict(s, b) == v0);
    s.parameters().data[0] = Real(42);
    CHECK(p.parameters().data[0] == theta0[0]);
    CHECK(run_predict(p, b) == v0);

    // a copy has no forward pass to differentiate (activations are not part of its value)
    dnft::mlp_policy<Real> u(p);
    std::vector<Real> dv(15, Real(1));
    CHECK_THROWS_AS(u.backward(dnft::make_view(static_cast<const Real*>(dv.data()), {5, 3})), dnft::error);

    // moves keep working on the moved buffers
    dnft::mlp_policy<Real> m(std::move(u));
    CHECK(run_predict(m, b) == v0);
  }

  TEST_CASE("mlp_policy: initialisation is deterministic and follows the documented distributions") {
    dnft::mlp_config cfg;
    cfg.dim = 4;
    cfg.num_conditions = 63;
    cfg.cond_dim = 32;
    cfg.width = 96;
    cfg.depth = 2;
    cfg.seed = 1234;
    dnft::mlp_policy<double> a(cfg), b(cfg);
    CHECK(copy_of<double>(a.parameters()) == copy_of<double>(b.parameters()));
    auto cfg2 = cfg;
    cfg2.seed = 1235;
    dnft::mlp_policy<double> c(cfg2);
    std::size_t same = 0;
    const auto pa = copy_of<double>(a.parameters()), pc = copy_of<double>(c.parameters());
    for (std::size_t k = 0; k < pa.size(); ++k) same += pa[k] == pc[k];
    CHECK(same == 0);
    // float parameters are the double ones rounded
    dnft::mlp_policy<float> f(cfg);
    const auto pf = copy_of<float>(f.parameters());
    for (std::size_t k = 0; k < pa.size(); ++k) CHECK(pf[k] == float(pa[k]));

    for (std::size_t p = 0; p < a.layout().size(); ++p) {
      const auto& pt = a.layout()[p];
      CAPTURE(pt.name);
      const double* v = pa.data() + pt.offset;
      const std::uint64_t stream = dnft::stream_id(0x6d6c70u, std::uint32_t(p));
      double mean = 0, var = 0;
      for (dnft::index_t n = 0; n < pt.size; ++n) mean += v[n];
      mean /= double(pt.size);
      for (dnft::index_t n = 0; n < pt.size; ++n) var += (v[n] - mean) * (v[n] - mean);
      var /= double(pt.size);
      if (pt.kind == dnft::parameter_kind::embedding) {
        // standard normal, element n = philox_normal{seed, stream}(0, n)
        const dnft::philox_normal gen{cfg.seed, stream};
        for (dnft::index_t n : {0, 1, 5, 77, 2047}) CHECK(v[n] == double(gen(0, std::uint64_t(n))));
        CHECK(std::abs(mean) < 0.1);
        CHECK(std::abs(var - 1.0) < 0.1);
        continue;
      }
      const dnft::index_t fan_in = p <= 2 ? a.input_features() : cfg.width;
      const double bound = 1.0 / std::sqrt(double(fan_in));
      for (dnft::index_t n = 0; n < pt.size; ++n) {
        CHECK(v[n] > -bound);
        CHECK(v[n] < bound);
      }
      // uniform (w + 0.5) 2^-32 from word n % 4 of the block at counter (n / 4, 0, stream)
      for (dnft::index_t n : {dnft::index_t(0), dnft::index_t(3), pt.size - 1}) {
        const auto q = std::uint64_t(n / 4);
        const auto blk = dnft::philox4x32_10({{std::uint32_t(q), std::uint32_t(q >> 32), std::uint32_t(stream),
                                               std::uint32_t(stream >> 32)}},
                                             std::uint32_t(cfg.seed), std::uint32_t(cfg.seed >> 32));
        const double u = (double(blk.v[n % 4]) + 0.5) / 4294967296.0;
        CHECK(v[n] == doctest::Approx(bound * (2 * u - 1)).epsilon(1e-15));
      }
      if (pt.size >= 1000) {  // statistics of U(-b, b): mean 0, variance b^2 / 3
        CHECK(std::abs(mean) < 0.05 * bound);
        CHECK(std::abs(var / (bound * bound / 3) - 1) < 0.06);
      }
    }
  }

  TEST_CASE("mlp_policy: float and double models agree") {
    dnft::mlp_config cfg;
    cfg.dim = 2;
    cfg.num_conditions = 3;
    cfg.width = 64;
    cfg.depth = 3;
    cfg.seed = 5;
    dnft::mlp_policy<float> pf(cfg);
    dnft::mlp_policy<double> pd(cfg);
    const auto th = copy_of<float>(pf.parameters());
    std::copy(th.begin(), th.end(), pd.parameters().data);  // identical parameter values
    const batch b(64, 2, 3, 61);
    const auto r = dnft_test::normal_data(128, 62);
    pf.zero_grad();
    pd.zero_grad();
    const auto vf = forward_backward(pf, b, r);
    const auto vd = forward_backward(pd, b, r);
    double vmax = 0, verr = 0;
    for (std::size_t k = 0; k < vd.size(); ++k) {
      vmax = std::max(vmax, std::abs(vd[k]));
      verr = std::max(verr, std::abs(double(vf[k]) - vd[k]));
    }
    MESSAGE("max |v_float - v_double| = " << verr << " (max |v| = " << vmax << ")");
    CHECK(verr <= 1e-5 * (1 + vmax));
    const auto gf = copy_of<float>(pf.gradients());
    const auto gd = copy_of<double>(pd.gradients());
    for (const auto& pt : pd.layout()) {
      double gmax = 0, gerr = 0;
      for (dnft::index_t k = pt.offset; k < pt.offset + pt.size; ++k) {
        gmax = std::max(gmax, std::abs(gd[std::size_t(k)]));
        gerr = std::max(gerr, std::abs(double(gf[std::size_t(k)]) - gd[std::size_t(k)]));
      }
      CAPTURE(pt.name);
      CHECK(gerr <= 1e-4 * gmax);
    }
  }

  TEST_CASE("mlp_policy: an empty batch is a no-op") {
    dnft::mlp_policy<float> p(small_config());
    std::vector<float> x, v, t;
    std::vector<int> c;
    p.forward(dnft::make_view(static_cast<const float*>(x.data()), {0, 3}), t, c, dnft::make_view(v.data(), {0, 3}));
    p.backward(dnft::make_view(static_cast<const float*>(v.data()), {0, 3}));
    for (float g : copy_of<float>(p.gradients())) CHECK(g == 0.0f);
  }
}
