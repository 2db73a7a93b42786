// SPDX-License-Identifier: Apache-2.0
// detail::first_nonfinite (the finiteness checks of the host backends): its blockwise screening
// finds the first NaN or infinity wherever it lies (inside, at the edges of and after the
// 256-element blocks, in the tail), for float and double, contiguous and strided, against a
// plain element-by-element search written here.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "dnft/host/common.hpp"

namespace {

template <class T>
dnft::index_t naive_first(const std::vector<T>& x, dnft::index_t n, dnft::index_t stride) {
  for (dnft::index_t k = 0; k < n; ++k)
    if (!std::isfinite(x[std::size_t(k * stride)])) return k;
  return -1;
}

}  // namespace

TEST_SUITE("host") {
  TEST_CASE_TEMPLATE("first_nonfinite finds the first NaN or infinity at any position", T, float, double) {
    const T bad[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                     -std::numeric_limits<T>::infinity()};
    for (dnft::index_t stride : {1, 3}) {
      for (dnft::index_t n : {0, 1, 7, 255, 256, 257, 511, 512, 1000, 8192}) {
        std::vector<T> x(std::size_t(n * stride + 1));
        for (std::size_t i = 0; i < x.size(); ++i)
          x[i] = T(i % 7) * T(1e30) - T(3e30);  // large finite values: x - x is still exactly 0
        CHECK(dnft::detail::first_nonfinite(x.data(), n, stride) == -1);
        for (dnft::index_t pos : {dnft::index_t{0}, dnft::index_t{1}, dnft::index_t{255}, dnft::index_t{256},
                                  dnft::index_t{300}, n / 2, n - 1}) {
          if (pos < 0 || pos >= n) continue;
          for (T b : bad) {
            std::vector<T> y = x;
            y[std::size_t(pos * stride)] = b;
            if (pos + 5 < n) y[std::size_t((pos + 5) * stride)] = bad[0];  // a later one must not win
            CAPTURE(stride);
            CAPTURE(n);
            CAPTURE(pos);
            CHECK(dnft::detail::first_nonfinite(y.data(), n, stride) == naive_first(y, n, stride));
            CHECK(dnft::detail::first_nonfinite(y.data(), n, stride) == pos);
          }
        }
      }
    }
  }
}
