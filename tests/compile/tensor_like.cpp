// SPDX-License-Identifier: Apache-2.0
// Which types are tensors, with which rank, element type and memory space: a static_assert table.
#include <array>
#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

#include <Eigen/Core>
#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xfixed.hpp>
#include <xtensor/xtensor.hpp>

#include "dnft/adapters/dlpack.hpp"
#include "dnft/adapters/eigen.hpp"
#include "dnft/adapters/xtensor.hpp"
#include "dnft/execution.hpp"
#include "dnft/tensor.hpp"

namespace user {
struct image {  // owns a (H, W) float buffer; made a tensor below
  int h = 0, w = 0;
  std::vector<float> px;
};
struct opaque {  // no tensor_traits: not a tensor
  float* p = nullptr;
};
}  // namespace user

template <>
struct dnft::tensor_traits<user::image> {
  static auto view(user::image& m) { return dnft::make_view(m.px.data(), {m.h, m.w}); }
  static auto view(const user::image& m) { return dnft::make_view(m.px.data(), {m.h, m.w}); }
};

namespace {

using dnft::device_space;
using dnft::element_t;
using dnft::host_space;
using dnft::managed_space;
using dnft::space_t;
using dnft::tensor_like;
using dnft::tensor_view;
using dnft::view_t;

using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using outer_map = Eigen::Map<row_matrix, 0, Eigen::OuterStride<>>;
using block = Eigen::Block<Eigen::MatrixXf>;
using adapted = decltype(xt::adapt(std::declval<float*>(), std::size_t{}, xt::no_ownership(),
                                   std::declval<std::array<std::size_t, 2>>()));
using sum_expr = decltype(std::declval<Eigen::MatrixXf>() + std::declval<Eigen::MatrixXf>());
using xt_sum_expr = decltype(std::declval<xt::xtensor<float, 2>&>() + std::declval<xt::xtensor<float, 2>&>());

template <class T, std::size_t Rank>
constexpr bool has_rank = view_t<T>::rank == Rank;

// ---- tensors, with their rank ------------------------------------------------------------
static_assert(tensor_like<Eigen::MatrixXf> && has_rank<Eigen::MatrixXf, 2>);
static_assert(tensor_like<const Eigen::MatrixXf> && has_rank<const Eigen::MatrixXf, 2>);
static_assert(tensor_like<Eigen::MatrixXf&> && tensor_like<const Eigen::MatrixXf&>);
static_assert(tensor_like<row_matrix> && has_rank<row_matrix, 2>);
static_assert(tensor_like<outer_map> && has_rank<outer_map, 2>);
static_assert(tensor_like<Eigen::Map<const Eigen::MatrixXf>>);
static_assert(tensor_like<Eigen::Ref<Eigen::MatrixXf>> && has_rank<Eigen::Ref<Eigen::MatrixXf>, 2>);
static_assert(tensor_like<Eigen::Ref<const Eigen::MatrixXf>>);
static_assert(tensor_like<block> && has_rank<block, 2>);
static_assert(tensor_like<Eigen::ArrayXXf> && has_rank<Eigen::ArrayXXf, 2>);
static_assert(tensor_like<Eigen::Matrix<double, 3, 4>> && has_rank<Eigen::Matrix<double, 3, 4>, 2>);
static_assert(tensor_like<Eigen::VectorXd> && has_rank<Eigen::VectorXd, 1>);
static_assert(tensor_like<Eigen::RowVectorXf> && has_rank<Eigen::RowVectorXf, 1>);
static_assert(tensor_like<Eigen::ArrayXf> && has_rank<Eigen::ArrayXf, 1>);
static_assert(has_rank<decltype(std::declval<Eigen::MatrixXf&>().row(0)), 1>);

static_assert(tensor_like<xt::xtensor<float, 3>> && has_rank<xt::xtensor<float, 3>, 3>);
static_assert(tensor_like<xt::xtensor<double, 1>> && has_rank<xt::xtensor<double, 1>, 1>);
static_assert(tensor_like<xt::xtensor<float, 2, xt::layout_type::column_major>>);
static_assert(tensor_like<xt::xtensor_fixed<float, xt::xshape<2, 3, 4>>> &&
              has_rank<xt::xtensor_fixed<float, xt::xshape<2, 3, 4>>, 3>);
static_assert(tensor_like<adapted> && has_rank<adapted, 2>);

static_assert(tensor_like<std::span<float>> && has_rank<std::span<float>, 1>);
static_assert(tensor_like<std::span<const double, 8>>);
static_assert(tensor_like<std::vector<float>> && has_rank<std::vector<float>, 1>);
static_assert(tensor_like<const std::vector<double>>);
static_assert(tensor_like<std::array<float, 3>> && has_rank<std::array<float, 3>, 1>);
static_assert(tensor_like<dnft::host_buffer<float>>);
static_assert(tensor_like<tensor_view<float, 4>> && has_rank<tensor_view<float, 4>, 4>);
static_assert(tensor_like<const tensor_view<const float, 2, device_space>>);
static_assert(tensor_like<user::image> && has_rank<user::image, 2>);
static_assert(tensor_like<const user::image>);

// ---- not tensors -------------------------------------------------------------------------
static_assert(!tensor_like<sum_expr>, "an Eigen expression has no storage");
static_assert(!tensor_like<xt_sum_expr>, "an xtensor expression has no storage");
static_assert(!tensor_like<xt::xarray<float>>, "dynamic rank: convert to a fixed rank first");
static_assert(!tensor_like<int>);
static_assert(!tensor_like<float*>, "raw memory goes through make_view, which states the shape");
static_assert(!tensor_like<std::vector<bool>>);
static_assert(!tensor_like<user::opaque>);
static_assert(!tensor_like<DLTensor>, "element type and rank are run-time: use dlpack_view<T, Rank, Space>");
static_assert(!tensor_like<dnft::dlpack_tensor<float, 2>>, "run-time space: use as_view<Space>");
static_assert(dnft::runtime_space_tensor<dnft::dlpack_tensor<float, 2>, device_space>);
static_assert(!dnft::runtime_space_tensor<Eigen::MatrixXf, host_space>);

// ---- element types: const where the tensor is read-only ----------------------------------
static_assert(std::is_same_v<element_t<Eigen::MatrixXf>, float>);
static_assert(std::is_same_v<element_t<const Eigen::MatrixXf>, const float>);
static_assert(std::is_same_v<element_t<Eigen::Ref<const Eigen::MatrixXf>>, const float>);
static_assert(std::is_same_v<element_t<Eigen::Map<const Eigen::MatrixXf>>, const float>);
static_assert(std::is_same_v<element_t<Eigen::Block<const Eigen::MatrixXf>>, const float>);
static_assert(std::is_same_v<element_t<Eigen::VectorXd>, double>);
static_assert(std::is_same_v<element_t<xt::xtensor<float, 3>>, float>);
static_assert(std::is_same_v<element_t<const xt::xtensor<float, 3>>, const float>);
static_assert(std::is_same_v<element_t<std::vector<double>>, double>);
static_assert(std::is_same_v<element_t<const std::vector<double>>, const double>);
static_assert(std::is_same_v<element_t<std::span<const float>>, const float>);
static_assert(std::is_same_v<element_t<const std::span<float>>, float>, "a span is a view: const is shallow");
static_assert(std::is_same_v<element_t<const tensor_view<float, 2>>, float>, "a view: const is shallow");
static_assert(std::is_same_v<element_t<tensor_view<const float, 2>>, const float>);
static_assert(std::is_same_v<element_t<const user::image>, const float>);

// ---- memory spaces ------------------------------------------------------------------------
static_assert(std::is_same_v<space_t<Eigen::MatrixXf>, host_space>);
static_assert(std::is_same_v<space_t<xt::xtensor<float, 3>>, host_space>);
static_assert(std::is_same_v<space_t<tensor_view<float, 2, device_space>>, device_space>);
static_assert(dnft::tensor_in<std::vector<float>, host_space>);
static_assert(!dnft::tensor_in<tensor_view<float, 2, device_space>, host_space>);
static_assert(dnft::accessible_from<dnft::host_executor, host_space>);
static_assert(dnft::accessible_from<dnft::host_executor, managed_space>);
static_assert(!dnft::accessible_from<dnft::host_executor, device_space>);
static_assert(std::is_same_v<decltype(dnft::make_view(std::declval<float*>(), {2, 3}, device_space{})),
                             tensor_view<float, 2, device_space>>);

// ---- tensor_view is a trivially copyable aggregate (it goes to kernels by value) -----------
static_assert(std::is_trivially_copyable_v<tensor_view<float, 4, device_space>>);
static_assert(std::is_trivially_copyable_v<tensor_view<const double, 1, managed_space>>);
static_assert(std::is_trivially_copyable_v<tensor_view<float, 2>>);
static_assert(std::is_aggregate_v<tensor_view<float, 2, device_space>>);
static_assert(std::is_standard_layout_v<tensor_view<float, 3>>);
static_assert(sizeof(tensor_view<float, 3>) == sizeof(float*) + 6 * sizeof(dnft::index_t));

// ---- const conversions: mutable to const elements only ------------------------------------
static_assert(std::is_convertible_v<tensor_view<float, 2>, tensor_view<const float, 2>>);
static_assert(!std::is_convertible_v<tensor_view<const float, 2>, tensor_view<float, 2>>);
static_assert(!std::is_convertible_v<tensor_view<float, 2, device_space>, tensor_view<float, 2, host_space>>);

// ---- make_view and the view's arithmetic are constexpr ------------------------------------
constexpr float storage[24] = {};
constexpr auto packed = dnft::make_view(storage, {2, 3, 4});
static_assert(packed.strides == dnft::index_array<3>{{12, 4, 1}});
static_assert(packed.size() == 24 && packed.is_contiguous() && !packed.empty());
static_assert(&packed(1, 2, 3) == storage + 23);
constexpr auto transposed = dnft::make_view(storage, {4, 6}, {1, 4});
static_assert(!transposed.is_contiguous() && &transposed(3, 5) == storage + 23);
static_assert(dnft::make_view(storage, {1, 24}, {0, 1}).is_contiguous(), "any stride on an axis of extent 1");

}  // namespace
