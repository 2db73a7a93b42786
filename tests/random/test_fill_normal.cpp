// SPDX-License-Identifier: Apache-2.0
// fill_normal writes exactly the generator's values, for every layout, element type and thread count.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/expect_error.hpp"
#include "dnft/algorithm/fill_normal.hpp"

namespace {

using dnft_test::message_of;

using dnft_test::contains;

}  // namespace

TEST_SUITE("random") {
  TEST_CASE_TEMPLATE("fill_normal writes gen(i, d) for a row-major (B, D) tensor", T, float, double) {
    const dnft::philox_normal g{.seed = 99, .stream = dnft::stream_id(2, 7)};
    const int B = 5, D = 2051;  // several chunks, D not a multiple of 4
    std::vector<T> out(std::size_t(B * D), T(-1));
    dnft::fill_normal(dnft::host, dnft::make_view(out.data(), {B, D}), g);
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d) REQUIRE(out[std::size_t(i * D + d)] == T(g(std::uint64_t(i), std::uint64_t(d))));
  }

  TEST_CASE("fill_normal: rank-3 and column-major layouts index elements in row-major order per sample") {
    const dnft::philox_normal g{.seed = 5, .stream = 1};
    const int B = 3, H = 4, W = 5;
    std::vector<float> a(B * H * W), c(B * H * W);
    dnft::fill_normal(dnft::host, dnft::make_view(a.data(), {B, H, W}), g);
    for (int i = 0; i < B; ++i)
      for (int k = 0; k < H * W; ++k) CHECK(a[std::size_t(i * H * W + k)] == g(std::uint64_t(i), std::uint64_t(k)));
    // (B, D) stored column-major: element (i, d) at d * B + i; the chunked strided path.
    const int D = 1500;
    std::vector<float> col(std::size_t(B * D));
    dnft::fill_normal(dnft::host, dnft::make_view(col.data(), {B, D}, {1, B}), g);
    for (int i = 0; i < B; ++i)
      for (int d = 0; d < D; ++d) REQUIRE(col[std::size_t(d * B + i)] == g(std::uint64_t(i), std::uint64_t(d)));
  }

  TEST_CASE("fill_normal does not depend on the thread count") {
    const dnft::philox_normal g{.seed = 1, .stream = 2};
    const int B = 7, D = 3000;
    std::vector<float> a(std::size_t(B * D)), b(a.size()), c(a.size());
    dnft::host_executor one{1}, three{3};
    three.min_parallel_work = 1;
    dnft::fill_normal(one, dnft::make_view(a.data(), {B, D}), g);
    dnft::fill_normal(three, dnft::make_view(b.data(), {B, D}), g);
    dnft::fill_normal(dnft::host, dnft::make_view(c.data(), {B, D}), g);
    CHECK(a == b);
    CHECK(a == c);
  }

  TEST_CASE("fill_normal: bad outputs") {
    const dnft::philox_normal g{};
    std::vector<float> v(12);
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::fill_normal(dnft::host, dnft::make_view(v.data(), {0, 4}), g);
                   }),
                   "dnft::fill_normal: out: expected a non-empty batch"));
    CHECK(contains(message_of<dnft::shape_error>([&] {
                     dnft::fill_normal(dnft::host, dnft::make_view(v.data(), {3, 0}), g);
                   }),
                   "dnft::fill_normal: out: expected at least one element per sample"));
    CHECK(contains(message_of<dnft::layout_error>([&] {
                     dnft::fill_normal(dnft::host, dnft::make_view(v.data(), {3, 4}, {0, 1}), g);
                   }),
                   "dnft::fill_normal: out"));
    std::vector<float> big(3 * 4 * 4);
    CHECK(contains(message_of<dnft::layout_error>([&] {
                     dnft::fill_normal(dnft::host, dnft::make_view(big.data(), {3, 2, 4}, {16, 8, 1}), g);
                   }),
                   "dnft::fill_normal: out: the trailing axes"));
  }
}
