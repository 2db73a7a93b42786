// SPDX-License-Identifier: Apache-2.0
// dnft::cuda: errors, tuning, numeric conversions (no GPU needed), and with a GPU: the executor,
// device buffers, copies and fill_normal against the host's philox_normal.
#include <doctest/doctest.h>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "dnft/cuda/cuda.cuh"
#include "support/expect_error.hpp"

namespace {

using dnft_test::contains;
using dnft_test::message_of;

bool device_present() {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  (void)cudaGetLastError();
  return ok;
}

//! Round-to-nearest-even of a float to bfloat16 by bit manipulation (independent of cuda_bf16.h).
float bf16_reference(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  const std::uint32_t lsb = (u >> 16) & 1u;
  u += 0x7fffu + lsb;
  u &= 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

// Compile-time facts about the executor and buffers.
static_assert(dnft::executor<dnft::cuda::executor>);
static_assert(dnft::accessible_from<dnft::cuda::executor, dnft::device_space>);
static_assert(dnft::accessible_from<dnft::cuda::executor, dnft::managed_space>);
static_assert(!dnft::accessible_from<dnft::cuda::executor, dnft::host_space>);
static_assert(!dnft::accessible_from<dnft::host_executor, dnft::device_space>);
static_assert(dnft::tensor_like<dnft::cuda::device_buffer<float>>);
static_assert(dnft::tensor_like<const dnft::cuda::device_buffer<__nv_bfloat16>>);
static_assert(std::is_same_v<dnft::space_t<dnft::cuda::device_buffer<float>>, dnft::device_space>);
static_assert(std::is_same_v<dnft::element_t<const dnft::cuda::device_buffer<float>>, const float>);
static_assert(std::is_same_v<dnft::buffer_t<dnft::cuda::executor, double>, dnft::cuda::device_buffer<double>>);
static_assert(!std::is_copy_constructible_v<dnft::cuda::device_buffer<float>>);
static_assert(std::is_nothrow_move_constructible_v<dnft::cuda::device_buffer<float>>);
// Front doors check the values of managed inputs on the host only for executors that run there:
// a device executor's managed inputs may still be written by work queued on its stream, so its
// backends check them in their kernels, as they do device memory.
static_assert(dnft::detail::host_checkable_v<dnft::host_executor, dnft::managed_space>);
static_assert(dnft::detail::host_checkable_v<dnft::host_executor, dnft::host_space>);
static_assert(!dnft::detail::host_checkable_v<dnft::cuda::executor, dnft::managed_space>);
static_assert(!dnft::detail::host_checkable_v<dnft::cuda::executor, dnft::device_space>);
static_assert(!std::is_convertible_v<int, dnft::cuda::device_buffer<float>>);
static_assert(!std::is_constructible_v<dnft::cuda::device_buffer<float>, dnft::index_t>);  // a stream must be named
static_assert(std::is_trivially_copyable_v<dnft::cuda::detail::nft_device_sample>);
static_assert(std::is_trivially_copyable_v<dnft::cuda::detail::sample_grid>);
static_assert(std::is_same_v<dnft::cuda::compute_t<__nv_bfloat16>, float> &&
              std::is_same_v<dnft::cuda::compute_t<__half>, float> &&
              std::is_same_v<dnft::cuda::compute_t<double>, double>);

}  // namespace

TEST_SUITE("cuda_host") {
  TEST_CASE("check: a runtime error becomes cuda_error with file:line: name: text") {
    int line = 0;
    try {
      line = __LINE__ + 1;
      dnft::cuda::check(cudaErrorInvalidValue);
      FAIL("no exception");
    } catch (const dnft::error& e) {  // cuda_error is a dnft::error
      const auto* ce = dynamic_cast<const dnft::cuda_error*>(&e);
      REQUIRE(ce != nullptr);
      CHECK(ce->code() == cudaErrorInvalidValue);
      CHECK_FALSE(ce->from_cublas());
      const std::string expect =
          ":" + std::to_string(line) + ": cudaErrorInvalidValue: " + cudaGetErrorString(cudaErrorInvalidValue);
      CAPTURE(e.what());
      CHECK(contains(e.what(), "test_execution.cu" + expect));
    }
    CHECK_NOTHROW(dnft::cuda::check(cudaSuccess));
  }

  TEST_CASE("check: a cuBLAS status becomes cuda_error carrying the status") {
    const auto msg = message_of<dnft::cuda_error>([] { dnft::cuda::check(CUBLAS_STATUS_INVALID_VALUE); });
    CAPTURE(msg);
    CHECK(contains(msg, "test_execution.cu:"));
    CHECK(contains(msg, ": CUBLAS_STATUS_INVALID_VALUE: "));
    bool thrown = false;
    try {
      dnft::cuda::check(CUBLAS_STATUS_NOT_SUPPORTED);
    } catch (const dnft::cuda_error& e) {
      thrown = true;
      CHECK(e.from_cublas());
      CHECK(e.cublas_status() == CUBLAS_STATUS_NOT_SUPPORTED);
      CHECK(e.code() == cudaSuccess);
    }
    CHECK(thrown);
    CHECK_NOTHROW(dnft::cuda::check(CUBLAS_STATUS_SUCCESS));
  }

  TEST_CASE("executor: without a device, construction throws cuda_error; with one, it works") {
    if (device_present()) {
      dnft::cuda::executor ex;
      CHECK(ex.stream() != nullptr);
      CHECK(ex.sm_count() > 0);
    } else {
      const auto msg = message_of<dnft::cuda_error>([] { dnft::cuda::executor ex; });
      CAPTURE(msg);
      CHECK(contains(msg, "dnft/cuda/execution.cuh:"));
      CHECK(contains(msg, ": cudaError"));  // without a driver the error state stays set: nothing to clear
    }
  }

  TEST_CASE("launch_config_for: resident threads per multiprocessor / block_threads") {
    CHECK(dnft::cuda::launch_config_for(9, 0).blocks_per_sm == 2048 / dnft::cuda::block_threads);
    CHECK(dnft::cuda::launch_config_for(8, 0).blocks_per_sm == 2048 / dnft::cuda::block_threads);
    CHECK(dnft::cuda::launch_config_for(8, 6).blocks_per_sm == 1536 / dnft::cuda::block_threads);
    CHECK(dnft::cuda::launch_config_for(8, 9).blocks_per_sm == 1536 / dnft::cuda::block_threads);
    CHECK(dnft::cuda::launch_config_for(12, 0).blocks_per_sm == 1536 / dnft::cuda::block_threads);
    CHECK(dnft::cuda::launch_config_for(7, 5).blocks_per_sm == 1024 / dnft::cuda::block_threads);
    dnft::cuda::launch_config bad;
    bad.min_elements_per_block = 0;
    const auto msg = message_of<dnft::value_error>([&] { dnft::cuda::detail::validate(bad, "f"); });
    CHECK(msg == "dnft::f: launch_config.min_elements_per_block: expected a value >= 1, got 0");
  }

  TEST_CASE("plan_sample_grid covers every element once with group-aligned chunks") {
    for (int sms : {1, 7, 132})
      for (long b : {1L, 3L, 64L, 1000L})
        for (long d : {1L, 3L, 4L, 5L, 4096L, 4097L, 65536L, 262144L}) {
          dnft::cuda::launch_config c = dnft::cuda::launch_config_for(9, 0);
          c.min_elements_per_block = 1000;
          const auto g = dnft::cuda::detail::plan_sample_grid(b, d, sms, c);
          CAPTURE(sms);
          CAPTURE(b);
          CAPTURE(d);
          CHECK(g.chunk % dnft::cuda::group_elements == 0);
          CHECK(g.per_sample >= 1);
          CHECK(g.per_sample * g.chunk >= d);            // covers the sample
          CHECK((g.per_sample - 1) * g.chunk < d);       // no empty chunk
          CHECK(g.per_sample <= c.max_blocks_per_sample);
          CHECK((g.per_sample == 1 || g.chunk >= c.min_elements_per_block - dnft::cuda::group_elements));
          CHECK(g.items == b * g.per_sample);
          CHECK(g.grid >= 1);
          CHECK(long(g.grid) <= g.items);
        }
  }

  TEST_CASE("bfloat16 and half conversions round to nearest even") {
    for (float x : {1.0f, 1.00390625f, 1.005859375f, 3.14159265f, -2.71828f, 65504.0f, 1e-3f, 1e30f}) {
      CAPTURE(x);
      CHECK(dnft::cuda::to_compute(dnft::cuda::from_compute<__nv_bfloat16>(x)) == bf16_reference(x));
      CHECK(dnft::cuda::to_double(dnft::cuda::from_float<__nv_bfloat16>(x)) == double(bf16_reference(x)));
    }
    // half: 11 significant bits; 1 + 2^-11 is a tie and rounds to even (1), 1 + 3 * 2^-11 rounds up
    CHECK(dnft::cuda::to_compute(dnft::cuda::from_compute<__half>(1.0f + 0x1p-11f)) == 1.0f);
    CHECK(dnft::cuda::to_compute(dnft::cuda::from_compute<__half>(1.0f + 0x3p-11f)) == 1.0f + 0x1p-9f);
    CHECK(dnft::cuda::from_compute<double>(0.1) == 0.1);
    CHECK(dnft::cuda::to_double(0.25f) == 0.25);
  }
}

TEST_SUITE("cuda_device") {
  TEST_CASE("check clears the runtime's error state after a real failure") {
    void* p = nullptr;
    const std::size_t too_much = std::size_t(1) << 62;
    const auto msg = message_of<dnft::cuda_error>([&] { dnft::cuda::check(cudaMalloc(&p, too_much)); });
    CAPTURE(msg);
    CHECK(contains(msg, ": cudaErrorMemoryAllocation: "));
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaPeekAtLastError() == cudaSuccess);
  }

  TEST_CASE("executor: properties, copies share the stream, the cuBLAS handle is bound to it") {
    dnft::cuda::executor ex;
    CHECK(ex.compute_capability() >= 75);
    CHECK(ex.config().blocks_per_sm == dnft::cuda::launch_config_for(ex.compute_capability() / 10,
                                                                      ex.compute_capability() % 10).blocks_per_sm);
    const dnft::cuda::executor copy = ex;
    CHECK(copy.stream() == ex.stream());
    cublasHandle_t h = ex.cublas();
    REQUIRE(h != nullptr);
    CHECK(copy.cublas() == h);  // shared, created once
    cudaStream_t bound = nullptr;
    CHECK(cublasGetStream(h, &bound) == CUBLAS_STATUS_SUCCESS);
    CHECK(bound == ex.stream());

    cudaStream_t mine = nullptr;
    dnft::cuda::check(cudaStreamCreate(&mine));
    {
      dnft::cuda::synchronous_memory_resource mr;
      dnft::cuda::executor borrowed(mine, mr);
      CHECK(borrowed.stream() == mine);
      CHECK(&borrowed.resource() == &mr);
      auto b = borrowed.allocate<int>(10);
      CHECK(b.size() == 10);
      borrowed.synchronize();
    }
    dnft::cuda::check(cudaStreamSynchronize(mine));  // still valid: a borrowed stream is not destroyed
    dnft::cuda::check(cudaStreamDestroy(mine));
  }

  TEST_CASE("stream_ordered_memory_resource: freed memory stays in its pool until trim(); cudaMalloc without pools") {
    int dev = 0;
    dnft::cuda::check(cudaGetDevice(&dev));
    const dnft::cuda::executor base;
    CHECK(&base.resource() == &dnft::cuda::default_memory_resource());

    dnft::cuda::stream_ordered_memory_resource mr;
    int supported = 0;
    dnft::cuda::check(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, dev));
    cudaMemPool_t pool = mr.pool(dev);
    CHECK((pool != nullptr) == (supported != 0));
    cudaMemPool_t device_default = nullptr;
    if (supported != 0) {
      dnft::cuda::check(cudaDeviceGetDefaultMemPool(&device_default, dev));
      CHECK(pool != device_default);  // dnft's own pool: the device's default keeps its settings
      const dnft::cuda::executor ex(base.stream(), mr);
      constexpr std::uint64_t bytes = 8u << 20;
      {
        auto b = ex.allocate<unsigned char>(dnft::index_t(bytes));
        dnft::cuda::check(cudaMemsetAsync(b.data(), 1, bytes, ex.stream()));
      }
      ex.synchronize();  // a pool with the CUDA default release threshold (0) would shrink here
      std::uint64_t reserved = 0, used = 0;
      dnft::cuda::check(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
      dnft::cuda::check(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
      CHECK(reserved >= bytes);
      CHECK(used == 0);
      mr.trim();
      dnft::cuda::check(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
      CHECK(reserved == 0);
    } else {
      MESSAGE("this device has no memory pools: the default resource uses cudaMalloc");
    }

    dnft::cuda::stream_ordered_memory_resource plain(UINT64_MAX, /*use_pools=*/false);
    CHECK(plain.pool(dev) == nullptr);
    const dnft::cuda::executor ex(base.stream(), plain);
    const std::vector<float> h{1.0f, -2.5f, 3.25f};
    auto b = ex.to_device(h);
    cudaPointerAttributes attr{};
    dnft::cuda::check(cudaPointerGetAttributes(&attr, b.data()));
    CHECK(attr.type == cudaMemoryTypeDevice);
    CHECK(ex.to_host(b) == h);
  }

  TEST_CASE("executor: the pinned staging buffer is shared by copies and grows on demand") {
    dnft::cuda::executor ex;
    void* first = nullptr;
    {
      auto s = ex.host_staging(100);
      REQUIRE(s.data != nullptr);
      cudaPointerAttributes attr{};
      dnft::cuda::check(cudaPointerGetAttributes(&attr, s.data));
      CHECK(attr.type == cudaMemoryTypeHost);  // pinned, not pageable
      first = s.data;
      std::memset(s.data, 0xab, 100);
    }
    const dnft::cuda::executor copy = ex;
    CHECK(copy.host_staging(4096).data == first);  // 4096 bytes are allocated at least
    auto big = copy.host_staging(1 << 20);
    REQUIRE(big.data != nullptr);
    std::memset(big.data, 0, 1 << 20);  // the whole size is usable
    CHECK(big.lock.owns_lock());  // the buffer is ours until the lock is released
  }

  TEST_CASE("device_buffer and copies: round trips, sizes, layouts, move") {
    dnft::cuda::executor ex;
    std::vector<float> h(1000);
    for (std::size_t i = 0; i < h.size(); ++i) h[i] = float(i) * 0.5f - 7.0f;
    auto d = ex.to_device(h);
    static_assert(std::is_same_v<decltype(d), dnft::cuda::device_buffer<float>>);
    CHECK(d.size() == 1000);
    CHECK(d.bytes() == 4000);
    CHECK(ex.to_host(d) == h);
    // device to device, through 2-D views
    auto e = ex.allocate<float>(1000);
    ex.copy(d.view(10, 100), e.view(10, 100));
    CHECK(ex.to_host(e) == h);
    // bfloat16 storage
    std::vector<__nv_bfloat16> hb(37);
    for (std::size_t i = 0; i < hb.size(); ++i) hb[i] = __float2bfloat16_rn(float(i) / 3.0f);
    const auto back = ex.to_host(ex.to_device(hb));
    for (std::size_t i = 0; i < hb.size(); ++i) CHECK(__bfloat162float(back[i]) == __bfloat162float(hb[i]));
    // errors
    std::vector<float> small(999);
    CHECK(message_of<dnft::shape_error>([&] { ex.copy(d, small); }) ==
          "dnft::cuda::executor::copy: dst: expected 1000 elements (the size of src), got 999");
    const auto strided = dnft::make_view(d.data(), {10, 50}, {100, 2}, dnft::device_space{});
    std::vector<float> h500(500);
    CHECK(message_of<dnft::layout_error>([&] { ex.copy(strided, h500); }) ==
          "dnft::cuda::executor::copy: src: expected a contiguous (packed row-major) tensor");
    CHECK(message_of<dnft::shape_error>([&] { (void)ex.allocate<float>(-1); }) ==
          "dnft::cuda::device_buffer: n: expected a number of elements >= 0, got -1");
    // move and empty buffers
    auto moved = std::move(d);
    CHECK(d.empty());
    CHECK(d.data() == nullptr);
    CHECK(moved.size() == 1000);
    auto none = ex.allocate<double>(0);
    CHECK(none.data() == nullptr);
    CHECK(ex.to_host(none).empty());
    moved.reset();
    CHECK(moved.empty());
    ex.synchronize();
  }

  TEST_CASE_TEMPLATE("fill_normal equals philox_normal::fill on the host (to float ulps)", T, float, double,
                     __nv_bfloat16, __half) {
    dnft::cuda::executor ex;
    const dnft::philox_normal gen{.seed = 0x1234'5678'9abcULL, .stream = dnft::stream_id(7, 3)};
    const long B = 5, D = 1001;  // D not a multiple of 4: a partial group per sample
    auto d = ex.allocate<T>(B * D);
    dnft::cuda::fill_normal(ex, gen, d.view(B, D));
    const auto got = ex.to_host(d);
    std::vector<float> ref(std::size_t(B * D));
    for (long i = 0; i < B; ++i) gen.fill(std::uint64_t(i), 0, std::uint64_t(D), ref.data() + i * D);
    // Box-Muller runs in double on both sides; the device's double sin/cos/log may differ from
    // the host libm's by an ulp, which can flip the last bit of the float normal (a few 1e-7
    // relative); half and bfloat16 may then round to neighbouring values
    const double rel = std::is_same_v<T, __nv_bfloat16> ? 0x1p-7 : std::is_same_v<T, __half> ? 0x1p-10 : 4e-6;
    double sum = 0, sq = 0;
    for (std::size_t k = 0; k < ref.size(); ++k) {
      const double g = dnft::cuda::to_double(got[k]);
      CAPTURE(k);
      CHECK(std::abs(g - double(ref[k])) <= rel * std::abs(double(ref[k])) + 5e-6);
      sum += g;
      sq += g * g;
    }
    const double n = double(ref.size());
    CHECK(std::abs(sum / n) < 0.05);  // 5005 standard normals: mean within ~3.5 sigma
    CHECK(std::abs(sq / n - 1.0) < 0.07);
  }

  TEST_CASE("fill_normal: strided and transposed outputs get the same values") {
    dnft::cuda::executor ex;
    const dnft::philox_normal gen{.seed = 99, .stream = 1};
    const long B = 6, D = 70;
    auto packed = ex.allocate<float>(B * D);
    dnft::cuda::fill_normal(ex, gen, packed.view(B, D));
    auto colmajor = ex.allocate<float>(B * D);
    dnft::cuda::fill_normal(ex, gen, dnft::make_view(colmajor.data(), {B, D}, {1, B}, dnft::device_space{}));
    auto offset = ex.allocate<float>(B * D + 1);  // misaligned start: scalar stores
    dnft::cuda::fill_normal(ex, gen, dnft::make_view(offset.data() + 1, {B, 7, 10}, dnft::device_space{}));
    const auto p = ex.to_host(packed), c = ex.to_host(colmajor), o = ex.to_host(offset);
    for (long i = 0; i < B; ++i)
      for (long k = 0; k < D; ++k) {
        CHECK(c[std::size_t(k * B + i)] == p[std::size_t(i * D + k)]);
        CHECK(o[std::size_t(1 + i * D + k)] == p[std::size_t(i * D + k)]);
      }
    auto out = ex.allocate<float>(10);
    const auto overlapping = dnft::make_view(out.data(), {2, 5}, {0, 1}, dnft::device_space{});
    CHECK(message_of<dnft::layout_error>([&] { dnft::cuda::fill_normal(ex, gen, overlapping); }) ==
          "dnft::cuda::fill_normal: out: an output tensor has overlapping elements (a zero or too small stride)");
  }
}
