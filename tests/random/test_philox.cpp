// SPDX-License-Identifier: Apache-2.0
// Philox4x32-10 against Random123's published known-answer vectors; the statistics of
// philox_normal (moments, Kolmogorov-Smirnov, chi-square, independence); fill() against operator().
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dnft/random/philox.hpp"

namespace {

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

//! n draws: samples 0.., each of `per_sample` elements, of one generator.
std::vector<double> draws(const dnft::philox_normal& g, std::uint64_t samples, std::uint64_t per_sample) {
  std::vector<float> row(per_sample);
  std::vector<double> out;
  out.reserve(samples * per_sample);
  for (std::uint64_t i = 0; i < samples; ++i) {
    g.fill(i, 0, per_sample, row.data());
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  double ma = 0, mb = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    ma += a[k];
    mb += b[k];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t k = 0; k < a.size(); ++k) {
    sab += (a[k] - ma) * (b[k] - mb);
    saa += (a[k] - ma) * (a[k] - ma);
    sbb += (b[k] - mb) * (b[k] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

}  // namespace

TEST_SUITE("random") {
  TEST_CASE("philox4x32_10 reproduces Random123's known-answer vectors") {
    struct kat {
      dnft::philox_block counter;
      std::uint32_t key0, key1;
      dnft::philox_block expect;
    };
    // Random123 kat_vectors: "philox4x32 10 <counter: 4 words> <key: 2 words> <output: 4 words>".
    const kat cases[] = {
        {{{0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u}},
         0x00000000u,
         0x00000000u,
         {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
        {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
         0xffffffffu,
         0xffffffffu,
         {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
        {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
         0xa4093822u,
         0x299f31d0u,
         {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
    };
    for (const auto& c : cases) {
      const dnft::philox_block r = dnft::philox4x32_10(c.counter, c.key0, c.key1);
      for (int w = 0; w < 4; ++w) {
        CAPTURE(w);
        CHECK(r.v[w] == c.expect.v[w]);
      }
    }
  }

  TEST_CASE("philox_normal: mean, variance, skewness and kurtosis of 1e6 draws") {
    const dnft::philox_normal g{.seed = 20250917, .stream = dnft::stream_id(1, 2)};
    const auto x = draws(g, 250, 4000);
    const double n = double(x.size());
    double m1 = 0;
    for (double v : x) m1 += v;
    m1 /= n;
    double m2 = 0, m3 = 0, m4 = 0;
    for (double v : x) {
      const double d = v - m1;
      m2 += d * d;
      m3 += d * d * d;
      m4 += d * d * d * d;
    }
    m2 /= n;
    m3 /= n;
    m4 /= n;
    const double skew = m3 / std::pow(m2, 1.5);
    const double excess_kurtosis = m4 / (m2 * m2) - 3.0;
    // Within 5 standard errors of the normal's values (1/sqrt(n), sqrt(2/n), sqrt(6/n), sqrt(24/n)).
    CHECK(std::abs(m1) < 5.0 / std::sqrt(n));
    CHECK(std::abs(m2 - 1.0) < 5.0 * std::sqrt(2.0 / n));
    CHECK(std::abs(skew) < 5.0 * std::sqrt(6.0 / n));
    CHECK(std::abs(excess_kurtosis) < 5.0 * std::sqrt(24.0 / n));
  }

  TEST_CASE("philox_normal: Kolmogorov-Smirnov and chi-square tests against the normal CDF") {
    const dnft::philox_normal g{.seed = 7, .stream = 3};
    auto x = draws(g, 100, 1000);  // 1e5 draws
    std::sort(x.begin(), x.end());
    const double n = double(x.size());
    double d_max = 0;
    for (std::size_t k = 0; k < x.size(); ++k) {
      const double f = normal_cdf(x[k]);
      d_max = std::max({d_max, std::abs(f - double(k) / n), std::abs(double(k + 1) / n - f)});
    }
    // Critical value of the KS statistic at significance 0.001: 1.949 / sqrt(n).
    CHECK(d_max * std::sqrt(n) < 1.949);

    // 40 equiprobable bins; the chi-square with 39 degrees of freedom exceeds 72.1 with probability 0.001.
    const int bins = 40;
    std::vector<double> count(bins, 0.0);
    for (double v : x) {
      const int b = std::min(bins - 1, int(normal_cdf(v) * bins));
      count[std::size_t(b)] += 1.0;
    }
    double chi2 = 0;
    const double expect = n / bins;
    for (double c : count) chi2 += (c - expect) * (c - expect) / expect;
    CHECK(chi2 < 72.1);
  }

  TEST_CASE("philox_normal: no correlation across streams, seeds, samples and neighbouring elements") {
    const std::uint64_t S = 200, D = 500;  // 1e5 pairs per comparison
    const double bound = 5.0 / std::sqrt(double(S * D));
    const dnft::philox_normal a{.seed = 11, .stream = dnft::stream_id(4, 0)};
    const auto xa = draws(a, S, D);
    SUBCASE("neighbouring streams (same seed)") {
      const auto xb = draws(dnft::philox_normal{.seed = 11, .stream = dnft::stream_id(4, 1)}, S, D);
      CHECK(std::abs(correlation(xa, xb)) < bound);
      const auto xc = draws(dnft::philox_normal{.seed = 11, .stream = dnft::stream_id(5, 0)}, S, D);
      CHECK(std::abs(correlation(xa, xc)) < bound);
    }
    SUBCASE("neighbouring seeds (same stream)") {
      const auto xb = draws(dnft::philox_normal{.seed = 12, .stream = dnft::stream_id(4, 0)}, S, D);
      CHECK(std::abs(correlation(xa, xb)) < bound);
    }
    SUBCASE("consecutive samples and elements at every lag inside and across Philox blocks") {
      std::vector<double> p, q;
      for (std::uint64_t i = 0; i + 1 < S; ++i)
        for (std::uint64_t d = 0; d < D; ++d) {
          p.push_back(xa[i * D + d]);
          q.push_back(xa[(i + 1) * D + d]);
        }
      CHECK(std::abs(correlation(p, q)) < 5.0 / std::sqrt(double(p.size())));
      for (std::uint64_t lag = 1; lag <= 5; ++lag) {
        p.clear();
        q.clear();
        for (std::uint64_t i = 0; i < S; ++i)
          for (std::uint64_t d = 0; d + lag < D; ++d) {
            p.push_back(xa[i * D + d]);
            q.push_back(xa[i * D + d + lag]);
          }
        CAPTURE(lag);
        CHECK(std::abs(correlation(p, q)) < 5.0 / std::sqrt(double(p.size())));
        // Squares as well: Box-Muller pairs share a radius, which a dependence would show.
        for (auto& v : p) v *= v;
        for (auto& v : q) v *= v;
        CHECK(std::abs(correlation(p, q)) < 5.0 / std::sqrt(double(p.size())));
      }
    }
  }

  TEST_CASE("philox_normal: fill() equals operator() at every offset and partial block") {
    const dnft::philox_normal g{.seed = 0xdeadbeefcafeULL, .stream = dnft::stream_id(0xffffffffu, 17)};
    for (std::uint64_t sample : {std::uint64_t{0}, std::uint64_t{5}, std::uint64_t{0xfffffffeu}}) {
      for (std::uint64_t begin = 0; begin < 9; ++begin) {
        for (std::uint64_t end = begin; end < begin + 14; ++end) {
          std::vector<float> f(end - begin + 1, 12345.0f);
          std::vector<double> dd(end - begin + 1, 12345.0);
          g.fill(sample, begin, end, f.data());
          g.fill(sample, begin, end, dd.data());
          for (std::uint64_t d = begin; d < end; ++d) {
            CAPTURE(sample);
            CAPTURE(begin);
            CAPTURE(end);
            CAPTURE(d);
            CHECK(f[d - begin] == g(sample, d));
            CHECK(dd[d - begin] == double(g(sample, d)));
          }
          CHECK(f[end - begin] == 12345.0f);  // nothing written past the end
          CHECK(dd[end - begin] == 12345.0);
        }
      }
    }
  }

  TEST_CASE("philox_normal: element d of sample i is Box-Muller of Philox counter (d / 4, i, stream)") {
    // The documented layout, checked through the raw generator, so other implementations (CUDA)
    // can be held to it.
    const dnft::philox_normal g{.seed = 0x0123456789abcdefULL, .stream = 0x1122334455667788ULL};
    const dnft::philox_block r = dnft::philox4x32_10({{3u, 9u, 0x55667788u, 0x11223344u}}, 0x89abcdefu, 0x01234567u);
    // Box-Muller evaluated independently in long double from Random123's uniform conversions.
    auto bm = [](std::uint32_t wa, std::uint32_t wr, bool cosine) {
      const long double pi = 3.141592653589793238462643383279502884L;
      const long double angle = pi * static_cast<long double>(r123::uneg11<double>(wa));
      const long double radius = std::sqrt(-2.0L * std::log(static_cast<long double>(r123::u01<double>(wr))));
      return static_cast<float>(radius * (cosine ? std::cos(angle) : std::sin(angle)));
    };
    auto near = [](float x, float y) { return x == y || std::nextafter(x, y) == y; };  // within one float ulp
    CHECK(near(g(9, 12), bm(r.v[0], r.v[1], false)));
    CHECK(near(g(9, 13), bm(r.v[0], r.v[1], true)));
    CHECK(near(g(9, 14), bm(r.v[2], r.v[3], false)));
    CHECK(near(g(9, 15), bm(r.v[2], r.v[3], true)));
  }

  TEST_CASE("stream_id packs (hi, lo)") {
    CHECK(dnft::stream_id(0, 0) == 0);
    CHECK(dnft::stream_id(1, 2) == 0x0000000100000002ULL);
    CHECK(dnft::stream_id(0xffffffffu, 0xffffffffu) == ~std::uint64_t{0});
  }
}
