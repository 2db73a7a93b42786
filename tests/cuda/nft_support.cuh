// SPDX-License-Identifier: Apache-2.0
// Shared by the CUDA nft_loss tests: a deterministic problem, its copies on the device, runs of
// the host and CUDA backends on identical inputs, and comparisons with stated tolerances.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/cuda/cuda.cuh"
#include "support/expect_error.hpp"
#include "support/nft_reference.hpp"
#include "support/random_data.hpp"

namespace dnft_cuda_test {

//! The host tests' problem: velocities near the target u = eps - x0, some advantages beyond the
//! clip range, t = 0 and t = 1 at samples 0 and 1, a zero advantage at sample 2.
struct problem {
  long B, D;
  std::vector<double> x0, eps, t, adv, vth, vold, vref;
  problem(long b, long d, std::uint64_t seed) : B(b), D(d) {
    const auto n = std::size_t(b * d);
    x0 = dnft_test::normal_data(n, seed + 1, 1.0);
    eps = dnft_test::normal_data(n, seed + 2, 1.0);
    t = dnft_test::uniform_data(std::size_t(b), seed + 3, 0.0, 1.0);
    adv = dnft_test::normal_data(std::size_t(b), seed + 4, 4.0);
    vth = dnft_test::normal_data(n, seed + 5, 0.3);
    vold = dnft_test::normal_data(n, seed + 6, 0.3);
    vref = dnft_test::normal_data(n, seed + 7, 0.3);
    for (std::size_t k = 0; k < n; ++k) {
      const double u = eps[k] - x0[k];
      vth[k] += u;
      vold[k] += u;
      vref[k] += u;
    }
    if (b > 2) {
      t[0] = 0.0;
      t[1] = 1.0;
      adv[2] = 0.0;
    }
  }
};

//! Every option combination of the host tests.
inline std::vector<dnft::nft_options> all_options() {
  std::vector<dnft::nft_options> out;
  for (auto mode : {dnft::advantage_mode::all, dnft::advantage_mode::positive_only, dnft::advantage_mode::negative_only,
                    dnft::advantage_mode::one_only, dnft::advantage_mode::binary})
    for (auto space : {dnft::loss_space::data, dnft::loss_space::velocity})
      for (auto w : {dnft::loss_weighting::adaptive, dnft::loss_weighting::uniform, dnft::loss_weighting::time,
                     dnft::loss_weighting::one_minus_time}) {
        dnft::nft_options o;
        o.mode = mode;
        o.space = space;
        o.weighting = w;
        out.push_back(o);
      }
  dnft::nft_options b;
  b.beta = 0.1;
  b.adv_clip_max = 2.0;
  b.kl_weight = 0.5;
  out.push_back(b);
  b.beta = 3.0;
  b.weight_floor = 0.5;
  out.push_back(b);
  return out;
}

inline std::string describe(const dnft::nft_options& o) {
  return "mode " + std::to_string(int(o.mode)) + " space " + std::to_string(int(o.space)) + " weighting " +
         std::to_string(int(o.weighting)) + " beta " + std::to_string(o.beta);
}

//! Values in storage type T (rounded to nearest).
template <class T>
std::vector<T> to_storage(const std::vector<double>& v) {
  std::vector<T> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = dnft::cuda::from_compute<T>(dnft::cuda::compute_t<T>(v[i]));
  return r;
}

//! Storage values back as double (exact).
template <class T>
std::vector<double> widen(const std::vector<T>& v) {
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = dnft::cuda::to_double(v[i]);
  return r;
}

//! The problem's tensors on the device in storage type T (t and adv in type P).
template <class T, class P = double>
struct device_problem {
  long B, D;
  dnft::cuda::device_buffer<T> x0, eps, vth, vold, vref, grad;
  dnft::cuda::device_buffer<P> t, adv;
  device_problem(const dnft::cuda::executor& ex, const problem& p)
      : B(p.B),
        D(p.D),
        x0(ex.to_device(to_storage<T>(p.x0))),
        eps(ex.to_device(to_storage<T>(p.eps))),
        vth(ex.to_device(to_storage<T>(p.vth))),
        vold(ex.to_device(to_storage<T>(p.vold))),
        vref(ex.to_device(to_storage<T>(p.vref))),
        grad(ex.allocate<T>(p.B * p.D)),
        t(ex.to_device(to_storage<P>(p.t))),
        adv(ex.to_device(to_storage<P>(p.adv))) {}
  auto v(dnft::cuda::device_buffer<T>& b) { return b.view(B, D); }
};

//! The stats nft_loss returns, compared field by field with relative tolerance `tol`.
inline void check_stats(const dnft::nft_stats& got, const dnft::nft_stats& want, double tol) {
  CHECK(got.loss == doctest::Approx(want.loss).epsilon(tol));
  CHECK(got.policy_loss == doctest::Approx(want.policy_loss).epsilon(tol));
  CHECK(got.kl == doctest::Approx(want.kl).epsilon(tol));
  CHECK(got.theta_old == doctest::Approx(want.theta_old).epsilon(tol));
  CHECK(got.old_ref == doctest::Approx(want.old_ref).epsilon(tol));
  CHECK(got.x0_sq == doctest::Approx(want.x0_sq).epsilon(tol));
  CHECK(got.mean_r == doctest::Approx(want.mean_r).epsilon(tol));
  CHECK(got.clipped_fraction == want.clipped_fraction);
  CHECK(got.mean_weight_pos == doctest::Approx(want.mean_weight_pos).epsilon(tol));
  CHECK(got.mean_weight_neg == doctest::Approx(want.mean_weight_neg).epsilon(tol));
  CHECK(got.batch == want.batch);
  CHECK(got.elements == want.elements);
}

//! Bit-for-bit equality of two results.
inline void check_identical(const dnft::nft_stats& a, const dnft::nft_stats& b) {
  CHECK(a.loss == b.loss);
  CHECK(a.policy_loss == b.policy_loss);
  CHECK(a.kl == b.kl);
  CHECK(a.theta_old == b.theta_old);
  CHECK(a.old_ref == b.old_ref);
  CHECK(a.x0_sq == b.x0_sq);
  CHECK(a.mean_r == b.mean_r);
  CHECK(a.mean_weight_pos == b.mean_weight_pos);
  CHECK(a.mean_weight_neg == b.mean_weight_neg);
}

//! Element-wise |got - want| <= rel |want| + abs_frac max|want| + abs_min; reports the first few failures.
inline void check_close(const std::vector<double>& got, const std::vector<double>& want, double rel, double abs_frac,
                        double abs_min = 0.0) {
  REQUIRE(got.size() == want.size());
  double peak = 0;
  for (double w : want) peak = std::max(peak, std::abs(w));
  int failures = 0;
  for (std::size_t k = 0; k < got.size() && failures < 5; ++k) {
    const bool ok = std::abs(got[k] - want[k]) <= rel * std::abs(want[k]) + abs_frac * peak + abs_min;
    if (!ok) {
      ++failures;
      CAPTURE(k);
      CAPTURE(got[k]);
      CAPTURE(want[k]);
      CHECK(ok);
    }
  }
  CHECK(failures == 0);
}

//! Half an ulp of the smallest subnormal of a storage type: the absolute rounding error of values
//! that underflow (half: 2^-25; float, bfloat16 and double: negligible here).
template <class T>
constexpr double underflow_error = std::is_same_v<T, __half> ? 0x1p-25 : 0.0;

using dnft_test::message_of;  // tests/support/expect_error.hpp

}  // namespace dnft_cuda_test
