// SPDX-License-Identifier: Apache-2.0
// The per-thread work of the CUDA backends beside nft_loss (forward_noise, flow_matching_loss,
// fill_times, group_advantages, the flat-buffer operations, lincomb, sde_step and
// transition_log_prob, flow_grpo_loss: host and device functions) run on the CPU over the work
// items and threads a launch would use, against the host backends on identical inputs (the same
// Philox streams). No GPU needed. Where the arithmetic is the host backend's, operation for
// operation, results must be identical bit for bit (this TU's host compiler does not contract
// multiply-adds); where only the summation order differs (per-thread partial sums added in
// thread order here, by CUB's tree on the device), to 1e-12 relative.
// What this cannot check (CUB reductions and sorts, launches, copies) the cuda_device suite does.
#include <doctest/doctest.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#include "kernel_support.cuh"

using namespace dnft_cuda_test;
namespace cd = dnft::cuda::detail;

namespace {

// ---- forward_noise ----------------------------------------------------------------------------

//! forward_noise's kernel run on the CPU: the OR of every thread's flags per work item (as the
//! kernel writes them), then per sample with flags_per_sample (the backend's host side).
template <bool HasEps, bool HasU, class T, class Noise>
std::vector<unsigned> emulate_forward(const dnft::detail::forward_noise_args<T, dnft::host_space, Noise, vec_t>& a,
                                      const dnft::cuda::launch_config& c, int sms) {
  const long B = a.x0.batch, D = a.x0.elements;
  const bool vec = cd::groupable(a.x0) && cd::groupable(a.noise) && cd::groupable(a.x_t) &&
                   (!HasEps || cd::groupable(a.eps)) && (!HasU || cd::groupable(a.u));
  const auto g0 = cd::plan_sample_grid(B, D, sms, c);
  std::vector<unsigned char> items(std::size_t(g0.items), 0);
  const auto g = for_each_thread(B, D, c, sms, [&](long w, const cd::chunk_range& r, int tid) {
    items[std::size_t(w)] |= static_cast<unsigned char>(cd::forward_noise_thread<HasEps, HasU>(a, r, tid, vec));
  });
  return cd::flags_per_sample(items, g, B);
}

// ---- flow_matching_loss -----------------------------------------------------------------------

struct fm_emulated {
  dnft::flow_matching_stats st;
  std::vector<cd::fm_device_sample> rec;
};

//! flow_matching_loss's three kernels run on the CPU (block sums added in thread order).
template <bool HasGrad, class T, class Noise>
fm_emulated emulate_fm(const dnft::detail::flow_matching_args<T, dnft::host_space, Noise, vec_t>& a,
                       dnft::time_weighting w, const dnft::cuda::launch_config& c, int sms) {
  const long B = a.x0.batch, D = a.x0.elements;
  const bool vec =
      cd::groupable(a.x0) && cd::groupable(a.noise) && cd::groupable(a.v) && (!HasGrad || cd::groupable(a.grad));
  std::vector<double> partials(std::size_t(cd::plan_sample_grid(B, D, sms, c).items), 0.0);
  const auto g = for_each_thread(B, D, c, sms, [&](long item, const cd::chunk_range& r, int tid) {
    partials[std::size_t(item)] += cd::fm_thread_sum(a, r, tid, vec);
  });
  fm_emulated out;
  out.rec.resize(std::size_t(B));
  for (long i = 0; i < B; ++i) out.rec[std::size_t(i)] = cd::fm_finish_one(a, g, w, partials.data(), i);
  if constexpr (HasGrad)
    for_each_thread(B, D, c, sms, [&](long, const cd::chunk_range& r, int tid) {
      if (out.rec[std::size_t(r.sample)].flags == 0) cd::fm_thread_grad(a, r, tid, vec, out.rec[std::size_t(r.sample)]);
    });
  std::vector<dnft::detail::fm_sample> per(static_cast<std::size_t>(B));
  for (std::size_t i = 0; i < per.size(); ++i) per[i] = out.rec[i].s;
  out.st = dnft::detail::fm_reduce(per.data(), B, D);
  return out;
}

void check_fm_stats(const dnft::flow_matching_stats& got, const dnft::flow_matching_stats& want, double tol) {
  CHECK(got.loss == doctest::Approx(want.loss).epsilon(tol));
  CHECK(got.mse == doctest::Approx(want.mse).epsilon(tol));
  CHECK(got.mean_weight == want.mean_weight);  // from t alone: the same operations
  CHECK(got.batch == want.batch);
  CHECK(got.elements == want.elements);
}

const dnft::time_weighting all_weightings[] = {dnft::time_weighting::uniform, dnft::time_weighting::time,
                                               dnft::time_weighting::one_minus_time, dnft::time_weighting::cosmap,
                                               dnft::time_weighting::sigma_sqrt};

// ---- sde_step and transition_log_prob ---------------------------------------------------------

//! sde_step's kernels on the CPU; returns the first flagged sample (or -1).
template <class T, class LogP>
long emulate_sde(const dnft::detail::sde_step_args<T, dnft::host_space, LogP>& a, const dnft::cuda::launch_config& c,
                 int sms) {
  const long B = a.x.batch, D = a.x.elements;
  const bool vec = cd::groupable(a.x) && cd::groupable(a.v) && cd::groupable(a.x_next);
  std::vector<double> partials(std::size_t(cd::plan_sample_grid(B, D, sms, c).items), 0.0);
  const auto g = for_each_thread(B, D, c, sms, [&](long w, const cd::chunk_range& r, int tid) {
    partials[std::size_t(w)] += cd::sde_step_thread(a, r, tid, vec);
  });
  long bad = -1;
  for (long i = 0; i < B; ++i)
    if (cd::sde_finish_one(g, partials.data(), i, D, a.scale, a.log_prob) != 0 && bad < 0) bad = i;
  return bad;
}

template <class T, class LogP, class Grad>
long emulate_transition(const dnft::detail::transition_log_prob_args<T, dnft::host_space, LogP, Grad>& a,
                        const dnft::cuda::launch_config& c, int sms) {
  const long B = a.x.batch, D = a.x.elements;
  constexpr bool has_grad = !std::is_same_v<Grad, dnft::detail::no_output>;
  bool vec = cd::groupable(a.x) && cd::groupable(a.v) && cd::groupable(a.x_next);
  if constexpr (has_grad) vec = vec && cd::groupable(a.grad);
  std::vector<double> partials(std::size_t(cd::plan_sample_grid(B, D, sms, c).items), 0.0);
  const auto g = for_each_thread(B, D, c, sms, [&](long w, const cd::chunk_range& r, int tid) {
    partials[std::size_t(w)] += cd::transition_thread_sum(a, r, tid, vec);
  });
  if constexpr (has_grad)
    for_each_thread(B, D, c, sms,
                    [&](long, const cd::chunk_range& r, int tid) { cd::transition_thread_grad(a, r, tid, vec); });
  long bad = -1;
  for (long i = 0; i < B; ++i)
    if (cd::sde_finish_one(g, partials.data(), i, D, a.scale, a.log_prob) != 0 && bad < 0) bad = i;
  return bad;
}

// ---- flow_grpo_loss ---------------------------------------------------------------------------

struct grpo_emulated {
  dnft::flow_grpo_stats st;
  std::vector<cd::grpo_device_sample> rec;
};

template <bool HasRef, bool HasGrad, class T>
grpo_emulated emulate_grpo(const dnft::detail::flow_grpo_args<T, dnft::host_space, vec_t, vec_t>& a,
                           const dnft::detail::flow_grpo_params& p, const dnft::cuda::launch_config& c, int sms) {
  const long B = a.x.batch, D = a.x.elements;
  const bool vec = cd::groupable(a.x) && cd::groupable(a.x_next) && cd::groupable(a.v_theta) &&
                   (!HasRef || cd::groupable(a.v_ref)) && (!HasGrad || cd::groupable(a.grad));
  std::vector<dnft::detail::flow_grpo_sums> partials(std::size_t(cd::plan_sample_grid(B, D, sms, c).items));
  const auto g = for_each_thread(B, D, c, sms, [&](long w, const cd::chunk_range& r, int tid) {
    partials[std::size_t(w)] =
        cd::grpo_sums_plus{}(partials[std::size_t(w)], cd::grpo_thread_sums<HasRef>(a, p, r, tid, vec));
  });
  grpo_emulated out;
  out.rec.resize(std::size_t(B));
  for (long i = 0; i < B; ++i) out.rec[std::size_t(i)] = cd::grpo_finish_one<HasRef>(a, p, g, partials.data(), i);
  if constexpr (HasGrad)
    for_each_thread(B, D, c, sms, [&](long, const cd::chunk_range& r, int tid) {
      if (out.rec[std::size_t(r.sample)].flags == 0)
        cd::grpo_thread_grad<HasRef>(a, p, r, tid, vec, out.rec[std::size_t(r.sample)]);
    });
  // the backend's host-side reduction, written out independently here
  auto& st = out.st;
  for (const auto& r : out.rec) {
    st.policy_loss += r.s.policy_loss;
    st.kl += r.s.kl;
    st.mean_ratio += r.s.ratio;
    st.clip_fraction += r.s.clipped ? 1.0 : 0.0;
    st.mean_log_prob += r.s.log_prob;
    st.approx_kl_sample += r.log_prob_sample - r.s.log_prob;
  }
  st.policy_loss /= double(B);
  st.kl /= double(B);
  st.mean_ratio /= double(B);
  st.clip_fraction /= double(B);
  st.mean_log_prob /= double(B);
  st.approx_kl_sample /= double(B);
  st.loss = st.policy_loss + p.kl_weight * st.kl;
  return out;
}

}  // namespace

TEST_SUITE("cuda_host") {
  // ---- forward_noise --------------------------------------------------------------------------

  TEST_CASE_TEMPLATE("forward_noise's per-thread work gives the host backend's x_t, eps and u bit for bit", T, float,
                     double) {
    const long B = 5;
    const dnft::philox_normal gen{.seed = 3, .stream = dnft::stream_id(4, 5)};
    for (long D : {1036L, 1037L})
      for (int layout : {0, 1, 2})
        for (const auto& c : {h200, tiny})
          for (bool philox : {false, true}) {
            CAPTURE(D);
            CAPTURE(layout);
            CAPTURE(c.min_elements_per_block);
            CAPTURE(philox);
            const auto x0 = dnft_test::normal_data(std::size_t(B * D), 41),
                       eps = dnft_test::normal_data(std::size_t(B * D), 42);
            const auto t = times(B, 43);
            host_batch<T> hx(x0, B, D, layout), he(eps, B, D, layout), xt(B, D, layout), eo(B, D, layout),
                uo(B, D, layout);
            std::vector<unsigned> flags;
            if (philox) {
              dnft::detail::forward_noise_args<T, dnft::host_space, dnft::philox_normal, vec_t> a{
                  hx.cview(), gen, vec_of(t), xt.view, eo.view, uo.view};
              flags = emulate_forward<true, true>(a, c, 132);
            } else {
              dnft::detail::forward_noise_args<T, dnft::host_space, dnft::detail::batch_view<const T, dnft::host_space>,
                                               vec_t>
                  a{hx.cview(), he.cview(), vec_of(t), xt.view, eo.view, uo.view};
              flags = emulate_forward<true, true>(a, c, 132);
            }
            for (unsigned f : flags) CHECK(f == 0u);
            auto px0 = to_storage<T>(x0), peps = to_storage<T>(eps);
            std::vector<T> pxt(px0.size()), peo(px0.size()), puo(px0.size());
            if (philox)
              dnft::forward_noise(dnft::host, view2(px0, B, D), gen, t, view2(pxt, B, D), view2(peo, B, D),
                                  view2(puo, B, D));
            else
              dnft::forward_noise(dnft::host, view2(px0, B, D), view2(peps, B, D), t, view2(pxt, B, D),
                                  view2(peo, B, D), view2(puo, B, D));
            CHECK(xt.values() == widen(pxt));
            CHECK(eo.values() == widen(peo));
            CHECK(uo.values() == widen(puo));
          }
  }

  TEST_CASE_TEMPLATE("forward_noise's per-thread work with half and bfloat16 storage: float compute, one rounding", T,
                     __nv_bfloat16, __half) {
    const long B = 4, D = 1001;
    const dnft::philox_normal gen{.seed = 8, .stream = 9};
    const auto x0 = dnft_test::normal_data(std::size_t(B * D), 44);
    const auto t = times(B, 45);
    host_batch<T> hx(x0, B, D, 0), xt(B, D, 0), eo(B, D, 0);
    dnft::detail::forward_noise_args<T, dnft::host_space, dnft::philox_normal, vec_t> a{hx.cview(), gen,     vec_of(t),
                                                                                        xt.view,    eo.view, {}};
    for (unsigned f : emulate_forward<true, false>(a, tiny, 1)) CHECK(f == 0u);
    const auto x = hx.values(), got = xt.values(), e = eo.values();
    std::vector<double> want(x.size());
    for (long i = 0; i < B; ++i)
      for (long d = 0; d < D; ++d) {
        const std::size_t k = std::size_t(i * D + d);
        // eps: the Philox normal rounded to T, exactly
        CHECK(e[k] == dnft::cuda::to_double(dnft::cuda::from_float<T>(gen(std::uint64_t(i), std::uint64_t(d)))));
        const double tf = double(float(t[std::size_t(i)]));
        want[k] = (1.0 - tf) * x[k] + tf * e[k];  // in double on the values the kernel sees
      }
    // float arithmetic, then one rounding to T: half an ulp of T, plus float's own error
    check_close(got, want, std::is_same_v<T, __nv_bfloat16> ? 0x1p-8 : 0x1p-10, 0.0, underflow_error<T> + 1e-7);
  }

  TEST_CASE("forward_noise's per-thread flags: t out of range, non-finite x0 or noise, per sample only") {
    const long B = 6, D = 50;
    auto x0 = dnft_test::normal_data(std::size_t(B * D), 46), eps = dnft_test::normal_data(std::size_t(B * D), 47);
    auto t = times(B, 48);
    t[1] = 1.5;
    t[2] = nan_v;
    x0[std::size_t(3 * D + 7)] = nan_v;
    eps[std::size_t(5 * D + 49)] = -inf_v;  // the last element: a partial group of a strided layout below
    for (int layout : {0, 1})
      for (const auto& c : {h200, tiny}) {
        host_batch<float> hx(x0, B, D, layout), he(eps, B, D, layout), xt(B, D, layout);
        dnft::detail::forward_noise_args<float, dnft::host_space,
                                         dnft::detail::batch_view<const float, dnft::host_space>, vec_t>
            a{hx.cview(), he.cview(), vec_of(t), xt.view, {}, {}};
        const auto f = emulate_forward<false, false>(a, c, 1);
        CHECK(f[0] == 0u);
        CHECK(f[1] == unsigned(cd::forward_flag_t_range));
        CHECK(f[2] == unsigned(cd::forward_flag_t_range));
        CHECK(f[3] == unsigned(cd::forward_flag_nonfinite));
        CHECK(f[4] == 0u);
        CHECK(f[5] == unsigned(cd::forward_flag_nonfinite));
      }
  }

  // ---- flow_matching_loss ---------------------------------------------------------------------

  TEST_CASE_TEMPLATE("flow_matching_loss's kernels on the CPU match the host backend for every weighting", T, float,
                     double) {
    const long B = 6;
    const dnft::philox_normal gen{.seed = 12, .stream = 13};
    for (long D : {1036L, 1037L})
      for (int layout : {0, 1, 2})
        for (const auto& c : {h200, tiny})
          for (auto w : all_weightings)
            for (bool philox : {false, true}) {
              CAPTURE(D);
              CAPTURE(layout);
              CAPTURE(int(w));
              CAPTURE(philox);
              const auto x0 = dnft_test::normal_data(std::size_t(B * D), 51),
                         eps = dnft_test::normal_data(std::size_t(B * D), 52);
              auto v = dnft_test::normal_data(std::size_t(B * D), 53, 0.3);
              for (std::size_t k = 0; k < v.size(); ++k) v[k] += eps[k] - x0[k];
              auto t = times(B, 54);
              if (w == dnft::time_weighting::sigma_sqrt) t[0] = 0.25;  // w = 1 / t^2 needs t > 0
              host_batch<T> hx(x0, B, D, layout), he(eps, B, D, layout), hv(v, B, D, layout),
                  hg(std::vector<double>(x0.size(), -7.0), B, D, layout);
              fm_emulated e;
              if (philox) {
                dnft::detail::flow_matching_args<T, dnft::host_space, dnft::philox_normal, vec_t> a{
                    hx.cview(), gen, vec_of(t), hv.cview(), hg.view};
                e = emulate_fm<true>(a, w, c, 132);
              } else {
                dnft::detail::flow_matching_args<T, dnft::host_space,
                                                 dnft::detail::batch_view<const T, dnft::host_space>, vec_t>
                    a{hx.cview(), he.cview(), vec_of(t), hv.cview(), hg.view};
                e = emulate_fm<true>(a, w, c, 132);
              }
              for (const auto& r : e.rec) CHECK(r.flags == 0u);
              auto px0 = to_storage<T>(x0), peps = to_storage<T>(eps), pv = to_storage<T>(v);
              std::vector<T> pg(px0.size());
              const dnft::flow_matching_options o{w};
              const auto h = philox ? dnft::flow_matching_loss(dnft::host, view2(px0, B, D), gen, t, view2(pv, B, D),
                                                               view2(pg, B, D), o)
                                    : dnft::flow_matching_loss(dnft::host, view2(px0, B, D), view2(peps, B, D), t,
                                                               view2(pv, B, D), view2(pg, B, D), o);
              // the same squared errors in double, summed in another order
              check_fm_stats(e.st, h, 1e-12);
              // the gradient coefficient depends on t only: the same operations, bit for bit
              CHECK(hg.values() == widen(pg));
            }
  }

  TEST_CASE_TEMPLATE("flow_matching_loss's kernels on the CPU: half and bfloat16 storage against double", T,
                     __nv_bfloat16, __half) {
    const long B = 5, D = 333;
    const auto x0r = dnft_test::normal_data(std::size_t(B * D), 55),
               epsr = dnft_test::normal_data(std::size_t(B * D), 56);
    auto vr = dnft_test::normal_data(std::size_t(B * D), 57, 0.3);
    for (std::size_t k = 0; k < vr.size(); ++k) vr[k] += epsr[k] - x0r[k];
    const auto t = times(B, 58);
    host_batch<T> hx(x0r, B, D, 0), he(epsr, B, D, 0), hv(vr, B, D, 0), hg(B, D, 0);
    dnft::detail::flow_matching_args<T, dnft::host_space, dnft::detail::batch_view<const T, dnft::host_space>, vec_t> a{
        hx.cview(), he.cview(), vec_of(t), hv.cview(), hg.view};
    auto x0 = hx.values(), eps = he.values(), v = hv.values();
    std::vector<double> g(x0.size());
    for (auto w : all_weightings) {
      CAPTURE(int(w));
      if (w == dnft::time_weighting::sigma_sqrt) continue;  // t[0] = 0
      const fm_emulated e = emulate_fm<true>(a, w, tiny, 1);
      const auto h = dnft::flow_matching_loss(dnft::host, view2(x0, B, D), view2(eps, B, D), t, view2(v, B, D),
                                              view2(g, B, D), dnft::flow_matching_options{w});
      // elements widened exactly to double and summed in double: only the order differs
      check_fm_stats(e.st, h, 1e-12);
      check_close(hg.values(), g, std::is_same_v<T, __nv_bfloat16> ? 0x1p-8 : 0x1p-10, 1e-6, underflow_error<T>);
    }
  }

  TEST_CASE("flow_matching_loss's finishing pass raises its flags per sample") {
    const long B = 5, D = 40;
    auto x0 = dnft_test::normal_data(std::size_t(B * D), 59), eps = dnft_test::normal_data(std::size_t(B * D), 60),
         v = dnft_test::normal_data(std::size_t(B * D), 61);
    auto t = times(B, 62);
    t[2] = -0.5;
    v[std::size_t(4 * D + 3)] = inf_v;
    host_batch<double> hx(x0, B, D, 0), he(eps, B, D, 0), hv(v, B, D, 0), hg(B, D, 0);
    dnft::detail::flow_matching_args<double, dnft::host_space, dnft::detail::batch_view<const double, dnft::host_space>,
                                     vec_t>
        a{hx.cview(), he.cview(), vec_of(t), hv.cview(), hg.view};
    const auto e = emulate_fm<true>(a, dnft::time_weighting::sigma_sqrt, tiny, 1);
    CHECK(e.rec[0].flags == unsigned(cd::forward_flag_t_not_positive));  // t = 0
    CHECK(e.rec[1].flags == 0u);
    CHECK(e.rec[2].flags == unsigned(cd::forward_flag_t_range | cd::forward_flag_t_not_positive));
    CHECK(e.rec[2].t == -0.5);
    CHECK(e.rec[3].flags == 0u);
    CHECK(e.rec[4].flags == unsigned(cd::forward_flag_nonfinite));
  }

  // ---- fill_times and fill_normal -------------------------------------------------------------

  TEST_CASE_TEMPLATE("fill_times's per-thread work writes the host backend's times bit for bit", T, float, double) {
    for (auto dist : {dnft::time_distribution::uniform, dnft::time_distribution::logit_normal}) {
      const dnft::time_sampler s{.distribution = dist, .logit_mean = 0.3, .logit_std = 1.2, .seed = 21, .stream = 22};
      const long n = 101;
      std::vector<T> mem(std::size_t(2 * n), T(-1)), want(static_cast<std::size_t>(n));
      const dnft::detail::vector_view<T, dnft::host_space> out{mem.data(), n, 2};  // strided
      const cd::time_draw p{s.seed, s.stream, 1000, s.distribution, s.logit_mean, s.logit_std};
      for (long k = 0; k < n; ++k) cd::fill_times_thread(out, p, k);
      dnft::fill_times(dnft::host, want, s, 1000);
      for (long k = 0; k < n; ++k) {
        CHECK(mem[std::size_t(2 * k)] == want[std::size_t(k)]);
        CHECK(mem[std::size_t(2 * k + 1)] == T(-1));
      }
    }
  }

  // ---- group_advantages -----------------------------------------------------------------------

  TEST_CASE("group_advantages' per-thread work and host side give the host backend's results bit for bit") {
    // ids in any order, groups of different sizes (one of equal rewards), negative ids
    const std::vector<std::int64_t> ids{7, -3, 7, 2, 2, -3, 9, 7, 2, -3, 9, 7, 2, 40, 40};
    const long B = long(ids.size());
    auto rewards = dnft_test::normal_data(std::size_t(B), 63, 2.0, 1.0);
    rewards[13] = rewards[14] = 0.5;  // group 40: zero std
    // the stable sort the device does with CUB, done here with the standard library
    std::vector<long> order(static_cast<std::size_t>(B));
    std::iota(order.begin(), order.end(), 0L);
    std::stable_sort(order.begin(), order.end(),
                     [&](long a, long b) { return ids[std::size_t(a)] < ids[std::size_t(b)]; });
    std::vector<std::int64_t> sorted(static_cast<std::size_t>(B));
    for (long k = 0; k < B; ++k) sorted[std::size_t(k)] = ids[std::size_t(order[std::size_t(k)])];
    const dnft::detail::vector_view<const double, dnft::host_space> r{rewards.data(), B, 1};
    const cd::reward_totals tot = cd::reward_totals_of(r);
    CHECK(tot.first_nonfinite == -1);
    std::vector<cd::group_record> rec(static_cast<std::size_t>(B));
    for (long k = 0; k < B; ++k) cd::group_stats_thread(sorted.data(), order.data(), r, k, rec.data());
    for (bool global : {true, false}) {
      CAPTURE(global);
      const dnft::group_advantage_options opt{global, 1e-4};
      std::vector<float> out(std::size_t(B), -1.0f), want(static_cast<std::size_t>(B));
      const dnft::detail::vector_view<float, dnft::host_space> ov{out.data(), B, 1};
      const auto st = cd::advantage_stats_of(tot, rec, sorted, order, opt.global_std, opt.eps, "group_advantages");
      for (long k = 0; k < B; ++k)
        cd::group_advantage_thread(order.data(), r, rec.data(), ov, opt.global_std, st.reward_std, opt.eps, k);
      const auto h = dnft::group_advantages(dnft::host, rewards, ids, want, opt);
      CHECK(out == want);
      CHECK(st.reward_mean == h.reward_mean);
      CHECK(st.reward_std == h.reward_std);
      CHECK(st.groups == 5);
      CHECK(st.groups == h.groups);
      CHECK(st.min_group_size == 2);
      CHECK(st.min_group_size == h.min_group_size);
      CHECK(st.max_group_size == 4);
      CHECK(st.max_group_size == h.max_group_size);
      CHECK(st.zero_std_fraction == h.zero_std_fraction);
    }
  }

  TEST_CASE("group_advantages' host side: the host backend's errors, and a non-finite reward found in order") {
    const std::vector<int> ids{3, 1, 3, 2, 1};
    std::vector<double> rewards{1.0, 2.0, 3.0, 4.0, 5.0};
    const long B = 5;
    auto run = [&](const std::vector<double>& rw, const dnft::group_advantage_options& opt) {
      std::vector<long> order(static_cast<std::size_t>(B));
      std::iota(order.begin(), order.end(), 0L);
      std::stable_sort(order.begin(), order.end(),
                       [&](long a, long b) { return ids[std::size_t(a)] < ids[std::size_t(b)]; });
      std::vector<int> sorted(static_cast<std::size_t>(B));
      for (long k = 0; k < B; ++k) sorted[std::size_t(k)] = ids[std::size_t(order[std::size_t(k)])];
      const dnft::detail::vector_view<const double, dnft::host_space> r{rw.data(), B, 1};
      std::vector<cd::group_record> rec(static_cast<std::size_t>(B));
      for (long k = 0; k < B; ++k) cd::group_stats_thread(sorted.data(), order.data(), r, k, rec.data());
      (void)cd::advantage_stats_of(cd::reward_totals_of(r), rec, sorted, order, opt.global_std, opt.eps,
                                   "group_advantages");
    };
    auto host = [&](const std::vector<double>& rw, const dnft::group_advantage_options& opt) {
      std::vector<double> out(rw.size());
      (void)dnft::group_advantages(dnft::host, rw, ids, out, opt);
    };
    // group 2 has one member: no per-group std
    const dnft::group_advantage_options per_group{false, 1e-4};
    const std::string single = message_of<dnft::value_error>([&] { run(rewards, per_group); });
    CHECK(single == message_of<dnft::value_error>([&] { host(rewards, per_group); }));
    CHECK(single ==
          "dnft::group_advantages: group_ids: group 2 has a single member (sample 3); the per-group std needs at least "
          "2 members: use global_std = true or larger groups");
    // all rewards equal and eps = 0
    const std::vector<double> equal(std::size_t(B), 0.25);
    const dnft::group_advantage_options no_eps{true, 0.0};
    const std::string zero = message_of<dnft::value_error>([&] { run(equal, no_eps); });
    CHECK(zero == message_of<dnft::value_error>([&] { host(equal, no_eps); }));
    CHECK(zero ==
          "dnft::group_advantages: eps: the rewards of group 1 (and all rewards) are all equal and eps is 0: "
          "the advantages would be 0 / 0; use eps > 0");
    // the first non-finite reward, in sample order
    rewards[3] = nan_v;
    rewards[1] = inf_v;
    const dnft::detail::vector_view<const double, dnft::host_space> r{rewards.data(), B, 1};
    CHECK(cd::reward_totals_of(r).first_nonfinite == 1);
  }

  // ---- flat-buffer operations -----------------------------------------------------------------

  TEST_CASE_TEMPLATE("soft update, scale and AdamW: the per-element work gives the host backends' values bit for bit",
                     T, float, double) {
    const long n = 3 * 8192 + 5;
    const auto th = dnft_test::normal_data(std::size_t(n), 64), g0 = dnft_test::normal_data(std::size_t(n), 65, 0.1);
    for (long stride : {1L, 3L}) {
      CAPTURE(stride);
      auto strided = [&](const std::vector<double>& v) {
        std::vector<T> m(std::size_t(n * stride), T(0));
        for (long k = 0; k < n; ++k) m[std::size_t(k * stride)] = T(v[std::size_t(k)]);
        return m;
      };
      auto view = [&](std::vector<T>& m) {
        return dnft::detail::vector_view<T, dnft::host_space>{m.data(), n, stride};
      };
      auto cview = [&](const std::vector<T>& m) {
        return dnft::detail::vector_view<const T, dnft::host_space>{m.data(), n, stride};
      };
      auto hview = [&](std::vector<T>& m) { return dnft::make_view(m.data(), {n}, {stride}); };
      // soft update
      auto old_e = strided(g0), old_h = old_e;
      const auto theta = strided(th);
      const double d = 0.37;
      for (long k = 0; k < n; ++k) cd::soft_update_thread(view(old_e), cview(theta), T(d), T(1.0 - d), k);
      dnft::soft_update(dnft::host, hview(old_h), dnft::make_view(theta.data(), {n}, {stride}), d);
      CHECK(old_e == old_h);
      // scale
      auto x_e = strided(th), x_h = x_e;
      for (long k = 0; k < n; ++k) cd::scale_thread(view(x_e), T(0.3), k);
      dnft::grad_norm_backend<dnft::host_executor>::scale(dnft::host, view(x_h), 0.3);
      CHECK(x_e == x_h);
      // three AdamW steps
      auto p_e = strided(th), m_e = strided(std::vector<double>(std::size_t(n), 0.0)), v_e = m_e;
      auto p_h = p_e, m_h = m_e, v_h = v_e;
      const auto g = strided(g0);
      const dnft::adamw_options o{.lr = 1e-2, .weight_decay = 0.1};
      for (std::int64_t step = 1; step <= 3; ++step) {
        const auto s = dnft::detail::make_adamw_scalars(o.lr, o.beta1, o.beta2, o.weight_decay, o.eps, step);
        const auto c = dnft::detail::round_adamw<T>(s);
        for (long k = 0; k < n; ++k) cd::adamw_thread(view(p_e), cview(g), view(m_e), view(v_e), c, k);
        dnft::adamw_step(dnft::host, hview(p_h), dnft::make_view(g.data(), {n}, {stride}), hview(m_h), hview(v_h), step,
                         o);
      }
      CHECK(p_e == p_h);
      CHECK(m_e == m_h);
      CHECK(v_e == v_h);
    }
  }

  TEST_CASE_TEMPLATE("sum of squares and first non-finite element: the chunked per-thread work against the host", T,
                     float, double) {
    for (long n : {1L, 8192L, 3 * 8192L + 5}) {
      CAPTURE(n);
      auto v = dnft_test::normal_data(std::size_t(n), 66);
      std::vector<T> x(v.begin(), v.end());
      const dnft::detail::vector_view<const T, dnft::host_space> xv{x.data(), n, 1};
      auto emulate_sum = [&] {
        double total = 0;
        for (long c = 0; c < dnft::detail::chunk_count(n, dnft::detail::reduce_block); ++c) {
          double s = 0;  // the block's reduction, in thread order here
          for (int tid = 0; tid < dnft::cuda::block_threads; ++tid) s += cd::sum_squares_thread(xv, c, tid);
          total += s;  // chunks in order, as the backend's host side adds them
        }
        return total;
      };
      auto emulate_first = [&] {
        for (long c = 0; c < dnft::detail::chunk_count(n, dnft::detail::reduce_block); ++c) {
          long f = cd::no_index;
          for (int tid = 0; tid < dnft::cuda::block_threads; ++tid)
            f = cd::index_min{}(f, cd::first_nonfinite_thread(xv, c, tid));
          if (f != cd::no_index) return f;
        }
        return -1L;
      };
      CHECK(std::sqrt(emulate_sum()) == doctest::Approx(dnft::l2_norm(dnft::host, x)).epsilon(1e-13));
      CHECK(emulate_first() == -1);
      if (n > 8192) {
        x[std::size_t(n - 2)] = T(inf_v);
        x[9000] = T(nan_v);
        x[9001] = T(nan_v);
        CHECK(emulate_first() == 9000);
        CHECK(emulate_first() == dnft::grad_norm_backend<dnft::host_executor>::first_nonfinite(dnft::host, xv));
        CHECK_FALSE(std::isfinite(emulate_sum()));
      }
    }
  }

  // ---- lincomb --------------------------------------------------------------------------------

  TEST_CASE_TEMPLATE("lincomb's per-thread work gives the host backend's values bit for bit", T, float, double) {
    const long B = 3;
    for (long D : {1036L, 1037L})
      for (int layout : {0, 1, 2})
        for (const auto& c : {h200, tiny}) {
          CAPTURE(D);
          CAPTURE(layout);
          const auto a = dnft_test::normal_data(std::size_t(B * D), 67),
                     b = dnft_test::normal_data(std::size_t(B * D), 68),
                     e = dnft_test::normal_data(std::size_t(B * D), 69);
          host_batch<T> ha(a, B, D, layout), hb(b, B, D, layout), he(e, B, D, layout), out(B, D, layout);
          auto run = [&](const auto& args) {
            for_each_thread(B, D, c, 7, [&](long, const cd::chunk_range& r, int tid) {
              cd::lincomb_thread(args, r, tid, cd::groupable(args));
            });
          };
          auto pa = to_storage<T>(a), pb = to_storage<T>(b), pe = to_storage<T>(e);
          std::vector<T> po(pa.size());
          // three inputs
          dnft::detail::lincomb_args<T, dnft::host_space, 3> a3{};
          a3.out = out.view;
          a3.in[0] = ha.cview();
          a3.in[1] = hb.cview();
          a3.in[2] = he.cview();
          a3.coef[0] = T(0.5);
          a3.coef[1] = T(-1.25);
          a3.coef[2] = T(0.1);
          run(a3);
          dnft::lincomb(dnft::host, view2(po, B, D), {0.5, -1.25, 0.1}, view2(pa, B, D), view2(pb, B, D),
                        view2(pe, B, D));
          CHECK(out.values() == widen(po));
          // in place: out = 2 out - a (the output is also an input)
          dnft::detail::lincomb_args<T, dnft::host_space, 2> a2{};
          a2.out = out.view;
          a2.in[0] = out.cview();
          a2.in[1] = ha.cview();
          a2.coef[0] = T(2);
          a2.coef[1] = T(-1);
          run(a2);
          dnft::lincomb(dnft::host, view2(po, B, D), {2.0, -1.0}, view2(po, B, D), view2(pa, B, D));
          CHECK(out.values() == widen(po));
          // no input: a fill with a constant
          dnft::detail::lincomb_args<T, dnft::host_space, 0> a0{};
          a0.out = out.view;
          a0.constant = T(0.75);
          run(a0);
          dnft::detail::lincomb_views(dnft::host, dnft::detail::batch_view<T, dnft::host_space>{po.data(), B, D, D, 1},
                                      0.75, {});
          CHECK(out.values() == widen(po));
        }
  }

  // ---- sde_step and transition_log_prob -------------------------------------------------------

  TEST_CASE_TEMPLATE("sde_step and transition_log_prob: per-thread work against the host backend", T, float, double) {
    const long B = 4;
    const dnft::gaussian_transition tr{.cx = 1.02, .cv = -0.11, .scale = 0.31, .std_dev = 0.5};
    const dnft::philox_normal gen{.seed = 70, .stream = dnft::stream_id(2, 3)};
    for (long D : {1036L, 1037L})
      for (int layout : {0, 1, 2})
        for (const auto& c : {h200, tiny}) {
          CAPTURE(D);
          CAPTURE(layout);
          const auto x = dnft_test::normal_data(std::size_t(B * D), 71),
                     v = dnft_test::normal_data(std::size_t(B * D), 72);
          host_batch<T> hx(x, B, D, layout), hv(v, B, D, layout), xn(B, D, layout);
          std::vector<double> lp(std::size_t(B), 0.0);
          using lp_t = dnft::detail::vector_view<double, dnft::host_space>;
          const lp_t lpv{lp.data(), B, 1};
          dnft::detail::sde_step_args<T, dnft::host_space, lp_t> a{hx.cview(), hv.cview(), xn.view, gen,
                                                                   lpv,        tr.cx,      tr.cv,   tr.scale};
          CHECK(emulate_sde(a, c, 5) == -1);
          auto px = to_storage<T>(x), pv = to_storage<T>(v);
          std::vector<T> pxn(px.size());
          std::vector<double> hlp(static_cast<std::size_t>(B));
          dnft::sde_step(dnft::host, tr, view2(px, B, D), view2(pv, B, D), view2(pxn, B, D), gen, hlp);
          CHECK(xn.values() == widen(pxn));  // the host's element function on the same normals
          check_close(lp, hlp, 1e-13, 0.0);  // squared deviations summed in another order
          // the recomputation under the same velocity gives the step's log-probabilities bit for bit
          // (same chunks, threads and arithmetic), and a gradient as the host's
          std::vector<double> lp2(std::size_t(B), 0.0), hlp2(static_cast<std::size_t>(B));
          host_batch<T> grad(B, D, layout);
          dnft::detail::transition_log_prob_args<T, dnft::host_space, lp_t,
                                                 dnft::detail::batch_view<T, dnft::host_space>>
              ta{hx.cview(), xn.cview(), hv.cview(), {lp2.data(), B, 1}, grad.view, tr.cx, tr.cv, tr.scale};
          CHECK(emulate_transition(ta, c, 5) == -1);
          CHECK(lp2 == lp);
          std::vector<T> pg(px.size());
          dnft::transition_log_prob(dnft::host, tr, view2(px, B, D), view2(pxn, B, D), view2(pv, B, D), hlp2,
                                    view2(pg, B, D));
          CHECK(grad.values() == widen(pg));
          check_close(lp2, hlp2, 1e-13, 0.0);
        }
  }

  TEST_CASE("sde_step's per-thread work: in place (x_next = x), no log_prob, and a non-finite sample flagged") {
    const long B = 5, D = 37;
    const dnft::gaussian_transition tr{.cx = 0.9, .cv = 0.2, .scale = 0.1};
    const dnft::philox_normal gen{.seed = 73, .stream = 1};
    auto x = dnft_test::normal_data(std::size_t(B * D), 74);
    const auto v = dnft_test::normal_data(std::size_t(B * D), 75);
    host_batch<double> hx(x, B, D, 0), hv(v, B, D, 0), out(B, D, 0);
    dnft::detail::sde_step_args<double, dnft::host_space, dnft::detail::no_output> sep{
        hx.cview(), hv.cview(), out.view, gen, {}, tr.cx, tr.cv, tr.scale};
    CHECK(emulate_sde(sep, tiny, 1) == -1);
    dnft::detail::sde_step_args<double, dnft::host_space, dnft::detail::no_output> inplace{
        hx.cview(), hv.cview(), hx.view, gen, {}, tr.cx, tr.cv, tr.scale};
    CHECK(emulate_sde(inplace, tiny, 1) == -1);
    CHECK(hx.values() == out.values());
    x[std::size_t(3 * D + 36)] = nan_v;
    host_batch<double> bad(x, B, D, 1);
    dnft::detail::sde_step_args<double, dnft::host_space, dnft::detail::no_output> flagged{
        bad.cview(), hv.cview(), out.view, gen, {}, tr.cx, tr.cv, tr.scale};
    CHECK(emulate_sde(flagged, h200, 1) == 3);
  }

  // ---- flow_grpo_loss -------------------------------------------------------------------------

  TEST_CASE_TEMPLATE("flow_grpo_loss's kernels on the CPU match the host backend", T, float, double) {
    const long B = 7;
    const dnft::gaussian_transition tr{.cx = 1.01, .cv = -0.2, .scale = 0.3, .std_dev = 0.45};
    const dnft::flow_grpo_options o{.clip_range = 0.05, .adv_clip_max = 2.0, .kl_weight = 0.3};
    const dnft::detail::flow_grpo_params p{o.clip_range, o.adv_clip_max, o.kl_weight, tr.cx,
                                           tr.cv,        tr.scale,       tr.std_dev};
    for (long D : {1036L, 1037L})
      for (int layout : {0, 1, 2})
        for (const auto& c : {h200, tiny})
          for (bool with_ref : {true, false}) {
            CAPTURE(D);
            CAPTURE(layout);
            CAPTURE(with_ref);
            const auto x = dnft_test::normal_data(std::size_t(B * D), 76),
                       vt = dnft_test::normal_data(std::size_t(B * D), 77),
                       vr = dnft_test::normal_data(std::size_t(B * D), 78);
            auto xn = dnft_test::normal_data(std::size_t(B * D), 79, tr.scale);
            for (std::size_t k = 0; k < xn.size(); ++k) xn[k] += tr.cx * x[k] + tr.cv * vt[k];
            // sampling log-probabilities near the policy's: ratios inside and outside the clip range
            auto px = to_storage<T>(x), pxn = to_storage<T>(xn), pvt = to_storage<T>(vt), pvr = to_storage<T>(vr);
            std::vector<double> lps(static_cast<std::size_t>(B));
            dnft::transition_log_prob(dnft::host, tr, view2(px, B, D), view2(pxn, B, D), view2(pvt, B, D), lps,
                                      dnft::none);
            const auto shift = dnft_test::normal_data(std::size_t(B), 80, 0.1);
            for (long i = 0; i < B; ++i) lps[std::size_t(i)] += shift[std::size_t(i)];
            auto adv = dnft_test::normal_data(std::size_t(B), 81, 2.0);
            host_batch<T> hx(x, B, D, layout), hxn(xn, B, D, layout), hvt(vt, B, D, layout), hvr(vr, B, D, layout),
                hg(B, D, layout);
            dnft::detail::flow_grpo_args<T, dnft::host_space, vec_t, vec_t> a{
                hx.cview(), hxn.cview(), hvt.cview(), hvr.cview(), vec_of(lps), vec_of(adv), hg.view};
            const grpo_emulated e =
                with_ref ? emulate_grpo<true, true>(a, p, c, 132) : emulate_grpo<false, true>(a, p, c, 132);
            for (const auto& r : e.rec) CHECK(r.flags == 0u);
            std::vector<T> pg(px.size());
            const auto h = with_ref
                               ? dnft::flow_grpo_loss(dnft::host, tr, view2(px, B, D), view2(pxn, B, D),
                                                      view2(pvt, B, D), view2(pvr, B, D), lps, adv, view2(pg, B, D), o)
                               : dnft::flow_grpo_loss(dnft::host, tr, view2(px, B, D), view2(pxn, B, D),
                                                      view2(pvt, B, D), dnft::none, lps, adv, view2(pg, B, D), o);
            CHECK(h.clip_fraction > 0.0);
            CHECK(h.clip_fraction < 1.0);
            const double tol = 1e-12;  // the sums in another order
            CHECK(e.st.loss == doctest::Approx(h.loss).epsilon(tol));
            CHECK(e.st.policy_loss == doctest::Approx(h.policy_loss).epsilon(tol));
            CHECK(e.st.kl == doctest::Approx(h.kl).epsilon(tol));
            CHECK(e.st.mean_ratio == doctest::Approx(h.mean_ratio).epsilon(tol));
            CHECK(e.st.clip_fraction == h.clip_fraction);
            CHECK(e.st.mean_log_prob == doctest::Approx(h.mean_log_prob).epsilon(tol));
            CHECK(e.st.approx_kl_sample == doctest::Approx(h.approx_kl_sample).epsilon(1e-10));
            // coefficients from those sums: equal to rounding (float: one ulp of the stored value)
            const double gtol = std::is_same_v<T, float> ? 2e-7 : 1e-12;
            check_close(hg.values(), widen(pg), gtol, 1e-12);
          }
  }

  TEST_CASE("flow_grpo_loss's finishing pass raises its flags per sample; flagged samples get no gradient") {
    const long B = 5, D = 30;
    const dnft::gaussian_transition tr{.cx = 1.0, .cv = -0.1, .scale = 0.2, .std_dev = 0.3};
    const dnft::detail::flow_grpo_params p{1e-4, 5.0, 0.04, tr.cx, tr.cv, tr.scale, tr.std_dev};
    auto x = dnft_test::normal_data(std::size_t(B * D), 82), xn = dnft_test::normal_data(std::size_t(B * D), 83);
    const auto vt = dnft_test::normal_data(std::size_t(B * D), 84);
    std::vector<double> lps(std::size_t(B), -1.0), adv(std::size_t(B), 0.5);
    lps[1] = nan_v;
    adv[2] = -inf_v;
    xn[std::size_t(3 * D + 29)] = inf_v;
    host_batch<double> hx(x, B, D, 0), hxn(xn, B, D, 0), hvt(vt, B, D, 0),
        hg(std::vector<double>(x.size(), -7.0), B, D, 0);
    dnft::detail::flow_grpo_args<double, dnft::host_space, vec_t, vec_t> a{hx.cview(),  hxn.cview(), hvt.cview(), {},
                                                                           vec_of(lps), vec_of(adv), hg.view};
    const auto e = emulate_grpo<false, true>(a, p, tiny, 1);
    CHECK(e.rec[0].flags == 0u);
    CHECK(e.rec[1].flags == unsigned(cd::grpo_flag_log_prob_nonfinite));
    CHECK(e.rec[2].flags == unsigned(cd::grpo_flag_adv_nonfinite));
    CHECK(e.rec[3].flags == unsigned(cd::grpo_flag_sums_nonfinite));
    CHECK(e.rec[4].flags == 0u);
    const auto g = hg.values();
    for (long i = 0; i < B; ++i) {
      const bool flagged = i >= 1 && i <= 3;
      for (long d = 0; d < D; ++d) CHECK((g[std::size_t(i * D + d)] == -7.0) == flagged);
    }
  }
}
