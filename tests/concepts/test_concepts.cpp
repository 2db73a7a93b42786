// SPDX-License-Identifier: Apache-2.0
// The concepts are enough: minimal user-written models of each one satisfy it, with nothing
// hidden, and models missing a piece do not.
#include <doctest/doctest.h>

#include <cmath>
#include <span>
#include <utility>
#include <vector>

#include "dnft/concepts/loss.hpp"
#include "dnft/concepts/policy.hpp"
#include "dnft/concepts/reward.hpp"
#include "dnft/concepts/solver.hpp"
#include "dnft/execution.hpp"

namespace user {

// A velocity field: v(x, t, c) = -x * (c + 1) (nothing else).
struct decay_field {
  using value_type = double;
  using space_type = dnft::host_space;
  using condition_type = int;
  dnft::index_t dim() const { return 3; }
  void predict(dnft::tensor_view<const double, 2> x, dnft::tensor_view<const double, 1>, std::span<const int> c,
               dnft::tensor_view<double, 2> v) const {
    for (dnft::index_t i = 0; i < x.extent(0); ++i)
      for (dnft::index_t d = 0; d < x.extent(1); ++d) v(i, d) = -x(i, d) * (c[std::size_t(i)] + 1);
  }
};

// A trainable policy: v = w * x with one scalar parameter.
struct scalar_policy {
  using value_type = float;
  using space_type = dnft::host_space;
  using condition_type = int;
  std::vector<float> params{0.5f}, grads{0.0f}, saved_x;
  dnft::index_t dim() const { return 2; }
  void predict(dnft::tensor_view<const float, 2> x, dnft::tensor_view<const float, 1>, std::span<const int>,
               dnft::tensor_view<float, 2> v) const {
    for (dnft::index_t i = 0; i < x.extent(0); ++i)
      for (dnft::index_t d = 0; d < x.extent(1); ++d) v(i, d) = params[0] * x(i, d);
  }
  void forward(dnft::tensor_view<const float, 2> x, dnft::tensor_view<const float, 1> t, std::span<const int> c,
               dnft::tensor_view<float, 2> v) {
    saved_x.assign(x.data, x.data + x.size());
    predict(x, t, c, v);
  }
  void backward(dnft::tensor_view<const float, 2> dv) {
    for (dnft::index_t k = 0; k < dv.size(); ++k) grads[0] += dv.data[k] * saved_x[std::size_t(k)];
  }
  dnft::tensor_view<float, 1> parameters() { return dnft::as_view(params); }
  dnft::tensor_view<const float, 1> parameters() const { return dnft::as_view(params); }
  dnft::tensor_view<float, 1> gradients() { return dnft::as_view(grads); }
  void zero_grad() { grads[0] = 0; }
};

// A solver: explicit Euler over the grid.
struct my_euler {
  template <class P>
  void sample(P& field, dnft::tensor_view<double, 2> x, std::span<const int> c, std::span<const double> grid) {
    std::vector<double> v(std::size_t(x.size())), t(std::size_t(x.extent(0)));
    for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
      for (auto& ti : t) ti = grid[k];
      field.predict(x, dnft::as_view(std::as_const(t)), c, dnft::make_view(v.data(), {x.extent(0), x.extent(1)}));
      for (dnft::index_t j = 0; j < x.size(); ++j) x.data[j] += (grid[k + 1] - grid[k]) * v[std::size_t(j)];
    }
  }
};

// A reward: minus the squared norm.
struct neg_norm {
  void operator()(dnft::tensor_view<const double, 2> x0, std::span<const int>, std::span<double> out) const {
    for (dnft::index_t i = 0; i < x0.extent(0); ++i) {
      out[std::size_t(i)] = 0;
      for (dnft::index_t d = 0; d < x0.extent(1); ++d) out[std::size_t(i)] -= x0(i, d) * x0(i, d);
    }
  }
};

// A loss: mean squared distance to the target velocity u = eps - x0.
struct my_fm_loss {
  struct result {
    double loss;
  };
  result operator()(const dnft::host_executor&, const dnft::loss_batch<double, dnft::host_space>& in,
                    dnft::tensor_view<const double, 2> v, dnft::tensor_view<double, 2> g) const {
    double s = 0;
    const double n = double(v.size());
    for (dnft::index_t i = 0; i < v.extent(0); ++i)
      for (dnft::index_t d = 0; d < v.extent(1); ++d) {
        const double e = v(i, d) - (in.noise(i, d) - in.x0(i, d));
        s += e * e / n;
        g(i, d) = 2 * e / n;
      }
    return {s};
  }
};

// Missing pieces.
struct no_dim {
  using value_type = double;
  using space_type = dnft::host_space;
  using condition_type = int;
  void predict(dnft::tensor_view<const double, 2>, dnft::tensor_view<const double, 1>, std::span<const int>,
               dnft::tensor_view<double, 2>) const {}
};

}  // namespace user

static_assert(dnft::velocity_field<user::decay_field>);
static_assert(!dnft::trainable_policy<user::decay_field>);
static_assert(!dnft::guidable_field<user::decay_field>);
static_assert(dnft::velocity_field<user::scalar_policy>);
static_assert(dnft::trainable_policy<user::scalar_policy>);
static_assert(!dnft::velocity_field<user::no_dim>);
static_assert(dnft::solver<user::my_euler, user::decay_field>);
static_assert(!dnft::stochastic_solver<user::my_euler, user::decay_field>);
static_assert(dnft::reward<user::neg_norm, double, int>);
static_assert(!dnft::reward<user::neg_norm, float, int>);
static_assert(dnft::loss<user::my_fm_loss, dnft::host_executor, double, dnft::host_space>);
static_assert(!dnft::loss<user::my_fm_loss, dnft::host_executor, float, dnft::host_space>);

TEST_SUITE("concepts") {
  TEST_CASE("a user-written solver integrates a user-written field (closed form x(t) = x(1) * t^(c+1))") {
    user::decay_field f;
    user::my_euler s;
    // dx/dt = -(c+1) x backwards from t = 1 to t = 0.5: exact x(0.5) = x(1) * 0.5^-(c+1)... note the sign:
    // x(t) = x(1) * exp((c+1)(1 - t)) solves dx/dt = -(c+1) x with x(1) given.
    const int n = 4000;
    std::vector<double> grid(n + 1);
    for (int k = 0; k <= n; ++k) grid[std::size_t(k)] = 1.0 - 0.5 * k / n;
    std::vector<double> x{1.0, -2.0, 0.5, 1.0, 1.0, 1.0};
    std::vector<int> c{0, 1};
    s.sample(f, dnft::make_view(x.data(), {2, 3}), std::span<const int>(c), std::span<const double>(grid));
    CHECK(x[0] == doctest::Approx(std::exp(0.5)).epsilon(1e-3));
    CHECK(x[1] == doctest::Approx(-2.0 * std::exp(0.5)).epsilon(1e-3));
    CHECK(x[3] == doctest::Approx(std::exp(1.0)).epsilon(1e-3));
  }

  TEST_CASE("a user-written trainable policy accumulates gradients") {
    user::scalar_policy p;
    std::vector<float> x{1, 2, 3, 4}, v(4), t{0.5f, 0.5f};
    std::vector<int> c{0, 0};
    p.forward(dnft::make_view(static_cast<const float*>(x.data()), {2, 2}), dnft::as_view(std::as_const(t)),
              std::span<const int>(c), dnft::make_view(v.data(), {2, 2}));
    CHECK(v[3] == 2.0f);
    std::vector<float> dv{1, 1, 1, 1};
    p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {2, 2}));
    p.backward(dnft::make_view(static_cast<const float*>(dv.data()), {2, 2}));
    CHECK(p.gradients()(0) == 20.0f);
    p.zero_grad();
    CHECK(p.gradients()(0) == 0.0f);
    user::scalar_policy copy = p;
    copy.parameters()(0) = 3.0f;
    CHECK(p.parameters()(0) == 0.5f);
  }

  TEST_CASE("user-written reward and loss") {
    std::vector<double> x{1, 2, 3, 4}, r(2);
    std::vector<int> c{0, 0};
    user::neg_norm{}(dnft::make_view(static_cast<const double*>(x.data()), {2, 2}), std::span<const int>(c),
                     std::span<double>(r));
    CHECK(r == std::vector<double>{-5, -25});
    std::vector<double> x0{0, 0}, eps{1, 1}, v{1, 3}, g(2);
    dnft::loss_batch<double, dnft::host_space> in{};
    in.x0 = dnft::make_view(static_cast<const double*>(x0.data()), {1, 2});
    in.noise = dnft::make_view(static_cast<const double*>(eps.data()), {1, 2});
    const auto res = user::my_fm_loss{}(dnft::host, in, dnft::make_view(static_cast<const double*>(v.data()), {1, 2}),
                                        dnft::make_view(g.data(), {1, 2}));
    CHECK(res.loss == 2.0);
    CHECK(g[1] == 2.0);
  }
}
