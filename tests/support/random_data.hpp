// SPDX-License-Identifier: Apache-2.0
// Deterministic test data (std::mt19937_64, independent of dnft's own Philox).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace dnft_test {

inline std::vector<double> normal_data(std::size_t n, std::uint64_t seed, double scale = 1.0, double shift = 0.0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd(shift, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = nd(g);
  return v;
}

inline std::vector<double> uniform_data(std::size_t n, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> ud(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = ud(g);
  return v;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

//! Rounds through T and back, so a double reference sees exactly the values a T kernel sees.
template <class T>
std::vector<double> rounded(const std::vector<double>& v) {
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = double(T(v[i]));
  return r;
}

}  // namespace dnft_test
