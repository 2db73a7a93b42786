// SPDX-License-Identifier: Apache-2.0
// The host kernel suite: every element-wise kernel of dnft (forward noise, NFT loss, flow-matching
// loss, group advantages, soft update, AdamW, one call of each solver) beside a hand-written
// raw-pointer single-pass baseline and a naive multi-pass version (one pass and one temporary per
// operation), the adapters (raw view, Eigen, xtensor) for the NFT loss and the forward noise, and a
// STREAM triad measured in the same binary; a sweep over B and D shows how time grows with work.
//
// Run: scripts/bench.sh kernels   (release preset; prints the summary of scripts/bench_report.py).
//
// Names: bm_<kernel>[_raw|_naive|_eigen|_xtensor]/B:<B>/D:<D>/threads:1. `bm_<kernel>` is the
// library call. Counters: "bytes", what the kernel's arguments occupy, each read or written once
// (an argument updated in place counts twice: read and written); "steps", solver steps per call.
// Every iteration starts from cold caches (dnft_bench::cache_flusher, not timed) and from the same
// state (in-place kernels get their state restored, not timed). The iteration count is fixed per
// shape (a cold-cache flush costs about 10 ms, more than the small kernels themselves).
//
// Before any benchmark runs, every baseline is checked against the library on a small problem
// (raw and naive must agree with it to float accuracy), so a faster baseline cannot be a wrong one.
// DNFT_BENCH_SMOKE=1 (set by the bench-smoke ctest): tiny shapes, one iteration each.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Core>
#include <xtensor/xadapt.hpp>
#include <xtensor/xtensor.hpp>

#include "dnft/adapters/eigen.hpp"
#include "dnft/adapters/xtensor.hpp"
#include "dnft/algorithm/flow_matching_loss.hpp"
#include "dnft/algorithm/forward_noise.hpp"
#include "dnft/algorithm/group_advantages.hpp"
#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/algorithm/optim.hpp"
#include "dnft/solvers/ddim.hpp"
#include "dnft/solvers/dpm_solver.hpp"
#include "dnft/solvers/euler.hpp"
#include "dnft/solvers/flow_sde.hpp"
#include "dnft/solvers/heun.hpp"
#include "support/bench_support.hpp"
#include "support/nft_eager.hpp"

namespace {

using dnft::index_t;
using dnft_bench::aligned_buffer;

// ---- the data of one shape --------------------------------------------------------------------

//! Inputs (made once per shape, shared by every kernel), outputs / in-place state, and the
//! temporaries of the naive versions (allocated and touched on first use).
struct data {
  index_t B, D, n;
  aligned_buffer<float> x0, eps, vt, vo, vr;  // (B, D) inputs; v_* near u = eps - x0
  std::array<aligned_buffer<float>, 4> out;    // (B, D) outputs and in-place state
  std::vector<aligned_buffer<float>> tmp;      // naive temporaries
  std::unique_ptr<dnft_bench::eager_workspace> eager;
  std::vector<double> t, adv;
  std::vector<std::int32_t> gid;              // group ids (group advantages)
  dnft::host_executor ex = dnft_bench::executor(1);

  data(index_t b, index_t d) : B(b), D(d), n(b * d), x0(n), eps(n), vt(n), vo(n), vr(n), t(std::size_t(b)), adv(std::size_t(b)) {
    const auto fill_ex = dnft_bench::executor(2);
    dnft_bench::fill_normal(fill_ex, x0.data(), n, 11);
    dnft_bench::fill_normal(fill_ex, eps.data(), n, 12);
    dnft_bench::fill_normal(fill_ex, vt.data(), n, 13, 0.3f);
    dnft_bench::fill_normal(fill_ex, vo.data(), n, 14, 0.3f);
    dnft_bench::fill_normal(fill_ex, vr.data(), n, 15, 0.3f);
    for (index_t k = 0; k < n; ++k) {
      const float u = eps[k] - x0[k];
      vt[k] += u;
      vo[k] += u;
      vr[k] += u;
    }
    for (auto& o : out) {
      o = aligned_buffer<float>(n);
      std::fill(o.data(), o.data() + n, 0.0f);
    }
    std::mt19937_64 g(17);
    std::uniform_real_distribution<double> ut(0.0, 1.0);
    std::normal_distribution<double> na(0.0, 2.0);
    for (auto& x : t) x = ut(g);
    for (auto& x : adv) x = na(g);
  }

  //! Naive temporary k (zeroed on first use, so its pages exist before timing).
  float* temp(std::size_t k) {
    while (tmp.size() <= k) {
      tmp.emplace_back(n);
      std::fill(tmp.back().data(), tmp.back().data() + n, 0.0f);
    }
    return tmp[k].data();
  }
  dnft_bench::eager_workspace& eager_ws() {
    if (!eager) eager = std::make_unique<dnft_bench::eager_workspace>(n);
    return *eager;
  }

  auto view(const aligned_buffer<float>& a) const { return dnft::make_view(a.data(), {B, D}); }
  auto view(aligned_buffer<float>& a) { return dnft::make_view(a.data(), {B, D}); }
  auto flat(const aligned_buffer<float>& a) const { return dnft::make_view(a.data(), {n}); }
  auto flat(aligned_buffer<float>& a) { return dnft::make_view(a.data(), {n}); }
  void copy(aligned_buffer<float>& to, const aligned_buffer<float>& from) {
    std::memcpy(to.data(), from.data(), std::size_t(n) * sizeof(float));
  }
};

data& shape(index_t B, index_t D) {
  static std::map<std::pair<index_t, index_t>, std::unique_ptr<data>> cache;
  auto& p = cache[{B, D}];
  if (!p) p = std::make_unique<data>(B, D);
  return *p;
}

// Eigen and xtensor views of the same memory (no copy): a sample per row.
using row_matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
Eigen::Map<const row_matrix> eigen_in(const data& d, const aligned_buffer<float>& a) {
  return {a.data(), d.B, d.D};
}
Eigen::Map<row_matrix> eigen_out(const data& d, aligned_buffer<float>& a) { return {a.data(), d.B, d.D}; }
auto xt_view(const data& d, const aligned_buffer<float>& a) {
  const std::array<std::size_t, 2> extents{std::size_t(d.B), std::size_t(d.D)};
  return xt::adapt(const_cast<float*>(a.data()), std::size_t(d.n), xt::no_ownership(), extents);
}

//! Calls f(i, row offset) for each sample of the batch, on the executor's threads.
template <class F>
void per_sample(const data& d, F&& f) {
  d.ex.bulk(d.B, d.D, [&](index_t b, index_t e) {
    for (index_t i = b; i < e; ++i) f(i, i * d.D);
  });
}

//! Naive: out[k] = f(i, k) over the batch, one pass (what one eager operation does).
template <class F>
void pass(const data& d, float* out, F&& f) {
  const index_t D = d.D;
  d.ex.bulk(d.B, D, [&](index_t b, index_t e) {
    for (index_t i = b; i < e; ++i)
      for (index_t k = i * D; k < (i + 1) * D; ++k) out[k] = f(i, k);
  });
}

//! Naive: per-sample mean of a temporary, a reduction pass.
void mean_pass(const data& d, const float* in, std::vector<double>& out) {
  out.assign(std::size_t(d.B), 0.0);
  per_sample(d, [&](index_t i, index_t o) {
    double s = 0;
    for (index_t k = o; k < o + d.D; ++k) s += double(in[k]);
    out[std::size_t(i)] = s / double(d.D);
  });
}

// ---- kernels ----------------------------------------------------------------------------------

//! One variant of a kernel: the benchmark runs `run`; verification compares `result`.
struct variant {
  std::string suffix;  // "" (the library), "_raw", "_naive", "_eigen", "_xtensor"
  std::function<double(data&)> run;
};

struct kernel {
  std::string name;                          // bm_<name>
  double floats = 0;                         // bytes = floats * B * D * 4 + sample_bytes * B
  double sample_bytes = 0;
  int steps = 0;                             // solver steps per call (0: not a solver)
  std::function<void(data&)> reset;          // untimed, before every iteration
  std::function<const float*(data&)> result; // the (B, D) result compared by verify()
  std::vector<variant> variants;
  bool flat_sizes = false;                   // group advantages: B only
};

std::vector<kernel> kernels;

// ---- forward noise: x_t = (1 - t) x0 + t eps ----

void add_forward_noise() {
  kernel k;
  k.name = "fwd_noise";
  k.floats = 3;
  k.sample_bytes = sizeof(double);
  k.result = [](data& d) { return d.out[0].data(); };
  k.variants.push_back({"", [](data& d) {
                          dnft::forward_noise(d.ex, d.view(d.x0), d.view(d.eps), d.t, d.view(d.out[0]));
                          return 0.0;
                        }});
  k.variants.push_back({"_eigen", [](data& d) {
                          auto xt = eigen_out(d, d.out[0]);
                          dnft::forward_noise(d.ex, eigen_in(d, d.x0), eigen_in(d, d.eps), d.t, xt);
                          return 0.0;
                        }});
  k.variants.push_back({"_xtensor", [](data& d) {
                          auto xt = xt_view(d, d.out[0]);
                          dnft::forward_noise(d.ex, xt_view(d, d.x0), xt_view(d, d.eps), d.t, xt);
                          return 0.0;
                        }});
  k.variants.push_back({"_raw", [](data& d) {
                          const float *x0 = d.x0.data(), *eps = d.eps.data();
                          float* xt = d.out[0].data();
                          per_sample(d, [&](index_t i, index_t o) {
                            const float t = float(d.t[std::size_t(i)]);
                            for (index_t k2 = o; k2 < o + d.D; ++k2) xt[k2] = (1.0f - t) * x0[k2] + t * eps[k2];
                          });
                          return 0.0;
                        }});
  k.variants.push_back({"_naive", [](data& d) {
                          float *a = d.temp(0), *b = d.temp(1);
                          const float *x0 = d.x0.data(), *eps = d.eps.data();
                          auto ti = [&](index_t i) { return float(d.t[std::size_t(i)]); };
                          pass(d, a, [&](index_t i, index_t j) { return (1.0f - ti(i)) * x0[j]; });
                          pass(d, b, [&](index_t i, index_t j) { return ti(i) * eps[j]; });
                          float* xt = d.out[0].data();
                          pass(d, xt, [&](index_t, index_t j) { return a[j] + b[j]; });
                          return 0.0;
                        }});
  kernels.push_back(std::move(k));

  // The same with eps regenerated from Philox (compute-bound: the generator).
  kernel p;
  p.name = "fwd_noise_philox";
  p.floats = 2;
  p.sample_bytes = sizeof(double);
  p.result = [](data& d) { return d.out[0].data(); };
  static const dnft::philox_normal gen{.seed = 5, .stream = 9};
  p.variants.push_back({"", [](data& d) {
                          dnft::forward_noise(d.ex, d.view(d.x0), gen, d.t, d.view(d.out[0]));
                          return 0.0;
                        }});
  p.variants.push_back({"_raw", [](data& d) {
                          const float* x0 = d.x0.data();
                          float* xt = d.out[0].data();
                          per_sample(d, [&](index_t i, index_t o) {
                            const float t = float(d.t[std::size_t(i)]);
                            float buf[1024];
                            for (index_t c = 0; c < d.D; c += 1024) {
                              const index_t m = std::min<index_t>(1024, d.D - c);
                              gen.fill(std::uint64_t(i), std::uint64_t(c), std::uint64_t(c + m), buf);
                              for (index_t j = 0; j < m; ++j) xt[o + c + j] = (1.0f - t) * x0[o + c + j] + t * buf[j];
                            }
                          });
                          return 0.0;
                        }});
  p.variants.push_back({"_naive", [](data& d) {
                          float *e = d.temp(0), *a = d.temp(1), *b = d.temp(2);
                          per_sample(d, [&](index_t i, index_t o) { gen.fill(std::uint64_t(i), 0, std::uint64_t(d.D), e + o); });
                          const float* x0 = d.x0.data();
                          auto ti = [&](index_t i) { return float(d.t[std::size_t(i)]); };
                          pass(d, a, [&](index_t i, index_t j) { return (1.0f - ti(i)) * x0[j]; });
                          pass(d, b, [&](index_t i, index_t j) { return ti(i) * e[j]; });
                          float* xt = d.out[0].data();
                          pass(d, xt, [&](index_t, index_t j) { return a[j] + b[j]; });
                          return 0.0;
                        }});
  kernels.push_back(std::move(p));
}

// ---- NFT loss and gradient (ALGORITHM.md section 2, default options, with v_ref) ----

//! Hand-written two passes per sample (sums, then the gradient), raw pointers, the reference's
//! formulas: x0_pos/neg = x_t - t v_pos/neg, w = max(mean |x0_pred - x0|, 1e-5).
double raw_nft(data& d) {
  const double beta = 1.0, C = 5.0, lambda = 1e-4, w_floor = 1e-5;
  const index_t B = d.B, D = d.D;
  const float *x0 = d.x0.data(), *eps = d.eps.data(), *vt = d.vt.data(), *vo = d.vo.data(), *vr = d.vr.data();
  float* g = d.out[0].data();
  std::vector<double> loss(static_cast<std::size_t>(B));
  per_sample(d, [&](index_t i, index_t o) {
    const float t = float(d.t[std::size_t(i)]), b = float(beta);
    float ap = 0, an = 0, sp = 0, sn = 0, skl = 0;  // float sums in 8 lanes would vectorise; kept plain
    double Ap = 0, An = 0, Sp = 0, Sn = 0, Skl = 0;
    for (index_t c = 0; c < D; c += 256) {
      ap = an = sp = sn = skl = 0;
      const index_t e = std::min(D, c + 256);
      for (index_t k = o + c; k < o + e; ++k) {
        const float xt = (1 - t) * x0[k] + t * eps[k];
        const float vp = b * vt[k] + (1 - b) * vo[k], vn = (1 + b) * vo[k] - b * vt[k];
        const float dp = xt - t * vp - x0[k], dn = xt - t * vn - x0[k], dk = vt[k] - vr[k];
        ap += std::abs(dp);
        an += std::abs(dn);
        sp += dp * dp;
        sn += dn * dn;
        skl += dk * dk;
      }
      Ap += ap, An += an, Sp += sp, Sn += sn, Skl += skl;
    }
    const double wp = std::max(Ap / double(D), w_floor), wn = std::max(An / double(D), w_floor);
    const double ah = std::clamp(d.adv[std::size_t(i)], -C, C);
    const double r = std::clamp(ah / C / 2 + 0.5, 0.0, 1.0);
    loss[std::size_t(i)] = C * (r * Sp / (double(D) * wp) + (1 - r) * Sn / (double(D) * wn)) / beta + lambda * Skl / double(D);
    const float cp = float(-2 * C * r * t / (double(B) * double(D) * wp));        // d/d v_theta via v_pos (beta cancels)
    const float cn = float(2 * C * (1 - r) * t / (double(B) * double(D) * wn));   // via v_neg
    const float ck = float(2 * lambda / (double(B) * double(D)));
    for (index_t k = o; k < o + D; ++k) {
      const float xt = (1 - t) * x0[k] + t * eps[k];
      const float vp = b * vt[k] + (1 - b) * vo[k], vn = (1 + b) * vo[k] - b * vt[k];
      const float dp = xt - t * vp - x0[k], dn = xt - t * vn - x0[k];
      g[k] = cp * dp + cn * dn + ck * (vt[k] - vr[k]);
    }
  });
  double s = 0;
  for (double l : loss) s += l;
  return s / double(B);
}

void add_nft() {
  kernel k;
  k.name = "nft";
  k.floats = 6;
  k.sample_bytes = 2 * sizeof(double);
  k.result = [](data& d) { return d.out[0].data(); };
  k.variants.push_back({"", [](data& d) {
                          return dnft::nft_loss(d.ex, d.view(d.x0), d.view(d.eps), d.t, d.adv, d.view(d.vt), d.view(d.vo),
                                                d.view(d.vr), d.view(d.out[0]))
                              .loss;
                        }});
  k.variants.push_back({"_eigen", [](data& d) {
                          auto g = eigen_out(d, d.out[0]);
                          return dnft::nft_loss(d.ex, eigen_in(d, d.x0), eigen_in(d, d.eps), d.t, d.adv, eigen_in(d, d.vt),
                                                eigen_in(d, d.vo), eigen_in(d, d.vr), g)
                              .loss;
                        }});
  k.variants.push_back({"_xtensor", [](data& d) {
                          auto g = xt_view(d, d.out[0]);
                          return dnft::nft_loss(d.ex, xt_view(d, d.x0), xt_view(d, d.eps), d.t, d.adv, xt_view(d, d.vt),
                                                xt_view(d, d.vo), xt_view(d, d.vr), g)
                              .loss;
                        }});
  k.variants.push_back({"_raw", raw_nft});
  k.variants.push_back({"_naive", [](data& d) {
                          const dnft_bench::eager E{d.ex, d.B, d.D};
                          const dnft_bench::nft_inputs in{d.x0.data(), d.eps.data(), d.vt.data(), d.vo.data(), d.vr.data(), d.t, d.adv};
                          return dnft_bench::eager_nft(E, d.eager_ws(), in, d.out[0].data());
                        }});
  kernels.push_back(std::move(k));
}

// ---- flow-matching loss and gradient (uniform weighting) ----

void add_flow_matching() {
  kernel k;
  k.name = "fm";
  k.floats = 4;
  k.sample_bytes = sizeof(double);
  k.result = [](data& d) { return d.out[0].data(); };
  k.variants.push_back({"", [](data& d) {
                          return dnft::flow_matching_loss(d.ex, d.view(d.x0), d.view(d.eps), d.t, d.view(d.vt),
                                                          d.view(d.out[0]))
                              .loss;
                        }});
  k.variants.push_back({"_raw", [](data& d) {
                          const float *x0 = d.x0.data(), *eps = d.eps.data(), *v = d.vt.data();
                          float* g = d.out[0].data();
                          std::vector<double> l(static_cast<std::size_t>(d.B));
                          per_sample(d, [&](index_t i, index_t o) {
                            double s = 0;
                            for (index_t k2 = o; k2 < o + d.D; ++k2) {
                              const double e = double(v[k2]) - (double(eps[k2]) - double(x0[k2]));
                              s += e * e;
                            }
                            l[std::size_t(i)] = s / double(d.D);
                            const float c = float(2.0 / (double(d.B) * double(d.D)));
                            for (index_t k2 = o; k2 < o + d.D; ++k2) g[k2] = c * (v[k2] - (eps[k2] - x0[k2]));
                          });
                          double s = 0;
                          for (double x : l) s += x;
                          return s / double(d.B);
                        }});
  k.variants.push_back({"_naive", [](data& d) {
                          float *u = d.temp(0), *e = d.temp(1), *sq = d.temp(2);
                          const float *x0 = d.x0.data(), *eps = d.eps.data(), *v = d.vt.data();
                          pass(d, u, [&](index_t, index_t j) { return eps[j] - x0[j]; });
                          pass(d, e, [&](index_t, index_t j) { return v[j] - u[j]; });
                          pass(d, sq, [&](index_t, index_t j) { return e[j] * e[j]; });
                          std::vector<double> m;
                          mean_pass(d, sq, m);
                          const float c = float(2.0 / (double(d.B) * double(d.D)));
                          float* g = d.out[0].data();
                          pass(d, g, [&](index_t, index_t j) { return c * e[j]; });
                          double s = 0;
                          for (double x : m) s += x;
                          return s / double(d.B);
                        }});
  kernels.push_back(std::move(k));
}

// ---- soft update: old <- d old + (1 - d) theta (flat buffers of B D elements) ----

constexpr double soft_decay = 0.3;

void add_soft_update() {
  kernel k;
  k.name = "soft_update";
  k.floats = 3;  // old read and written, theta read
  k.reset = [](data& d) { d.copy(d.out[0], d.vo); };
  k.result = [](data& d) { return d.out[0].data(); };
  k.variants.push_back({"", [](data& d) {
                          dnft::soft_update(d.ex, d.flat(d.out[0]), d.flat(d.vt), soft_decay);
                          return 0.0;
                        }});
  k.variants.push_back({"_raw", [](data& d) {
                          float* o = d.out[0].data();
                          const float* th = d.vt.data();
                          const float a = float(soft_decay), b = float(1.0 - soft_decay);
                          dnft_bench::parallel_ranges(d.ex, d.n, [&](index_t lo, index_t hi) {
                            for (index_t j = lo; j < hi; ++j) o[j] = o[j] * a + th[j] * b;
                          });
                          return 0.0;
                        }});
  k.variants.push_back({"_naive", [](data& d) {
                          float *a = d.temp(0), *b = d.temp(1), *o = d.out[0].data();
                          const float* th = d.vt.data();
                          const float da = float(soft_decay), db = float(1.0 - soft_decay);
                          pass(d, a, [&](index_t, index_t j) { return o[j] * da; });
                          pass(d, b, [&](index_t, index_t j) { return th[j] * db; });
                          pass(d, o, [&](index_t, index_t j) { return a[j] + b[j]; });
                          return 0.0;
                        }});
  kernels.push_back(std::move(k));
}

// ---- AdamW (defaults of ALGORITHM.md; step 10) ----

constexpr std::int64_t adam_step = 10;

void add_adamw() {
  kernel k;
  k.name = "adamw";
  k.floats = 7;  // p, m, v read and written, g read
  k.reset = [](data& d) {
    d.copy(d.out[0], d.vo);  // params
    d.copy(d.out[1], d.vr);  // m
    for (index_t j = 0; j < d.n; ++j) d.out[2][j] = d.eps[j] * d.eps[j];  // v >= 0
  };
  k.result = [](data& d) { return d.out[0].data(); };
  auto lib = [](bool check) {
    return [check](data& d) {
      dnft::adamw_options o;
      o.check_finite = check;
      dnft::adamw_step(d.ex, d.flat(d.out[0]), d.flat(d.vt), d.flat(d.out[1]), d.flat(d.out[2]), adam_step, o);
      return 0.0;
    };
  };
  k.variants.push_back({"", lib(true)});
  k.variants.push_back({"_nocheck", lib(false)});
  // PyTorch's single-tensor AdamW formulas (see detail/optim.hpp), written by hand.
  struct coefs {
    float scale, w1, b2, omb2, bias2, eps, step;
  };
  static const coefs c = [] {
    const dnft::adamw_options o;
    const double b1 = 1 - std::pow(o.beta1, double(adam_step)), b2 = 1 - std::pow(o.beta2, double(adam_step));
    return coefs{float(1 - o.lr * o.weight_decay), float(1 - o.beta1), float(o.beta2), float(1 - o.beta2),
                 float(std::sqrt(b2)),             float(o.eps),       float(-(o.lr / b1))};
  }();
  k.variants.push_back({"_raw", [](data& d) {
                          float *p = d.out[0].data(), *m = d.out[1].data(), *v = d.out[2].data();
                          const float* g = d.vt.data();
                          dnft_bench::parallel_ranges(d.ex, d.n, [&](index_t lo, index_t hi) {
                            for (index_t j = lo; j < hi; ++j) {
                              const float pj = p[j] * c.scale, mj = m[j] + c.w1 * (g[j] - m[j]);
                              const float vj = v[j] * c.b2 + c.omb2 * g[j] * g[j];
                              p[j] = pj + c.step * mj / (std::sqrt(vj) / c.bias2 + c.eps);
                              m[j] = mj;
                              v[j] = vj;
                            }
                          });
                          return 0.0;
                        }});
  // torch.optim.AdamW(foreach=False): mul_, lerp_, mul_, addcmul_, sqrt, div_, add_, addcdiv_
  k.variants.push_back({"_naive", [](data& d) {
                          float *p = d.out[0].data(), *m = d.out[1].data(), *v = d.out[2].data(), *den = d.temp(0);
                          const float* g = d.vt.data();
                          pass(d, p, [&](index_t, index_t j) { return p[j] * c.scale; });
                          pass(d, m, [&](index_t, index_t j) { return m[j] + c.w1 * (g[j] - m[j]); });
                          pass(d, v, [&](index_t, index_t j) { return v[j] * c.b2; });
                          pass(d, v, [&](index_t, index_t j) { return v[j] + c.omb2 * g[j] * g[j]; });
                          pass(d, den, [&](index_t, index_t j) { return std::sqrt(v[j]); });
                          pass(d, den, [&](index_t, index_t j) { return den[j] / c.bias2; });
                          pass(d, den, [&](index_t, index_t j) { return den[j] + c.eps; });
                          pass(d, p, [&](index_t, index_t j) { return p[j] + c.step * m[j] / den[j]; });
                          return 0.0;
                        }});
  kernels.push_back(std::move(k));
}

// ---- group advantages (B rewards in groups of 16, global std) ----

void add_group_advantages() {
  kernel k;
  k.name = "group_adv";
  k.flat_sizes = true;
  // ids in [0, B / 16), each 16 times, in shuffled order (7919 is prime)
  k.reset = [](data& d) {
    const index_t G = std::max<index_t>(1, d.n / 16);
    d.gid.resize(std::size_t(d.n));
    for (index_t i = 0; i < d.n; ++i) d.gid[std::size_t(i)] = std::int32_t((i * 7919) % G);
  };
  k.result = [](data& d) { return d.out[0].data(); };
  k.variants.push_back({"", [](data& d) {
                          return dnft::group_advantages(d.ex, dnft::make_view(d.x0.data(), {d.n}),
                                                        dnft::make_view(d.gid.data(), {d.n}),
                                                        dnft::make_view(d.out[0].data(), {d.n}))
                              .reward_std;
                        }});
  // Ids known to lie in [0, G): per-group sums by direct indexing, one pass each for mean, std, output.
  k.variants.push_back({"_raw", [](data& d) {
                          const auto& s = d.gid;
                          const float* r = d.x0.data();
                          float* a = d.out[0].data();
                          const index_t G = std::max<index_t>(1, d.n / 16);
                          std::vector<double> sum(static_cast<std::size_t>(G)), cnt(static_cast<std::size_t>(G));
                          double tot = 0;
                          for (index_t i = 0; i < d.n; ++i) {
                            const auto gi = std::size_t(s[std::size_t(i)]);
                            sum[gi] += r[i], cnt[gi] += 1, tot += r[i];
                          }
                          const double mean = tot / double(d.n);
                          double dev = 0;
                          for (index_t i = 0; i < d.n; ++i) dev += (r[i] - mean) * (r[i] - mean);
                          const double sd = std::sqrt(dev / double(d.n)) + 1e-4;
                          for (index_t i = 0; i < d.n; ++i) {
                            const auto gi = std::size_t(s[std::size_t(i)]);
                            a[i] = float((r[i] - sum[gi] / cnt[gi]) / sd);
                          }
                          return sd;
                        }});
  // The reference's Python loop: for each distinct id, a masked mean over the whole batch.
  k.variants.push_back({"_naive", [](data& d) {
                          const auto& s = d.gid;
                          const float* r = d.x0.data();
                          float* a = d.out[0].data();
                          std::vector<std::int32_t> uniq(s.begin(), s.end());
                          std::sort(uniq.begin(), uniq.end());
                          uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
                          double tot = 0;
                          for (index_t i = 0; i < d.n; ++i) tot += r[i];
                          const double mean = tot / double(d.n);
                          double dev = 0;
                          for (index_t i = 0; i < d.n; ++i) dev += (r[i] - mean) * (r[i] - mean);
                          const double sd = std::sqrt(dev / double(d.n)) + 1e-4;
                          for (const std::int32_t id : uniq) {
                            double gs = 0, gc = 0;
                            for (index_t i = 0; i < d.n; ++i)
                              if (s[std::size_t(i)] == id) gs += r[i], gc += 1;
                            for (index_t i = 0; i < d.n; ++i)
                              if (s[std::size_t(i)] == id) a[i] = float((r[i] - gs / gc) / sd);
                          }
                          return sd;
                        }});
  kernels.push_back(std::move(k));
}

// ---- solvers: one sample() call of 4 steps with a linear velocity field ----

//! v(x, t) = -x / 2: one cheap pass, so the solver's own element-wise work dominates.
struct linear_field {
  using value_type = float;
  using space_type = dnft::host_space;
  using condition_type = int;
  index_t d = 0;
  const dnft::host_executor* ex = nullptr;
  index_t dim() const { return d; }
  void predict(dnft::const_state_view_t<linear_field> x, dnft::time_view_t<linear_field>,
               std::span<const int>, dnft::state_view_t<linear_field> v) const {
    const index_t B = x.extents[0], D = x.extents[1];
    const float* xp = x.data;
    float* vp = v.data;
    ex->bulk(B, D, [&](index_t b, index_t e) {
      for (index_t k = b * D; k < e * D; ++k) vp[k] = -0.5f * xp[k];
    });
  }
};

const std::array<double, 5> solver_grid{0.9, 0.7, 0.5, 0.3, 0.1};
constexpr int solver_steps = int(solver_grid.size()) - 1;

//! State x (out[0]) starts from x0 each iteration; v, scratch in out[1..3] for the baselines.
template <class Solver>
variant lib_solver(Solver s) {
  return {"", [s](data& d) mutable {
            linear_field f{d.D, &d.ex};
            s.exec = d.ex;
            std::vector<int> c(std::size_t(d.B), 0);
            s.sample(f, d.view(d.out[0]), std::span<const int>(c), std::span<const double>(solver_grid));
            return 0.0;
          }};
}

void field(data& d, const float* x, float* v) {
  dnft::time_view_t<linear_field> t{};
  linear_field{d.D, &d.ex}.predict(dnft::make_view(x, {d.B, d.D}), t, {}, dnft::make_view(v, {d.B, d.D}));
}

//! x = cx x + cv v + scale xi with xi from Philox, in double as the library's sde_step.
void raw_gaussian(data& d, float* x, const float* v, const dnft::gaussian_transition& tr,
                  const dnft::philox_normal& gen) {
  per_sample(d, [&](index_t i, index_t o) {
    float xi[1024];
    for (index_t c = 0; c < d.D; c += 1024) {
      const index_t m = std::min<index_t>(1024, d.D - c);
      gen.fill(std::uint64_t(i), std::uint64_t(c), std::uint64_t(c + m), xi);
      for (index_t j = 0; j < m; ++j) {
        const index_t k = o + c + j;
        x[k] = float(tr.cx * double(x[k]) + tr.cv * double(v[k]) + tr.scale * double(xi[j]));
      }
    }
  });
}

void naive_gaussian(data& d, float* x, const float* v, const dnft::gaussian_transition& tr,
                    const dnft::philox_normal& gen) {
  float *xi = d.temp(0), *a = d.temp(1), *b = d.temp(2);
  per_sample(d, [&](index_t i, index_t o) { gen.fill(std::uint64_t(i), 0, std::uint64_t(d.D), xi + o); });
  const float cx = float(tr.cx), cv = float(tr.cv), sc = float(tr.scale);
  pass(d, a, [&](index_t, index_t j) { return cx * x[j]; });
  pass(d, b, [&](index_t, index_t j) { return cv * v[j]; });
  pass(d, a, [&](index_t, index_t j) { return a[j] + b[j]; });
  pass(d, b, [&](index_t, index_t j) { return sc * xi[j]; });
  pass(d, x, [&](index_t, index_t j) { return a[j] + b[j]; });
}

// The stochastic solvers with seed 7 and stream 0 on every call (the library advances `stream`
// per call; the baselines use the noise of call 0).
struct sde_lib : dnft::flow_sde_solver<> {
  template <class P, class X>
  void sample(P& f, X&& x, std::span<const int> c, std::span<const double> grid) {
    seed = 7;
    stream = 0;
    dnft::flow_sde_solver<>::sample(f, x, c, grid);
  }
};
struct ddim_lib : dnft::ddim_solver<> {
  template <class P, class X>
  void sample(P& f, X&& x, std::span<const int> c, std::span<const double> grid) {
    seed = 7;
    stream = 0;
    dnft::ddim_solver<>::sample(f, x, c, grid);
  }
};

void add_solvers() {
  auto base = [](std::string name, double floats) {
    kernel k;
    k.name = std::move(name);
    k.floats = floats;
    k.steps = solver_steps;
    k.reset = [](data& d) { d.copy(d.out[0], d.x0); };
    k.result = [](data& d) { return d.out[0].data(); };
    return k;
  };
  {  // Euler: field (read x, write v) + x += dt v: 5 floats per element and step
    kernel k = base("euler", 5.0 * solver_steps);
    k.variants.push_back(lib_solver(dnft::euler_solver<>{}));
    k.variants.push_back({"_raw", [](data& d) {
                            float *x = d.out[0].data(), *v = d.out[1].data();
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v);
                              const float dt = float(solver_grid[std::size_t(s) + 1] - solver_grid[std::size_t(s)]);
                              dnft_bench::parallel_ranges(d.ex, d.n, [&](index_t lo, index_t hi) {
                                for (index_t j = lo; j < hi; ++j) x[j] = x[j] + dt * v[j];
                              });
                            }
                            return 0.0;
                          }});
    k.variants.push_back({"_naive", [](data& d) {
                            float *x = d.out[0].data(), *v = d.out[1].data(), *a = d.temp(0);
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v);
                              const float dt = float(solver_grid[std::size_t(s) + 1] - solver_grid[std::size_t(s)]);
                              pass(d, a, [&](index_t, index_t j) { return dt * v[j]; });
                              pass(d, x, [&](index_t, index_t j) { return x[j] + a[j]; });
                            }
                            return 0.0;
                          }});
    kernels.push_back(std::move(k));
  }
  {  // Heun: field, xp = x + dt v1, field, x += dt/2 (v1 + v2): 2 + 3 + 2 + 4 = 11 per step
    kernel k = base("heun", 11.0 * solver_steps);
    k.variants.push_back(lib_solver(dnft::heun_solver<>{}));
    k.variants.push_back({"_raw", [](data& d) {
                            float *x = d.out[0].data(), *v1 = d.out[1].data(), *v2 = d.out[2].data(), *xp = d.out[3].data();
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v1);
                              const float dt = float(solver_grid[std::size_t(s) + 1] - solver_grid[std::size_t(s)]), h = 0.5f * dt;
                              dnft_bench::parallel_ranges(d.ex, d.n, [&](index_t lo, index_t hi) {
                                for (index_t j = lo; j < hi; ++j) xp[j] = x[j] + dt * v1[j];
                              });
                              field(d, xp, v2);
                              dnft_bench::parallel_ranges(d.ex, d.n, [&](index_t lo, index_t hi) {
                                for (index_t j = lo; j < hi; ++j) x[j] = x[j] + h * v1[j] + h * v2[j];
                              });
                            }
                            return 0.0;
                          }});
    k.variants.push_back({"_naive", [](data& d) {
                            float *x = d.out[0].data(), *v1 = d.out[1].data(), *v2 = d.out[2].data(), *xp = d.out[3].data();
                            float *a = d.temp(0), *b = d.temp(1);
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v1);
                              const float dt = float(solver_grid[std::size_t(s) + 1] - solver_grid[std::size_t(s)]), h = 0.5f * dt;
                              pass(d, a, [&](index_t, index_t j) { return dt * v1[j]; });
                              pass(d, xp, [&](index_t, index_t j) { return x[j] + a[j]; });
                              field(d, xp, v2);
                              pass(d, a, [&](index_t, index_t j) { return h * v1[j]; });
                              pass(d, b, [&](index_t, index_t j) { return h * v2[j]; });
                              pass(d, a, [&](index_t, index_t j) { return a[j] + b[j]; });
                              pass(d, x, [&](index_t, index_t j) { return x[j] + a[j]; });
                            }
                            return 0.0;
                          }});
    kernels.push_back(std::move(k));
  }
  {  // DPM-Solver++(2M): field, m = x - s v, x = cx x + cv v (+ cp m_prev):
     // steps 0..3 move 8, 9, 9, 5 floats per element (no m after the last, first order at both ends)
    kernel k = base("dpm2", 31.0);
    k.variants.push_back(lib_solver(dnft::dpm_solver<>{}));
    auto coef = [](int s) {
      const std::size_t k2 = std::size_t(s);
      const bool second = s > 0 && solver_grid[k2 - 1] < 1.0 && solver_grid[k2 + 1] > 0.0 && s != solver_steps - 1;
      return dnft::detail::dpm_solver_step(s > 0 ? solver_grid[k2 - 1] : 1.0, solver_grid[k2], solver_grid[k2 + 1], second);
    };
    k.variants.push_back({"_raw", [coef](data& d) {
                            float *x = d.out[0].data(), *v = d.out[1].data(), *mc = d.out[2].data(), *mp = d.out[3].data();
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v);
                              const auto st = coef(s);
                              const float cx = float(st.cx), cv = float(st.cv), cp = float(st.cp), sg = float(solver_grid[std::size_t(s)]);
                              const bool keep = s + 1 < solver_steps;
                              dnft_bench::parallel_ranges(d.ex, d.n, [&](index_t lo, index_t hi) {
                                if (cp != 0.0f) {
                                  for (index_t j = lo; j < hi; ++j) {
                                    mc[j] = x[j] - sg * v[j];
                                    x[j] = cx * x[j] + cv * v[j] + cp * mp[j];
                                  }
                                } else if (keep) {
                                  for (index_t j = lo; j < hi; ++j) {
                                    mc[j] = x[j] - sg * v[j];
                                    x[j] = cx * x[j] + cv * v[j];
                                  }
                                } else {
                                  for (index_t j = lo; j < hi; ++j) x[j] = cx * x[j] + cv * v[j];
                                }
                              });
                              std::swap(mc, mp);
                            }
                            return 0.0;
                          }});
    k.variants.push_back({"_naive", [coef](data& d) {
                            float *x = d.out[0].data(), *v = d.out[1].data(), *mc = d.out[2].data(), *mp = d.out[3].data();
                            float *a = d.temp(0), *b = d.temp(1);
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v);
                              const auto st = coef(s);
                              const float cx = float(st.cx), cv = float(st.cv), cp = float(st.cp), sg = float(solver_grid[std::size_t(s)]);
                              if (s + 1 < solver_steps) {
                                pass(d, a, [&](index_t, index_t j) { return sg * v[j]; });
                                pass(d, mc, [&](index_t, index_t j) { return x[j] - a[j]; });
                              }
                              pass(d, a, [&](index_t, index_t j) { return cx * x[j]; });
                              pass(d, b, [&](index_t, index_t j) { return cv * v[j]; });
                              pass(d, a, [&](index_t, index_t j) { return a[j] + b[j]; });
                              if (cp != 0.0f) {
                                pass(d, b, [&](index_t, index_t j) { return cp * mp[j]; });
                                pass(d, a, [&](index_t, index_t j) { return a[j] + b[j]; });
                              }
                              pass(d, x, [&](index_t, index_t j) { return a[j]; });
                              std::swap(mc, mp);
                            }
                            return 0.0;
                          }});
    kernels.push_back(std::move(k));
  }
  // Gaussian-step samplers: field + x = cx x + cv v + scale xi (Philox): 5 floats per element and
  // step; bound by the generator, not by memory.
  auto gaussian = [&](std::string name, auto lib, std::function<dnft::gaussian_transition(int)> tr) {
    kernel k = base(std::move(name), 5.0 * solver_steps);
    k.variants.push_back(lib_solver(lib));
    auto gen = [](int s) { return dnft::philox_normal{7, dnft::stream_id(0, std::uint32_t(s))}; };
    k.variants.push_back({"_raw", [tr, gen](data& d) {
                            float *x = d.out[0].data(), *v = d.out[1].data();
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v);
                              raw_gaussian(d, x, v, tr(s), gen(s));
                            }
                            return 0.0;
                          }});
    k.variants.push_back({"_naive", [tr, gen](data& d) {
                            float *x = d.out[0].data(), *v = d.out[1].data();
                            for (int s = 0; s < solver_steps; ++s) {
                              field(d, x, v);
                              naive_gaussian(d, x, v, tr(s), gen(s));
                            }
                            return 0.0;
                          }});
    kernels.push_back(std::move(k));
  };
  gaussian("flow_sde", sde_lib{}, [](int s) {
    const std::size_t k2 = std::size_t(s);
    return dnft::detail::flow_sde_step(solver_grid[k2], solver_grid[k2 + 1], solver_grid[k2] == 1.0 ? solver_grid[1] : solver_grid[k2], 0.7);
  });
  gaussian("ddim", ddim_lib{}, [](int s) {
    const std::size_t k2 = std::size_t(s);
    return dnft::detail::ddim_step(solver_grid[k2], solver_grid[k2 + 1], 1.0);
  });
}

// ---- verification: every baseline agrees with the library ------------------------------------

//! Runs every variant of every kernel on a small problem and compares its result with the
//! library's (relative to the largest magnitude of the library's result). Returns false on a mismatch.
bool verify() {
  bool ok = true;
  int checked = 0;
  double worst = 0;
  for (const auto& k : kernels) {
    const index_t B = k.flat_sizes ? 1 : 3, D = k.flat_sizes ? 4096 : 2500;
    data& d = shape(B, D);
    std::vector<float> ref;
    double ref_scalar = 0;
    for (const auto& v : k.variants) {
      if (k.reset) k.reset(d);
      const double s = v.run(d);
      const float* r = k.result(d);
      if (v.suffix.empty()) {
        ref.assign(r, r + d.n);
        ref_scalar = s;
        continue;
      }
      double scale = 0, err = 0;
      for (index_t j = 0; j < d.n; ++j) {
        scale = std::max(scale, double(std::abs(ref[std::size_t(j)])));
        err = std::max(err, double(std::abs(r[j] - ref[std::size_t(j)])));
      }
      const double rel = scale > 0 ? err / scale : err;
      const double srel = std::abs(s - ref_scalar) / std::max(1e-30, std::abs(ref_scalar));
      ++checked;
      worst = std::max(worst, rel);
      if (!(rel <= 1e-4) || (ref_scalar != 0 && !(srel <= 1e-4))) {
        std::fprintf(stderr, "bench_kernels: bm_%s%s disagrees with the library: max error %.3g of %.3g, scalar %.9g vs %.9g\n",
                     k.name.c_str(), v.suffix.c_str(), err, scale, s, ref_scalar);
        ok = false;
      }
    }
  }
  if (ok)
    std::printf("bench_kernels: %d baseline and adapter variants agree with the library (largest relative error %.2g)\n",
                checked, worst);
  return ok;
}

// ---- registration -----------------------------------------------------------------------------

bool smoke() { return dnft_bench::smoke_run(); }

//! Shapes (B, D) of the sweep: D in {1K, 16K, 256K} x B in {8, 64}; tiny ones for the smoke test.
std::vector<std::pair<index_t, index_t>> sweep() {
  if (smoke()) return {{2, 1024}, {4, 1000}};
  std::vector<std::pair<index_t, index_t>> s;
  for (index_t B : {8, 64})
    for (index_t D : {1 << 10, 1 << 14, 1 << 18}) s.emplace_back(B, D);
  return s;
}

//! Iterations per repetition: 16 below 2^20 elements, 4 above (1 in the smoke test).
benchmark::IterationCount iterations(index_t n) { return smoke() ? 1 : n < (index_t{1} << 20) ? 16 : 4; }

void timed(benchmark::State& state, const kernel& k, const variant& v) {
  const index_t B = state.range(0), D = state.range(1);
  data& d = shape(B, D);
  const dnft_bench::cache_flusher flush;
  for (auto _ : state) {
    state.PauseTiming();
    if (k.reset) k.reset(d);
    flush();
    state.ResumeTiming();
    double s = v.run(d);
    benchmark::DoNotOptimize(s);
    benchmark::ClobberMemory();
  }
  if (k.floats > 0) dnft_bench::set_bytes(state, k.floats * double(d.n) * sizeof(float) + k.sample_bytes * double(B));
  if (k.steps > 0) state.counters["steps"] = k.steps;
  state.SetItemsProcessed(state.iterations() * d.n);
  state.counters["threads"] = 1;
}

void configure(benchmark::internal::Benchmark* b, index_t B, index_t D) {
  b->Args({B, D, 1})
      ->ArgNames({"B", "D", "threads"})
      ->Iterations(iterations(B * D))
      ->MeasureProcessCPUTime()
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  dnft_bench::with_min(b);
}

void register_all() {
  for (auto [B, D] : sweep()) {
    auto* t = benchmark::RegisterBenchmark("bm_triad", [](benchmark::State& st) {
      const index_t n = st.range(0) * st.range(1);
      dnft_bench::bm_triad(st, n, 1);
      st.SetItemsProcessed(st.iterations() * n);
    });
    configure(t, B, D);
  }
  for (const auto& k : kernels) {
    for (const auto& v : k.variants) {
      const std::string name = "bm_" + k.name + v.suffix;
      if (k.flat_sizes) {  // group advantages: B rewards, D = 1
        for (index_t B : smoke() ? std::vector<index_t>{64} : std::vector<index_t>{64, 1024, 16384}) {
          auto* b = benchmark::RegisterBenchmark(name.c_str(), [&k, &v](benchmark::State& st) { timed(st, k, v); });
          configure(b, B, 1);
        }
        continue;
      }
      for (auto [B, D] : sweep()) {
        auto* b = benchmark::RegisterBenchmark(name.c_str(), [&k, &v](benchmark::State& st) { timed(st, k, v); });
        configure(b, B, D);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  add_forward_noise();
  add_nft();
  add_flow_matching();
  add_group_advantages();
  add_soft_update();
  add_adamw();
  add_solvers();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!verify()) return 1;
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
