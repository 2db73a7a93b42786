// SPDX-License-Identifier: Apache-2.0
// lincomb against a naive loop: 0 to 4 inputs, float and double, strided and in-place tensors,
// thread-count invariance, and its errors.
#include <doctest/doctest.h>

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <vector>

#include "dnft/adapters/eigen.hpp"
#include "dnft/algorithm/lincomb.hpp"
#include "support/expect_error.hpp"
#include "support/random_data.hpp"

using dnft_test::contains;
using dnft_test::message_of;

namespace {

template <class T>
std::vector<T> data(int n, std::uint64_t seed) {
  return dnft_test::cast<T>(dnft_test::normal_data(std::size_t(n), seed));
}

//! |out - sum_k c_k x_k| within a few rounding errors of the terms.
template <class T>
bool close(const std::vector<T>& out, const std::vector<double>& coef, const std::vector<std::vector<T>>& xs) {
  for (std::size_t j = 0; j < out.size(); ++j) {
    double want = 0, mag = 0;
    for (std::size_t k = 0; k < coef.size(); ++k) {
      want += coef[k] * double(xs[k][j]);
      mag += std::abs(coef[k] * double(xs[k][j]));
    }
    if (std::abs(double(out[j]) - want) > 4 * double(std::numeric_limits<T>::epsilon()) * (mag + 1e-300)) return false;
  }
  return true;
}

}  // namespace

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("lincomb: sums of 1 to 4 inputs match a naive loop", T, float, double) {
    const int B = 5, D = 37;
    std::vector<std::vector<T>> xs{data<T>(B * D, 1), data<T>(B * D, 2), data<T>(B * D, 3), data<T>(B * D, 4)};
    auto view = [&](std::vector<T>& v) { return dnft::make_view(v.data(), {B, D}); };
    std::vector<T> out(std::size_t(B * D));
    dnft::lincomb(dnft::host, view(out), {0.5}, view(xs[0]));
    CHECK(close(out, {0.5}, {xs[0]}));
    dnft::lincomb(dnft::host, view(out), {1.0, -0.25}, view(xs[0]), view(xs[1]));
    CHECK(close(out, {1.0, -0.25}, {xs[0], xs[1]}));
    dnft::lincomb(dnft::host, view(out), {2.0, -1.5, 0.125}, view(xs[0]), view(xs[1]), view(xs[2]));
    CHECK(close(out, {2.0, -1.5, 0.125}, {xs[0], xs[1], xs[2]}));
    dnft::lincomb(dnft::host, view(out), {1.0, 3.0, -2.0, 0.7}, view(xs[0]), view(xs[1]), view(xs[2]), view(xs[3]));
    CHECK(close(out, {1.0, 3.0, -2.0, 0.7}, {xs[0], xs[1], xs[2], xs[3]}));
    // no input: zeros
    dnft::lincomb(dnft::host, view(out), {});
    CHECK(out == std::vector<T>(out.size(), T(0)));
  }

  TEST_CASE("lincomb: in place, strided, column-major and rank-3 tensors") {
    const int B = 4, D = 6;
    auto x = data<double>(B * D, 5), v = data<double>(B * D, 6);
    const auto x_orig = x;
    // in place: x = x + 0.1 v
    dnft::lincomb(dnft::host, dnft::make_view(x.data(), {B, D}), {1.0, 0.1}, dnft::make_view(x.data(), {B, D}),
                  dnft::make_view(v.data(), {B, D}));
    CHECK(close(x, {1.0, 0.1}, {x_orig, v}));
    // column-major Eigen output, rank-3 input, padded input
    Eigen::MatrixXd out(B, D);
    std::vector<double> padded(std::size_t(B * 9), 99.0);
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d) padded[std::size_t(i * 9 + d)] = v[std::size_t(i * D + d)];
    dnft::lincomb(dnft::host, out, {2.0, -1.0}, dnft::make_view(x_orig.data(), {B, 2, 3}),
                  dnft::make_view(padded.data(), {B, D}, {9, 1}));
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d)
        CHECK(out(i, d) == doctest::Approx(2 * x_orig[std::size_t(i * D + d)] - v[std::size_t(i * D + d)]).epsilon(1e-15));
  }

  TEST_CASE_TEMPLATE("lincomb: results do not depend on the thread count", T, float, double) {
    const int B = 9, D = 3001;
    auto a = data<T>(B * D, 7), b = data<T>(B * D, 8);
    std::vector<T> o1(a.size()), o2(a.size());
    auto view = [&](std::vector<T>& v) { return dnft::make_view(v.data(), {B, D}); };
    dnft::lincomb(dnft::host_executor{1}, view(o1), {0.3, -1.7}, view(a), view(b));
    dnft::lincomb(dnft::host_executor{3, 1}, view(o2), {0.3, -1.7}, view(a), view(b));
    CHECK(o1 == o2);
  }

  TEST_CASE("lincomb: errors name the function and the argument") {
    std::vector<double> out(12), a(12), b(15);
    auto V = [](std::vector<double>& v, int r, int c) { return dnft::make_view(v.data(), {r, c}); };
    auto msg = message_of<dnft::shape_error>([&] { dnft::lincomb(dnft::host, V(out, 3, 4), {1.0, 1.0}, V(a, 3, 4), V(b, 3, 5)); });
    CHECK(contains(msg, "dnft::lincomb: x[1]: expected the shape of out (3, 4) (batch, elements per sample), got (3, 5)"));
    msg = message_of<dnft::value_error>(
        [&] { dnft::lincomb(dnft::host, V(out, 3, 4), {1.0, std::nan("")}, V(a, 3, 4), V(a, 3, 4)); });
    CHECK(contains(msg, "dnft::lincomb: coef: expected finite coefficients, got nan at position 1"));
    msg = message_of<dnft::layout_error>(
        [&] { dnft::lincomb(dnft::host, dnft::make_view(out.data(), {3, 4}, {0, 1}), {1.0}, V(a, 3, 4)); });
    CHECK(contains(msg, "dnft::lincomb: out: an output tensor has overlapping elements"));
    std::vector<double> big(3 * 4 * 4);
    msg = message_of<dnft::layout_error>(
        [&] { dnft::lincomb(dnft::host, V(out, 3, 8), {1.0}, dnft::make_view(big.data(), {3, 2, 4}, {16, 8, 1})); });
    CHECK(contains(msg, "dnft::lincomb: x[0]: the trailing axes"));
    CHECK(out == std::vector<double>(12, 0.0));  // nothing written on error
  }
}
