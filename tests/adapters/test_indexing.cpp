// SPDX-License-Identifier: Apache-2.0
// Every adapter's view addresses exactly the elements of the object it views: &view(i, j) is
// &m(i, j) for every index, under the backend's own indexing (row-/column-major, outer and inner
// strides, blocks, xtensor's stride 0 on axes of extent 1).
#include <doctest/doctest.h>

#include <array>
#include <span>
#include <type_traits>
#include <vector>

#include <Eigen/Core>
#include <xtensor/xadapt.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xtensor.hpp>

#include "dnft/adapters/eigen.hpp"
#include "dnft/adapters/xtensor.hpp"
#include "dnft/execution.hpp"
#include "dnft/tensor.hpp"

namespace {

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Checks the view of `m` against m's own element access, index by index.
template <class M>
void check_2d(M&& m) {
  const auto v = dnft::as_view(m);
  static_assert(decltype(v)::rank == 2);
  REQUIRE(v.extent(0) == m.rows());
  REQUIRE(v.extent(1) == m.cols());
  int wrong = 0;
  for (int i = 0; i < m.rows(); ++i)
    for (int j = 0; j < m.cols(); ++j) wrong += &v(i, j) != &m(i, j);
  CHECK(wrong == 0);
}

// For read-only expressions whose m(i, j) returns by value (Ref<const ...>): compare with the
// object they refer to.
template <class M, class Target>
void check_2d_alias(M&& m, Target&& target) {
  const auto v = dnft::as_view(m);
  static_assert(std::is_const_v<typename decltype(v)::element_type>);
  int wrong = 0;
  for (int i = 0; i < target.rows(); ++i)
    for (int j = 0; j < target.cols(); ++j) wrong += &v(i, j) != &target(i, j);
  CHECK(wrong == 0);
}

template <class M>
void check_1d(M&& m) {
  const auto v = dnft::as_view(m);
  static_assert(decltype(v)::rank == 1);
  REQUIRE(v.extent(0) == m.size());
  int wrong = 0;
  for (int i = 0; i < v.extent(0); ++i) wrong += &v(i) != &m(i);
  CHECK(wrong == 0);
}

template <class X>
void check_xt3(X&& x) {
  const auto v = dnft::as_view(x);
  static_assert(decltype(v)::rank == 3);
  int wrong = 0;
  for (std::size_t r = 0; r < 3; ++r) REQUIRE(v.extent(r) == dnft::index_t(x.shape()[r]));
  for (std::size_t i = 0; i < x.shape()[0]; ++i)
    for (std::size_t j = 0; j < x.shape()[1]; ++j)
      for (std::size_t k = 0; k < x.shape()[2]; ++k) wrong += &v(i, j, k) != &x(i, j, k);
  CHECK(wrong == 0);
}

template <class X>
void check_xt2(X&& x) {
  const auto v = dnft::as_view(x);
  static_assert(decltype(v)::rank == 2);
  int wrong = 0;
  for (std::size_t r = 0; r < 2; ++r) REQUIRE(v.extent(r) == dnft::index_t(x.shape()[r]));
  for (std::size_t i = 0; i < x.shape()[0]; ++i)
    for (std::size_t j = 0; j < x.shape()[1]; ++j) wrong += &v(i, j) != &x(i, j);
  CHECK(wrong == 0);
}

}  // namespace

TEST_SUITE("adapters") {
  TEST_CASE("Eigen matrices: storage orders, Map strides, Ref, Block, Array") {
    Eigen::MatrixXf cm = Eigen::MatrixXf::Random(5, 7);
    row_matrix rm = row_matrix::Random(5, 7);
    std::vector<float> buf(100);
    check_2d(cm);
    check_2d(static_cast<const Eigen::MatrixXf&>(cm));
    check_2d(rm);
    check_2d(Eigen::Map<row_matrix, 0, Eigen::OuterStride<>>(buf.data(), 4, 6, Eigen::OuterStride<>(9)));
    check_2d(Eigen::Map<Eigen::MatrixXf, 0, Eigen::OuterStride<>>(buf.data(), 4, 6, Eigen::OuterStride<>(8)));
    // inner and outer stride both different from 1: element (i, j) at 2 i + 13 j
    check_2d(Eigen::Map<Eigen::MatrixXf, 0, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>(
        buf.data(), 6, 7, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(13, 2)));
    check_2d(Eigen::Ref<Eigen::MatrixXf>(cm));
    check_2d_alias(Eigen::Ref<const Eigen::MatrixXf>(cm), cm);
    check_2d_alias(Eigen::Ref<const row_matrix>(rm.block(1, 1, 3, 5)), rm.block(1, 1, 3, 5));
    check_2d(Eigen::Ref<row_matrix>(rm));
    check_2d(cm.block(1, 2, 3, 4));
    check_2d(rm.block(1, 2, 3, 4));
    check_2d(cm.topRows(2));
    check_2d(rm.rightCols(3));
    Eigen::ArrayXXf arr = Eigen::ArrayXXf::Random(3, 4);
    check_2d(arr);
    Eigen::Matrix<double, 3, 4> fixed = Eigen::Matrix<double, 3, 4>::Random();
    check_2d(fixed);
  }

  TEST_CASE("Eigen vectors are rank 1 with their inner stride") {
    Eigen::VectorXd vd = Eigen::VectorXd::Random(6);
    Eigen::RowVectorXf rv = Eigen::RowVectorXf::Random(5);
    Eigen::MatrixXf cm = Eigen::MatrixXf::Random(4, 6);
    row_matrix rm = row_matrix::Random(4, 6);
    std::vector<float> buf(40);
    check_1d(vd);
    check_1d(rv);
    check_1d(cm.col(2));  // contiguous
    check_1d(cm.row(1));  // stride 4 (the column-major outer stride)
    check_1d(rm.col(3));  // stride 6
    check_1d(Eigen::Map<Eigen::VectorXf, 0, Eigen::InnerStride<>>(buf.data(), 8, Eigen::InnerStride<>(3)));
    CHECK(dnft::as_view(cm.row(1)).stride(0) == 4);
    CHECK(dnft::as_view(rm.col(3)).stride(0) == 6);
  }

  TEST_CASE("xtensor: row- and column-major, fixed, adapted, and stride 0 on axes of extent 1") {
    xt::xtensor<float, 3> x = xt::xtensor<float, 3>::from_shape({2, 3, 4});
    check_xt3(x);
    check_xt3(static_cast<const xt::xtensor<float, 3>&>(x));
    auto cmx = xt::xtensor<float, 3, xt::layout_type::column_major>::from_shape({2, 3, 4});
    check_xt3(cmx);
    xt::xtensor_fixed<double, xt::xshape<3, 5>> fx;
    check_xt2(fx);
    std::vector<float> buf(12);
    auto ad = xt::adapt(buf.data(), buf.size(), xt::no_ownership(), std::array<std::size_t, 2>{3, 4});
    check_xt2(ad);
    CHECK(dnft::as_view(ad).data == buf.data());

    // xtensor stores stride 0 on axes of extent 1; the view keeps it and still indexes correctly.
    auto mid = xt::xtensor<float, 3>::from_shape({3, 1, 4});
    REQUIRE(mid.strides()[1] == 0);
    check_xt3(mid);
    CHECK(dnft::as_view(mid).stride(1) == 0);
    auto lead = xt::xtensor<float, 2>::from_shape({1, 5});
    REQUIRE(lead.strides()[0] == 0);
    check_xt2(lead);
    auto cm_lead = xt::xtensor<float, 2, xt::layout_type::column_major>::from_shape({4, 1});
    REQUIRE(cm_lead.strides()[1] == 0);
    check_xt2(cm_lead);
  }

  TEST_CASE("std containers, host_buffer and raw views") {
    std::vector<double> vec(7);
    const std::vector<double>& cvec = vec;
    std::array<float, 4> arr{};
    auto sp = std::span<double>(vec).subspan(2, 3);
    dnft::host_buffer<float> hb(5);
    for (int i = 0; i < 7; ++i) CHECK(&dnft::as_view(vec)(i) == &vec[std::size_t(i)]);
    for (int i = 0; i < 7; ++i) CHECK(&dnft::as_view(cvec)(i) == &cvec[std::size_t(i)]);
    for (int i = 0; i < 4; ++i) CHECK(&dnft::as_view(arr)(i) == &arr[std::size_t(i)]);
    for (int i = 0; i < 3; ++i) CHECK(&dnft::as_view(sp)(i) == &sp[std::size_t(i)]);
    for (int i = 0; i < 5; ++i) CHECK(&dnft::as_view(hb)(i) == hb.data() + i);

    float raw[24];
    const auto rm = dnft::make_view(raw, {2, 3, 4});
    CHECK(rm.is_contiguous());
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 4; ++k) CHECK(&rm(i, j, k) == raw + (i * 12 + j * 4 + k));
    const auto cmv = dnft::make_view(raw, {4, 6}, {1, 4});  // column-major
    CHECK_FALSE(cmv.is_contiguous());
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 6; ++j) CHECK(&cmv(i, j) == raw + (i + 4 * j));
    const auto same = dnft::as_view(cmv);
    CHECK(same.data == cmv.data);
    CHECK(same.extents == cmv.extents);
    CHECK(same.strides == cmv.strides);
  }

  TEST_CASE("writes through a view land in the viewed object") {
    Eigen::MatrixXf cm = Eigen::MatrixXf::Zero(3, 4);
    auto v = dnft::as_view(cm.block(1, 1, 2, 3));
    v(1, 2) = 5.0f;
    CHECK(cm(2, 3) == 5.0f);
    CHECK(cm.sum() == 5.0f);
    auto x = xt::xtensor<float, 3, xt::layout_type::column_major>::from_shape({2, 1, 3});
    x.fill(0.0f);
    dnft::as_view(x)(1, 0, 2) = 3.0f;
    CHECK(x(1, 0, 2) == 3.0f);
  }
}
