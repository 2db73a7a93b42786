// SPDX-License-Identifier: Apache-2.0
// group_advantages against a naive reference (groups found by scanning every pair), for global
// and per-group std, shuffled and negative ids, several integer and floating types; its errors;
// the public optimality probability against its formula and nft_loss.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/optimality.hpp"
#include "support/expect_error.hpp"
#include "support/random_data.hpp"

using dnft_test::contains;
using dnft_test::message_of;

namespace {

//! The reference: for each sample, its group's members found by comparing ids with every sample.
template <class G>
std::vector<double> naive_advantages(const std::vector<double>& r, const std::vector<G>& ids, bool global_std,
                                     double eps) {
  const std::size_t B = r.size();
  double all_mean = 0;
  for (double x : r) all_mean += x;
  all_mean /= double(B);
  double all_var = 0;
  for (double x : r) all_var += (x - all_mean) * (x - all_mean);
  const double all_std = std::sqrt(all_var / double(B));
  std::vector<double> a(B);
  for (std::size_t i = 0; i < B; ++i) {
    double s = 0, n = 0;
    for (std::size_t j = 0; j < B; ++j)
      if (ids[j] == ids[i]) {
        s += r[j];
        n += 1;
      }
    const double mean = s / n;
    double q = 0;
    for (std::size_t j = 0; j < B; ++j)
      if (ids[j] == ids[i]) q += (r[j] - mean) * (r[j] - mean);
    const double sd = global_std ? all_std : std::sqrt(q / n);
    a[i] = (r[i] - mean) / (sd + eps);
  }
  return a;
}

//! G groups of K samples, ids shuffled over the batch, mapped through `id_of`.
template <class G, class F>
std::vector<G> shuffled_ids(int groups, int k, std::uint64_t seed, F id_of) {
  std::vector<G> ids;
  for (int g = 0; g < groups; ++g)
    for (int j = 0; j < k; ++j) ids.push_back(static_cast<G>(id_of(g)));
  std::mt19937_64 rng(seed);
  std::shuffle(ids.begin(), ids.end(), rng);
  return ids;
}

}  // namespace

TEST_SUITE("algorithm") {
  TEST_CASE_TEMPLATE("group_advantages matches the naive reference (ids of any integer type, in any order)", G, int,
                     std::int64_t, std::uint8_t, short, unsigned) {
    const int groups = 12, K = 6;
    const auto ids = shuffled_ids<G>(groups, K, 5, [](int g) { return std::is_signed_v<G> ? 3 * g - 17 : 7 * g + 1; });
    const auto r = dnft_test::normal_data(ids.size(), 6, 2.0, 0.3);
    for (bool global : {true, false})
      for (double eps : {1e-4, 0.0, 0.5}) {
        CAPTURE(global);
        CAPTURE(eps);
        std::vector<double> out(r.size());
        const auto st = dnft::group_advantages(dnft::host, r, ids, out, {global, eps});
        const auto ref = naive_advantages(r, ids, global, eps);
        for (std::size_t i = 0; i < r.size(); ++i) CHECK(out[i] == doctest::Approx(ref[i]).epsilon(1e-13).scale(1e-13));
        CHECK(st.groups == groups);
        CHECK(st.min_group_size == K);
        CHECK(st.max_group_size == K);
        CHECK(st.zero_std_fraction == 0.0);
        double m = 0;
        for (double x : r) m += x;
        CHECK(st.reward_mean == doctest::Approx(m / double(r.size())).epsilon(1e-14));
      }
  }

  TEST_CASE("group_advantages: float rewards, unequal groups, statistics, out aliasing rewards") {
    // groups: id 4 -> 3 members with equal rewards, id -1 -> 5 members, id 9 -> 2 members
    const std::vector<long> ids = {4, -1, 9, -1, 4, -1, 9, -1, 4, -1};
    const std::vector<float> r = {1.5f, 0.1f, 2.0f, -0.4f, 1.5f, 0.9f, 3.0f, 0.2f, 1.5f, 1.1f};
    std::vector<float> out(r.size());
    const auto st = dnft::group_advantages(dnft::host, r, ids, out);
    const auto ref = naive_advantages(std::vector<double>(r.begin(), r.end()), ids, true, 1e-4);
    for (std::size_t i = 0; i < r.size(); ++i) CHECK(double(out[i]) == doctest::Approx(ref[i]).epsilon(1e-6));
    CHECK(st.groups == 3);
    CHECK(st.min_group_size == 2);
    CHECK(st.max_group_size == 5);
    CHECK(st.zero_std_fraction == doctest::Approx(1.0 / 3));
    CHECK(out[0] == 0.0f);  // a group with equal rewards has zero advantage
    auto inplace = r;
    dnft::group_advantages(dnft::host, inplace, ids, inplace);
    CHECK(inplace == out);
    // per-group std
    std::vector<double> pg(r.size());
    dnft::group_advantages(dnft::host, r, ids, pg, {.global_std = false});
    const auto ref2 = naive_advantages(std::vector<double>(r.begin(), r.end()), ids, false, 1e-4);
    for (std::size_t i = 0; i < r.size(); ++i) CHECK(pg[i] == doctest::Approx(ref2[i]).epsilon(1e-12));
    // Within a group with per-group std the advantages have mean 0 and population std s / (s + eps).
    double s = 0;
    for (std::size_t i = 0; i < r.size(); ++i)
      if (ids[i] == -1) s += pg[i];
    CHECK(std::abs(s) < 1e-12);
  }

  TEST_CASE("group_advantages: one group of the whole batch is plain standardisation") {
    const auto r = dnft_test::normal_data(24, 9, 3.0, 1.0);
    const std::vector<int> ids(24, 0);
    std::vector<double> a(24);
    dnft::group_advantages(dnft::host, r, ids, a, {.global_std = true, .eps = 0.0});
    double m = 0, q = 0;
    for (double x : a) m += x;
    for (double x : a) q += x * x;
    CHECK(std::abs(m) < 1e-12);
    CHECK(q / 24 == doctest::Approx(1.0).epsilon(1e-12));
  }

  TEST_CASE("group_advantages: bad input") {
    const std::string fn = "dnft::group_advantages: ";
    std::vector<double> r = {1, 2, 3, 4}, out(4);
    std::vector<int> ids = {0, 0, 1, 1};
    for (double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
      auto rb = r;
      rb[2] = bad;
      const auto msg = message_of<dnft::value_error>([&] { dnft::group_advantages(dnft::host, rb, ids, out); });
      CAPTURE(msg);
      CHECK(contains(msg, fn + "rewards: non-finite value"));
      CHECK(contains(msg, "at sample 2"));
    }
    {
      std::vector<int> lonely = {0, 0, 7, 1};
      CHECK_NOTHROW(dnft::group_advantages(dnft::host, r, lonely, out));  // fine with the global std
      const auto msg = message_of<dnft::value_error>(
          [&] { dnft::group_advantages(dnft::host, r, lonely, out, {.global_std = false}); });
      CAPTURE(msg);
      CHECK(contains(msg, fn + "group_ids: group 1 has a single member (sample 3)"));
    }
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::group_advantages(dnft::host, r, std::vector<int>{0, 0, 1}, out);
                   }),
                   fn + "group_ids: expected one value per sample (4), got 3"));
    {
      std::vector<double> small(3);
      CHECK(contains(message_of<dnft::shape_error>([&] { dnft::group_advantages(dnft::host, r, ids, small); }),
                     fn + "out: expected one value per sample (4), got 3"));
    }
    {
      std::vector<double> empty;
      std::vector<int> no_ids;
      CHECK(contains(message_of<dnft::shape_error>([&] { dnft::group_advantages(dnft::host, empty, no_ids, empty); }),
                     fn + "rewards: expected a non-empty batch"));
    }
    CHECK(contains(message_of<dnft::value_error>(
                       [&] { dnft::group_advantages(dnft::host, r, ids, out, {.global_std = true, .eps = -1.0}); }),
                   fn + "eps: expected a finite value >= 0, got -1"));
    {
      std::vector<double> same = {2, 2, 2, 2};
      CHECK(contains(message_of<dnft::value_error>([&] {
                       dnft::group_advantages(dnft::host, same, ids, out, {.global_std = false, .eps = 0.0});
                     }),
                     fn + "eps: the rewards of group 0 are all equal and eps is 0"));
    }
    CHECK(contains(message_of<dnft::layout_error>(
                       [&] { dnft::group_advantages(dnft::host, r, ids, dnft::make_view(out.data(), {4}, {0})); }),
                   fn + "out"));
    {
      std::vector<double> m(8);
      CHECK(contains(message_of<dnft::shape_error>([&] {
                       dnft::group_advantages(dnft::host, dnft::make_view(m.data(), {4, 2}), ids, out);
                     }),
                     fn + "rewards: expected a rank-1 tensor"));
    }
  }

  TEST_CASE("optimality_probability and clip_advantage follow ALGORITHM.md section 2") {
    using dnft::advantage_mode;
    CHECK(dnft::optimality_probability(0.0) == 0.5);
    CHECK(dnft::optimality_probability(5.0) == 1.0);
    CHECK(dnft::optimality_probability(-5.0) == 0.0);
    CHECK(dnft::optimality_probability(2.5) == 0.75);
    CHECK(dnft::optimality_probability(-1.0) == doctest::Approx(0.4));
    CHECK(dnft::optimality_probability(100.0) == 1.0);
    CHECK(dnft::optimality_probability(1.0, 2.0) == 0.75);
    CHECK(dnft::clip_advantage(7.0) == 5.0);
    CHECK(dnft::clip_advantage(-7.0, 2.0) == -2.0);
    CHECK(dnft::clip_advantage(3.0, 5.0, advantage_mode::negative_only) == 0.0);
    CHECK(dnft::clip_advantage(-3.0, 5.0, advantage_mode::positive_only) == 0.0);
    CHECK(dnft::clip_advantage(0.2, 5.0, advantage_mode::one_only) == 1.0);
    CHECK(dnft::clip_advantage(-0.2, 5.0, advantage_mode::one_only) == 0.0);
    CHECK(dnft::clip_advantage(-0.2, 5.0, advantage_mode::binary) == -1.0);
    CHECK(dnft::clip_advantage(0.0, 5.0, advantage_mode::binary) == 0.0);
    CHECK(dnft::optimality_probability(3.0, 5.0, advantage_mode::binary) == doctest::Approx(0.6));
    dnft::nft_options o;
    o.adv_clip_max = 4.0;
    CHECK(dnft::optimality_probability(2.0, o) == 0.75);
    // The same r that nft_loss reports as mean_r.
    const std::vector<double> adv = {-6, -2.5, 0, 1, 4.9, 8};
    const int B = int(adv.size()), D = 3;
    std::vector<double> x(std::size_t(B * D), 0.2), e(std::size_t(B * D), -0.1), v(std::size_t(B * D), 0.3);
    const std::vector<double> t(adv.size(), 0.5);
    for (auto mode : {advantage_mode::all, advantage_mode::positive_only, advantage_mode::binary}) {
      dnft::nft_options no;
      no.mode = mode;
      const auto st = dnft::nft_loss(dnft::host, dnft::make_view(x.data(), {B, D}), dnft::make_view(e.data(), {B, D}),
                                     t, adv, dnft::make_view(v.data(), {B, D}), dnft::make_view(v.data(), {B, D}),
                                     dnft::none, dnft::none, no);
      double mr = 0;
      for (double a : adv) mr += dnft::optimality_probability(a, no);
      CHECK(st.mean_r == doctest::Approx(mr / B).epsilon(1e-15));
    }
    CHECK(contains(message_of<dnft::value_error>([] { dnft::optimality_probability(std::nan("")); }),
                   "dnft::optimality_probability: adv: expected a finite advantage, got nan"));
    CHECK(contains(message_of<dnft::value_error>([] { dnft::optimality_probability(1.0, 0.0); }),
                   "dnft::optimality_probability: adv_clip_max: expected a finite value > 0, got 0"));
    CHECK(contains(
        message_of<dnft::value_error>([] { dnft::clip_advantage(1.0, 5.0, static_cast<dnft::advantage_mode>(9)); }),
        "dnft::clip_advantage: mode: expected a dnft::advantage_mode enumerator, got 9"));
  }
}
