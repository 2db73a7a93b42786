// SPDX-License-Identifier: Apache-2.0
// nft_loss on dnft::cuda::executor with noise regenerated from Philox, with bfloat16 and half
// storage, and with managed memory; each against an independent computation on the same values.
#include <doctest/doctest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "nft_support.cuh"

using namespace dnft_cuda_test;

namespace {

//! Managed memory holding a copy of `v` as float (freed with the object).
struct managed_floats {
  float* p = nullptr;
  explicit managed_floats(const std::vector<double>& v) {
    dnft::cuda::check(cudaMallocManaged(&p, v.size() * sizeof(float)));
    for (std::size_t k = 0; k < v.size(); ++k) p[k] = float(v[k]);
  }
  managed_floats(const managed_floats&) = delete;
  managed_floats& operator=(const managed_floats&) = delete;
  ~managed_floats() { (void)cudaFree(p); }
};

//! A problem's inputs (and a gradient buffer) as float in managed memory.
struct managed_problem {
  long B, D;
  managed_floats x0, eps, vth, vold, vref, grad, t, adv;
  explicit managed_problem(const problem& p)
      : B(p.B), D(p.D), x0(p.x0), eps(p.eps), vth(p.vth), vold(p.vold), vref(p.vref), grad(p.x0), t(p.t), adv(p.adv) {}
  auto v(managed_floats& a) const { return dnft::make_view(a.p, {B, D}, dnft::managed_space{}); }
  //! nft_loss on the CUDA executor over the managed tensors (gradient into grad).
  dnft::nft_stats loss(const dnft::cuda::executor& ex) {
    const auto tv = dnft::make_view(t.p, {B}, dnft::managed_space{});
    const auto av = dnft::make_view(adv.p, {B}, dnft::managed_space{});
    return dnft::nft_loss(ex, v(x0), v(eps), tv, av, v(vth), v(vold), v(vref), v(grad));
  }
};

//! Keeps the stream busy for about `cycles` clock cycles of one multiprocessor.
__global__ void spin_kernel(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

}  // namespace

TEST_SUITE("cuda_device") {
  TEST_CASE_TEMPLATE("Philox noise in the kernel equals the same noise stored by fill_normal (bit for bit)", T, float,
                     __nv_bfloat16) {
    dnft::cuda::executor ex;
    const problem p(6, 1001, 21);
    device_problem<T> d(ex, p);
    const dnft::philox_normal gen{.seed = 77, .stream = dnft::stream_id(5, 2)};
    dnft::cuda::fill_normal(ex, gen, d.v(d.eps));
    const auto stored =
        dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad));
    const auto g_stored = widen(ex.to_host(d.grad));
    const auto regenerated =
        dnft::nft_loss(ex, d.v(d.x0), gen, d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad));
    check_identical(regenerated, stored);
    CHECK(widen(ex.to_host(d.grad)) == g_stored);
  }

  TEST_CASE("Philox noise: the device matches the host backend's Philox noise (to float ulps of the normals)") {
    dnft::cuda::executor ex;
    const problem p(5, 3001, 22);
    device_problem<float> d(ex, p);
    const dnft::philox_normal gen{.seed = 31337, .stream = 9};
    auto x0 = to_storage<float>(p.x0), vth = to_storage<float>(p.vth), vold = to_storage<float>(p.vold),
         vref = to_storage<float>(p.vref);
    std::vector<float> g(x0.size());
    auto v = [&](std::vector<float>& a) { return dnft::make_view(a.data(), {p.B, p.D}); };
    const auto host = dnft::nft_loss(dnft::host, v(x0), gen, p.t, p.adv, v(vth), v(vold), v(vref), v(g));
    const auto dev = dnft::nft_loss(ex, d.v(d.x0), gen, d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad));
    // the normals may differ in the last float bit (device versus host double libm): 1e-4
    check_stats(dev, host, 1e-4);
    check_close(widen(ex.to_host(d.grad)), widen(g), 1e-4, 1e-4);
  }

  TEST_CASE_TEMPLATE("half and bfloat16 storage match a double computation on the rounded values", T, __nv_bfloat16,
                     __half) {
    dnft::cuda::executor ex;
    const problem p(7, 1003, 23);
    device_problem<T, float> d(ex, p);  // t and advantages as float device vectors
    // the host sees exactly the values the device holds, in double
    auto x0 = widen(to_storage<T>(p.x0)), eps = widen(to_storage<T>(p.eps)), vth = widen(to_storage<T>(p.vth)),
         vold = widen(to_storage<T>(p.vold)), vref = widen(to_storage<T>(p.vref));
    const auto t = widen(to_storage<float>(p.t)), adv = widen(to_storage<float>(p.adv));
    std::vector<double> g(x0.size());
    auto v = [&](std::vector<double>& a) { return dnft::make_view(a.data(), {p.B, p.D}); };
    for (const auto& o : all_options()) {
      CAPTURE(describe(o));
      const auto host = dnft::nft_loss(dnft::host, v(x0), v(eps), t, adv, v(vth), v(vold), v(vref), v(g), o);
      const auto dev =
          dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad), o);
      // the device computes each element in float (sums in double): 2e-5 on the statistics; the
      // gradient is rounded once to T: half an ulp is 2^-9 (bfloat16) or 2^-12 (half) relative
      check_stats(dev, host, 2e-5);
      const double rel = std::is_same_v<T, __nv_bfloat16> ? 0x1p-8 : 0x1p-11;
      check_close(widen(ex.to_host(d.grad)), g, rel, 1e-5, underflow_error<T>);
    }
  }

  TEST_CASE("managed memory: the same results as device memory; t is checked by the kernels, with the host's message") {
    dnft::cuda::executor ex;
    problem p(4, 515, 24);
    device_problem<float> d(ex, p);
    const auto dev =
        dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad));
    const auto g_dev = widen(ex.to_host(d.grad));

    managed_problem m(p);
    check_stats(m.loss(ex), dev, 1e-6);  // t and advantages are float here, double on the device problem
    std::vector<double> g_man(g_dev.size());
    for (std::size_t k = 0; k < g_man.size(); ++k) g_man[k] = m.grad.p[k];
    check_close(g_man, g_dev, 1e-5, 1e-6);

    // Not read by the front door (queued work on the stream may still write managed inputs): the
    // kernels see it and the backend reports it as the host front door would.
    m.t.p[1] = 2.0f;
    CHECK(message_of<dnft::value_error>([&] { m.loss(ex); }) ==
          "dnft::nft_loss: t: expected values in [0, 1], got 2 at sample 1");
  }

  TEST_CASE("managed memory: inputs written by work still queued on the stream are read after that work") {
    dnft::cuda::executor ex;
    problem p(4, 515, 25);
    device_problem<float> d(ex, p);
    const auto dev =
        dnft::nft_loss(ex, d.v(d.x0), d.v(d.eps), d.t, d.adv, d.v(d.vth), d.v(d.vold), d.v(d.vref), d.v(d.grad));

    managed_problem m(p);
    // t holds invalid times until a copy queued behind ~50 ms of device work writes the real ones:
    // a front door that read managed t on the host at the call would see 2 and refuse the call.
    float* raw = nullptr;
    dnft::cuda::check(cudaMallocHost(&raw, std::size_t(p.B) * sizeof(float)));
    const std::unique_ptr<float, cudaError_t (*)(void*)> owner(raw, cudaFreeHost);
    float* pinned = owner.get();
    for (dnft::index_t i = 0; i < p.B; ++i) {
      pinned[i] = float(p.t[std::size_t(i)]);
      m.t.p[i] = 2.0f;
    }
    spin_kernel<<<1, 1, 0, ex.stream()>>>(100'000'000);
    dnft::cuda::check_launch();
    dnft::cuda::check(cudaMemcpyAsync(m.t.p, pinned, std::size_t(p.B) * sizeof(float), cudaMemcpyDefault, ex.stream()));
    check_stats(m.loss(ex), dev, 1e-6);
  }
}
