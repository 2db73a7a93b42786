// SPDX-License-Identifier: Apache-2.0
// The DLPack adapter: dtype, rank, device, strides and byte_offset of a DLTensor checked and
// honoured; every mismatch a dnft::error naming the argument; nft_loss through DLPack views
// identical to raw views.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <dlpack/dlpack.h>

#include "dnft/adapters/dlpack.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "support/expect_error.hpp"
#include "support/random_data.hpp"

namespace {

using dnft_test::message_of;

// A DLTensor over caller-owned shape/strides arrays (what a producer such as PyTorch hands out).
struct dl_tensor {
  std::vector<std::int64_t> shape, strides;
  DLTensor t{};
  dl_tensor(void* data, DLDataType dtype, std::vector<std::int64_t> sh, std::vector<std::int64_t> st = {},
            DLDeviceType dev = kDLCPU, std::uint64_t byte_offset = 0)
      : shape(std::move(sh)), strides(std::move(st)) {
    t.data = data;
    t.device = {dev, 0};
    t.ndim = static_cast<int>(shape.size());
    t.dtype = dtype;
    t.shape = shape.data();
    t.strides = strides.empty() ? nullptr : strides.data();
    t.byte_offset = byte_offset;
  }
};

constexpr DLDataType f32{kDLFloat, 32, 1};
constexpr DLDataType f64{kDLFloat, 64, 1};

}  // namespace

TEST_SUITE("adapters") {
  TEST_CASE("dlpack_dtype describes the element types") {
    CHECK(dnft::dlpack_dtype<float>().code == kDLFloat);
    CHECK(dnft::dlpack_dtype<float>().bits == 32);
    CHECK(dnft::dlpack_dtype<double>().bits == 64);
    CHECK(dnft::dlpack_dtype<std::int32_t>().code == kDLInt);
    CHECK(dnft::dlpack_dtype<std::int64_t>().bits == 64);
    CHECK(dnft::dlpack_dtype<std::uint8_t>().code == kDLUInt);
    CHECK(dnft::dlpack_dtype<std::uint8_t>().bits == 8);
    CHECK(dnft::dlpack_dtype<std::uint16_t>().lanes == 1);
    static_assert(!dnft::is_dlpack_element_v<bool>);
    static_assert(!dnft::is_dlpack_element_v<long double>);
  }

  TEST_CASE("a packed row-major DLTensor (NULL strides) views like make_view") {
    std::vector<float> buf(24);
    dl_tensor d(buf.data(), f32, {2, 3, 4});
    const auto v = dnft::dlpack_view<float, 3>(d.t);
    static_assert(std::is_same_v<decltype(v), const dnft::tensor_view<float, 3, dnft::host_space>>);
    const auto ref = dnft::make_view(buf.data(), {2, 3, 4});
    CHECK(v.data == ref.data);
    CHECK(v.extents == ref.extents);
    CHECK(v.strides == ref.strides);
    const auto cv = dnft::dlpack_view<const float, 3>(d.t);
    static_assert(std::is_same_v<decltype(cv)::element_type, const float>);
    CHECK(cv.data == buf.data());
  }

  TEST_CASE("DLTensor strides and byte_offset are honoured") {
    std::vector<double> buf(64);
    for (std::size_t k = 0; k < buf.size(); ++k) buf[k] = double(k);
    // a (3, 4) column-major tensor starting at element 5 of buf
    dl_tensor d(buf.data(), f64, {3, 4}, {1, 3}, kDLCPU, 5 * sizeof(double));
    const auto v = dnft::dlpack_view<const double, 2>(d.t);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) CHECK(v(i, j) == double(5 + i + 3 * j));
    // negative and zero strides are passed through: a reversed, broadcast view
    dl_tensor r(buf.data(), f64, {4, 2}, {-2, 0}, kDLCPU, 10 * sizeof(double));
    const auto rv = dnft::dlpack_view<double, 2>(r.t);
    CHECK(rv(0, 1) == 10.0);
    CHECK(rv(3, 0) == 4.0);
    CHECK(rv(3, 1) == 4.0);
    // DLManagedTensor: its dl_tensor
    DLManagedTensor m{};
    m.dl_tensor = d.t;
    CHECK(dnft::dlpack_view<double, 2>(m).data == buf.data() + 5);
  }

  TEST_CASE("DLPack devices map to memory spaces") {
    std::vector<float> buf(6);
    auto on = [&](DLDeviceType dev) { return dl_tensor(buf.data(), f32, {2, 3}, {}, dev); };
    CHECK(dnft::dlpack_view<float, 2, dnft::host_space>(on(kDLCPU).t).data == buf.data());
    CHECK(dnft::dlpack_view<float, 2, dnft::host_space>(on(kDLCUDAHost).t).data == buf.data());
    CHECK(dnft::dlpack_view<float, 2, dnft::device_space>(on(kDLCUDA).t).data == buf.data());
    // managed memory is readable as any of the three spaces
    CHECK(dnft::dlpack_view<float, 2, dnft::managed_space>(on(kDLCUDAManaged).t).data == buf.data());
    CHECK(dnft::dlpack_view<float, 2, dnft::host_space>(on(kDLCUDAManaged).t).data == buf.data());
    CHECK(dnft::dlpack_view<float, 2, dnft::device_space>(on(kDLCUDAManaged).t).data == buf.data());

    CHECK(message_of<dnft::space_error>([&] { dnft::dlpack_view<float, 2>(on(kDLCUDA).t, "x0"); }) ==
          "dnft::dlpack_view: x0: a tensor on kDLCUDA cannot be viewed as dnft::host_space memory");
    CHECK(message_of<dnft::space_error>([&] { dnft::dlpack_view<float, 2, dnft::device_space>(on(kDLCPU).t, "g"); }) ==
          "dnft::dlpack_view: g: a tensor on kDLCPU cannot be viewed as dnft::device_space memory");
    CHECK(message_of<dnft::space_error>([&] { dnft::dlpack_view<float, 2, dnft::device_space>(on(kDLCUDAHost).t); }) ==
          "dnft::dlpack_view: tensor: a tensor on kDLCUDAHost cannot be viewed as dnft::device_space memory");
    CHECK(message_of<dnft::space_error>([&] { dnft::dlpack_view<float, 2, dnft::managed_space>(on(kDLCUDA).t); }) ==
          "dnft::dlpack_view: tensor: a tensor on kDLCUDA cannot be viewed as dnft::managed_space memory");
    CHECK(message_of<dnft::space_error>([&] { dnft::dlpack_view<float, 2>(on(kDLROCM).t); }) ==
          "dnft::dlpack_view: tensor: a tensor on kDLROCM cannot be viewed as dnft::host_space memory");
    CHECK(message_of<dnft::space_error>([&] { dnft::dlpack_view<float, 2>(on(kDLVulkan).t); }) ==
          "dnft::dlpack_view: tensor: a tensor on device type 7 cannot be viewed as dnft::host_space memory");
  }

  TEST_CASE("DLPack dtype, rank, shape and layout mismatches are dnft errors naming the argument") {
    std::vector<double> buf(12);
    dl_tensor d(buf.data(), f64, {3, 4});
    CHECK(message_of<dnft::value_error>([&] { dnft::dlpack_view<float, 2>(d.t, "v_old"); }) ==
          "dnft::dlpack_view: v_old: expected dtype float32, got float64");
    CHECK(message_of<dnft::value_error>([&] { dnft::dlpack_view<std::int64_t, 2>(d.t); }) ==
          "dnft::dlpack_view: tensor: expected dtype int64, got float64");
    dl_tensor lanes(buf.data(), DLDataType{kDLFloat, 32, 4}, {3});
    CHECK(message_of<dnft::value_error>([&] { dnft::dlpack_view<float, 1>(lanes.t); }) ==
          "dnft::dlpack_view: tensor: expected dtype float32, got float32x4");
    dl_tensor bf(buf.data(), DLDataType{kDLBfloat, 16, 1}, {3});
    CHECK(message_of<dnft::value_error>([&] { dnft::dlpack_view<std::uint16_t, 1>(bf.t); }) ==
          "dnft::dlpack_view: tensor: expected dtype uint16, got bfloat16");

    CHECK(message_of<dnft::shape_error>([&] { dnft::dlpack_view<double, 3>(d.t, "x0"); }) ==
          "dnft::dlpack_view: x0: expected a tensor of rank 3, got ndim 2");
    dl_tensor neg(buf.data(), f64, {3, -4});
    CHECK(message_of<dnft::shape_error>([&] { dnft::dlpack_view<double, 2>(neg.t); }) ==
          "dnft::dlpack_view: tensor: extent -4 of axis 1 is negative");
    DLTensor no_shape = d.t;
    no_shape.shape = nullptr;
    CHECK(message_of<dnft::shape_error>([&] { dnft::dlpack_view<double, 2>(no_shape); }) ==
          "dnft::dlpack_view: tensor: shape is null");

    dl_tensor odd(buf.data(), f64, {2, 2}, {}, kDLCPU, 4);  // half a double in
    CHECK(message_of<dnft::layout_error>([&] { dnft::dlpack_view<double, 2>(odd.t, "adv"); }) ==
          "dnft::dlpack_view: adv: data + byte_offset (4) is not aligned for float64");

    dl_tensor null_data(nullptr, f64, {3, 4});
    CHECK(message_of<dnft::value_error>([&] { dnft::dlpack_view<double, 2>(null_data.t); }) ==
          "dnft::dlpack_view: tensor: data is null in a non-empty tensor");
    dl_tensor empty(nullptr, f64, {0, 4});
    const auto ev = dnft::dlpack_view<double, 2>(empty.t);
    CHECK(ev.empty());
    CHECK(ev.extent(1) == 4);
  }

  TEST_CASE("dlpack_tensor: as_view<Space> checks the run-time memory space") {
    std::vector<float> buf(6);
    dl_tensor host(buf.data(), f32, {2, 3});
    dl_tensor dev(buf.data(), f32, {2, 3}, {}, kDLCUDA);
    using dt = dnft::dlpack_tensor<const float, 2>;
    static_assert(!dnft::tensor_like<dt>);
    static_assert(dnft::runtime_space_tensor<dt, dnft::host_space>);
    const auto hv = dnft::as_view<dnft::host_space>(dt(host.t));
    static_assert(std::is_same_v<decltype(hv), const dnft::tensor_view<const float, 2, dnft::host_space>>);
    CHECK(hv.data == buf.data());
    const auto dv = dnft::as_view<dnft::device_space>(dt(dev.t, "x"));
    static_assert(std::is_same_v<decltype(dv)::space_type, dnft::device_space>);
    CHECK(dv.extent(1) == 3);
    CHECK(message_of<dnft::space_error>([&] { dnft::as_view<dnft::host_space>(dt(dev.t, "x")); }) ==
          "dnft::dlpack_view: x: a tensor on kDLCUDA cannot be viewed as dnft::host_space memory");
    DLManagedTensor m{};
    m.dl_tensor = host.t;
    CHECK(dnft::as_view<dnft::host_space>(dt(m)).data == buf.data());
  }

  TEST_CASE("nft_loss through DLPack views equals nft_loss through raw views") {
    constexpr int B = 4, D = 9;
    auto x0 = dnft_test::cast<float>(dnft_test::normal_data(B * D, 1));
    auto eps = dnft_test::cast<float>(dnft_test::normal_data(B * D, 2));
    auto vth = dnft_test::cast<float>(dnft_test::normal_data(B * D, 3));
    auto vold = dnft_test::cast<float>(dnft_test::normal_data(B * D, 4));
    std::vector<double> t{0.1, 0.4, 0.7, 1.0}, adv{-1.0, 2.0, 0.5, -6.0};
    std::vector<float> g_raw(B * D), g_dl(B * D);
    auto raw = [](std::vector<float>& a) { return dnft::make_view(a.data(), {B, D}); };
    const auto st_raw =
        dnft::nft_loss(dnft::host, raw(x0), raw(eps), t, adv, raw(vth), raw(vold), dnft::none, raw(g_raw));

    dl_tensor dx0(x0.data(), f32, {B, D}), deps(eps.data(), f32, {B, D}), dvth(vth.data(), f32, {B, D}),
        dvold(vold.data(), f32, {B, D}), dg(g_dl.data(), f32, {B, D}), dt(t.data(), f64, {B}), dadv(adv.data(), f64, {B});
    const auto st_dl = dnft::nft_loss(
        dnft::host, dnft::dlpack_view<const float, 2>(dx0.t, "x0"), dnft::dlpack_view<const float, 2>(deps.t, "eps"),
        dnft::dlpack_view<const double, 1>(dt.t, "t"), dnft::dlpack_view<const double, 1>(dadv.t, "adv"),
        dnft::dlpack_view<const float, 2>(dvth.t, "v_theta"), dnft::dlpack_view<const float, 2>(dvold.t, "v_old"),
        dnft::none, dnft::dlpack_view<float, 2>(dg.t, "grad"));
    CHECK(st_dl.loss == st_raw.loss);
    CHECK(st_dl.theta_old == st_raw.theta_old);
    CHECK(g_dl == g_raw);
    CHECK(st_raw.loss > 0);
  }
}
