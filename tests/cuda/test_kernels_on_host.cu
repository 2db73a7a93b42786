// SPDX-License-Identifier: Apache-2.0
// The CUDA kernels' per-thread work (nft_thread_sums, nft_finish_one, nft_thread_grad,
// fill_normal_thread: host and device functions) run on the CPU over the same work items and
// threads a launch would use, against the host backend. No GPU needed: this checks the kernels'
// indexing, chunking, vector/strided access, Philox groups, storage conversions and flags.
// What it cannot check (the CUB block reduction, launches, copies) the cuda_device suite does.
#include <doctest/doctest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernel_support.cuh"

using namespace dnft_cuda_test;
namespace cd = dnft::cuda::detail;

namespace {

struct emulated {
  dnft::nft_stats st;
  std::vector<cd::nft_device_sample> rec;
  bool vec = false;
  cd::sample_grid grid;
};

//! The three kernels of cuda/nft_loss.cuh, their blocks and threads run in turn on the CPU.
template <bool HasRef, bool HasGrad, class T, class Noise>
emulated emulate(const dnft::detail::nft_args<T, dnft::host_space, Noise, vec_t, vec_t>& a,
                 const dnft::detail::nft_params& p, const dnft::cuda::launch_config& c, int sm_count) {
  emulated out;
  const long B = a.x0.batch, D = a.x0.elements;
  const cd::sample_grid g = cd::plan_sample_grid(B, D, sm_count, c);
  const bool vec = cd::groupable(a.x0) && cd::groupable(a.noise) && cd::groupable(a.v_theta) &&
                   cd::groupable(a.v_old) && (!HasRef || cd::groupable(a.v_ref)) && (!HasGrad || cd::groupable(a.grad));
  using R = dnft::cuda::compute_t<T>;
  std::vector<dnft::detail::nft_sums<double>> partials(std::size_t(g.items));
  for (long w = 0; w < g.items; ++w) {
    const cd::chunk_range r = cd::chunk_of(g, w, D);
    for (int tid = 0; tid < dnft::cuda::block_threads; ++tid)
      partials[std::size_t(w)] += cd::nft_thread_sums<HasRef>(a, r, tid, vec, R(p.beta));
  }
  out.rec.resize(std::size_t(B));
  for (long i = 0; i < B; ++i) out.rec[std::size_t(i)] = cd::nft_finish_one<HasRef>(a, g, p, partials.data(), i);
  if constexpr (HasGrad) {
    for (long w = 0; w < g.items; ++w) {
      const cd::chunk_range r = cd::chunk_of(g, w, D);
      if (out.rec[std::size_t(r.sample)].flags != 0) continue;
      for (int tid = 0; tid < dnft::cuda::block_threads; ++tid)
        cd::nft_thread_grad<HasRef>(a, r, tid, vec, R(p.beta), out.rec[std::size_t(r.sample)]);
    }
  }
  std::vector<dnft::detail::nft_sample> per(static_cast<std::size_t>(B));
  for (std::size_t i = 0; i < per.size(); ++i) per[i] = out.rec[i].s;
  out.st = dnft::detail::nft_reduce(per.data(), B, D, p);
  out.vec = vec;
  out.grid = g;
  return out;
}

template <class T>
struct host_problem {
  host_batch<T> x0, eps, vth, vold, vref, grad;
  std::vector<double> t, adv;
  host_problem(const problem& p, int layout)
      : x0(p.x0, p.B, p.D, layout),
        eps(p.eps, p.B, p.D, layout),
        vth(p.vth, p.B, p.D, layout),
        vold(p.vold, p.B, p.D, layout),
        vref(p.vref, p.B, p.D, layout),
        grad(std::vector<double>(p.x0.size(), -7.0), p.B, p.D, layout),
        t(p.t),
        adv(p.adv) {}
  template <class Noise>
  dnft::detail::nft_args<T, dnft::host_space, Noise, vec_t, vec_t> args(const Noise& noise) {
    return {x0.cview(), noise, vec_t{t.data(), long(t.size()), 1}, vec_t{adv.data(), long(adv.size()), 1},
            vth.cview(), vold.cview(), vref.cview(), grad.view};
  }
  dnft::detail::nft_args<T, dnft::host_space, dnft::detail::batch_view<const T, dnft::host_space>, vec_t, vec_t>
  args() {
    return args(eps.cview());
  }
};

dnft::detail::nft_params params_of(const dnft::nft_options& o) {
  return {o.beta, o.adv_clip_max, o.kl_weight, o.weight_floor, o.mode, o.space, o.weighting};
}

}  // namespace

TEST_SUITE("cuda_host") {
  TEST_CASE_TEMPLATE("kernel emulation matches the host backend for every option", T, float, double) {
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
    for (long D : {1036L, 1037L}) {  // groups loaded as vectors; strided loads and a partial group
      for (const auto& c : {h200, tiny})
        for (const auto& o : all_options())
          for (bool with_ref : {true, false}) {
            CAPTURE(describe(o));
            CAPTURE(with_ref);
            CAPTURE(c.min_elements_per_block);
            CAPTURE(D);
            const problem p(7, D, 31);
            host_problem<T> hp(p, 0);
            auto a = hp.args();
            const emulated e = with_ref ? emulate<true, true>(a, params_of(o), c, 132)
                                        : emulate<false, true>(a, params_of(o), c, 132);
            CHECK(e.vec == (D % 4 == 0));
            CHECK(e.grid.per_sample == (c.min_elements_per_block == 4 ? 5 : 1));
            auto x0 = to_storage<T>(p.x0), eps = to_storage<T>(p.eps), vth = to_storage<T>(p.vth),
                 vold = to_storage<T>(p.vold), vref = to_storage<T>(p.vref);
            std::vector<T> g(x0.size());
            auto v = [&](std::vector<T>& x) { return dnft::make_view(x.data(), {p.B, p.D}); };
            const auto h = with_ref
                               ? dnft::nft_loss(dnft::host, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref), v(g), o)
                               : dnft::nft_loss(dnft::host, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), dnft::none, v(g), o);
            check_stats(e.st, h, tol);
            check_close(hp.grad.values(), widen(g), tol, tol);
            for (const auto& r : e.rec) CHECK(r.flags == 0u);
          }
    }
  }

  TEST_CASE("kernel emulation: strided and misaligned layouts give bit-identical results") {
    const problem p(5, 1032, 32);
    host_problem<float> rm(p, 0), cm(p, 1), mis(p, 2);
    const auto prm = params_of({});
    const emulated a = emulate<true, true>(rm.args(), prm, tiny, 3);
    const emulated b = emulate<true, true>(cm.args(), prm, tiny, 3);
    const emulated c = emulate<true, true>(mis.args(), prm, tiny, 3);
    CHECK(a.vec);
    CHECK_FALSE(b.vec);
    CHECK_FALSE(c.vec);
    check_identical(b.st, a.st);
    check_identical(c.st, a.st);
    CHECK(cm.grad.values() == rm.grad.values());
    CHECK(mis.grad.values() == rm.grad.values());
    // and the same grid with one chunk per sample agrees to rounding
    host_problem<float> one(p, 0);
    const emulated d = emulate<true, true>(one.args(), prm, h200, 132);
    CHECK(d.grid.per_sample == 1);
    check_stats(d.st, a.st, 1e-6);
  }

  TEST_CASE_TEMPLATE("kernel emulation: Philox noise equals the same noise stored (bit for bit)", T, float, double,
                     __nv_bfloat16, __half) {
    const problem p(4, 1001, 33);
    const dnft::philox_normal gen{.seed = 5, .stream = dnft::stream_id(1, 2)};
    host_problem<T> a(p, 0), b(p, 0);
    // the stored noise: the host philox_normal values rounded to T
    for (long i = 0; i < p.B; ++i)
      for (long d = 0; d < p.D; ++d)
        b.eps.view(i, d) = dnft::cuda::from_float<T>(gen(std::uint64_t(i), std::uint64_t(d)));
    const auto prm = params_of({});
    const emulated x = emulate<true, true>(a.args(gen), prm, tiny, 2);
    const emulated y = emulate<true, true>(b.args(), prm, tiny, 2);
    check_identical(x.st, y.st);
    CHECK(a.grad.values() == b.grad.values());
  }

  TEST_CASE_TEMPLATE("kernel emulation: half and bfloat16 storage against double on the rounded values", T,
                     __nv_bfloat16, __half) {
    const problem p(6, 333, 34);
    host_problem<T> hp(p, 0);
    auto x0 = hp.x0.values(), eps = hp.eps.values(), vth = hp.vth.values(), vold = hp.vold.values(),
         vref = hp.vref.values();
    std::vector<double> g(x0.size());
    auto v = [&](std::vector<double>& x) { return dnft::make_view(x.data(), {p.B, p.D}); };
    for (const auto& o : all_options()) {
      CAPTURE(describe(o));
      const emulated e = emulate<true, true>(hp.args(), params_of(o), tiny, 1);
      const auto h = dnft::nft_loss(dnft::host, v(x0), v(eps), p.t, p.adv, v(vth), v(vold), v(vref), v(g), o);
      check_stats(e.st, h, 2e-5);
      check_close(hp.grad.values(), g, std::is_same_v<T, __nv_bfloat16> ? 0x1p-8 : 0x1p-11, 1e-5, underflow_error<T>);
    }
  }

  TEST_CASE("kernel emulation: bad t, advantages and elements raise their sample's flags only") {
    problem p(6, 50, 35);
    p.t[1] = 1.5;
    p.adv[2] = std::numeric_limits<double>::infinity();
    p.vold[std::size_t(4 * p.D + 7)] = std::numeric_limits<double>::quiet_NaN();
    host_problem<float> hp(p, 0);
    const emulated e = emulate<true, true>(hp.args(), params_of({}), tiny, 1);
    CHECK(e.rec[0].flags == 0u);
    CHECK(e.rec[1].flags == unsigned(cd::nft_flag_t_range));
    CHECK(e.rec[1].t == 1.5);
    CHECK(e.rec[2].flags == unsigned(cd::nft_flag_adv_nonfinite));
    CHECK(e.rec[3].flags == 0u);
    CHECK(e.rec[4].flags == unsigned(cd::nft_flag_sums_nonfinite));
    CHECK(e.rec[5].flags == 0u);
    // flagged samples keep their old gradient (-7), the others are written
    const auto g = hp.grad.values();
    for (long i = 0; i < p.B; ++i) {
      const bool flagged = i == 1 || i == 2 || i == 4;
      for (long d = 0; d < p.D; ++d) CHECK((g[std::size_t(i * p.D + d)] == -7.0) == flagged);
    }
  }

  TEST_CASE_TEMPLATE("fill_normal's per-thread work writes philox_normal's values, rounded to T", T, float, double,
                     __nv_bfloat16, __half) {
    const long B = 3, D = 1003;
    const dnft::philox_normal gen{.seed = 11, .stream = 12};
    for (int layout : {0, 1, 2}) {
      CAPTURE(layout);
      host_batch<T> out(std::vector<double>(std::size_t(B * D), 0.0), B, D, layout);
      for (const auto& c : {h200, tiny}) {
        const cd::sample_grid g = cd::plan_sample_grid(B, D, 4, c);
        for (long w = 0; w < g.items; ++w)
          for (int tid = 0; tid < dnft::cuda::block_threads; ++tid)
            cd::fill_normal_thread(gen, out.view, cd::chunk_of(g, w, D), tid, cd::groupable(out.view));
        std::vector<float> ref(static_cast<std::size_t>(D));
        for (long i = 0; i < B; ++i) {
          gen.fill(std::uint64_t(i), 0, std::uint64_t(D), ref.data());
          for (long d = 0; d < D; ++d)
            CHECK(dnft::cuda::to_double(out.view(i, d)) ==
                  dnft::cuda::to_double(dnft::cuda::from_float<T>(ref[std::size_t(d)])));
        }
      }
      // nothing outside the view was written
      if (layout == 2) CHECK(dnft::cuda::to_double(*(out.view.data - 1)) == 0.0);
    }
  }
}
