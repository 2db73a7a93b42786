// SPDX-License-Identifier: Apache-2.0
// dnft: the FlowGRPO objective's formulas, per element and per sample (ALGORITHM.md section 5):
// the one place they are written, for the host loop and any device kernel.
#pragma once
// IWYU pragma: private

#include <cmath>

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/detail/sde_step.hpp"

namespace dnft::detail {

//! Hyperparameters in the form kernels take (validated by flow_grpo_loss).
struct flow_grpo_params {
  double clip_range = 1e-4;    //!< eps_clip of the PPO ratio
  double adv_clip_max = 5.0;   //!< advantages clipped to [-C, C]
  double kl_weight = 0.04;     //!< beta_kl
  double cx = 1, cv = 0;       //!< the transition's mean = cx x + cv v
  double scale = 0;            //!< the transition's standard deviation (std_dev sqrt(-dt))
  double std_dev = 0;          //!< FlowGRPO's std_dev_t: the KL term divides by 2 std_dev^2
};

//! Per-sample sums of one pass over a sample.
struct flow_grpo_sums {
  double dev_sq = 0;  //!< sum (x' - cx x - cv v_theta)^2
  double kl_sq = 0;   //!< sum (v_theta - v_ref)^2
};

template <bool HasRef, class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void flow_grpo_accumulate(flow_grpo_sums& s, const flow_grpo_params& p, T x, T x_next,
                                                            T v_theta, T v_ref) noexcept {
  const double dev = transition_deviation(p.cx, p.cv, x, v_theta, x_next);
  s.dev_sq += dev * dev;
  if constexpr (HasRef) {
    const double dk = double(v_theta) - double(v_ref);
    s.kl_sq += dk * dk;
  }
}

//! One sample's loss terms and gradient coefficients:
//! grad[i, d] = coef_dev * (x' - mean_theta)[d] + coef_kl * (v_theta - v_ref)[d].
struct flow_grpo_sample {
  double log_prob = 0;     //!< logp_theta(x' | x)
  double ratio = 1;        //!< exp(logp_theta - logp_sample)
  double policy_loss = 0;  //!< max(-A ratio, -A clamp(ratio, 1 - eps, 1 + eps))
  double kl = 0;           //!< mean_d (mu_theta - mu_ref)^2 / (2 std_dev^2)
  double coef_dev = 0;
  double coef_kl = 0;
  bool clipped = false;    //!< the clipped branch is the active one (no policy gradient)
};

//! From one sample's sums (d elements, batch b): the PPO-clipped policy loss, the KL term and
//! the gradient coefficients of the mean over the batch of (policy_loss + kl_weight kl).
DNFT_HOST_DEVICE inline flow_grpo_sample flow_grpo_finish_sample(const flow_grpo_sums& s, double log_prob_sample,
                                                                 double adv, double d, double b,
                                                                 const flow_grpo_params& p, bool has_ref) noexcept {
  flow_grpo_sample out;
  const double a = clamp(adv, -p.adv_clip_max, p.adv_clip_max);
  out.log_prob = gaussian_log_prob(s.dev_sq, d, p.scale);
  out.ratio = ::exp(out.log_prob - log_prob_sample);
  const double unclipped = -a * out.ratio;
  const double clipped = -a * clamp(out.ratio, 1.0 - p.clip_range, 1.0 + p.clip_range);
  out.clipped = clipped > unclipped;
  out.policy_loss = out.clipped ? clipped : unclipped;
  // d policy_loss / d logp = -A ratio on the unclipped branch (inside the clip range both
  // branches agree), 0 where the clipped branch is active.
  const double dl_dlogp = out.clipped ? 0.0 : -a * out.ratio;
  out.coef_dev = (p.scale > 0.0) ? dl_dlogp * p.cv / (d * p.scale * p.scale) / b : 0.0;
  if (has_ref && p.std_dev > 0.0) {
    const double k = p.cv * p.cv / (2.0 * p.std_dev * p.std_dev);
    out.kl = k * s.kl_sq / d;
    out.coef_kl = p.kl_weight * 2.0 * k / d / b;
  }
  return out;
}

template <bool HasRef, class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE T flow_grpo_grad_element(const flow_grpo_params& p, double coef_dev, double coef_kl,
                                                           T x, T x_next, T v_theta, T v_ref) noexcept {
  double g = coef_dev * transition_deviation(p.cx, p.cv, x, v_theta, x_next);
  if constexpr (HasRef) g += coef_kl * (double(v_theta) - double(v_ref));
  return static_cast<T>(g);
}

//! The arguments of flow_grpo_loss as a backend receives them.
template <class T, class Space, class LogP, class Adv>
struct flow_grpo_args {
  batch_view<const T, Space> x, x_next, v_theta, v_ref;
  LogP log_prob_sample;  //!< vector_view<const ?, Space>
  Adv adv;               //!< vector_view<const ?, Space>
  batch_view<T, Space> grad;
};

}  // namespace dnft::detail

namespace dnft {

//! What flow_grpo_loss returns.
struct flow_grpo_stats {
  double loss = 0;              //!< policy_loss + kl_weight * kl
  double policy_loss = 0;       //!< mean PPO-clipped loss
  double kl = 0;                //!< mean KL term (0 without v_ref)
  double mean_ratio = 0;        //!< mean exp(logp_theta - logp_sample)
  double clip_fraction = 0;     //!< fraction of samples on the clipped branch
  double mean_log_prob = 0;     //!< mean logp_theta
  double approx_kl_sample = 0;  //!< mean (logp_sample - logp_theta), the usual PPO diagnostic
  index_t batch = 0;
  index_t elements = 0;
};

}  // namespace dnft

namespace dnft::detail {

//! Combines per-sample results in sample order (so the result does not depend on threading or
//! the backend): `sample(i)` gives sample i's flow_grpo_sample, `log_prob_sample(i)` its
//! sampling log-probability. Shared by the host and CUDA backends.
template <class Sample, class LogProbSample>
flow_grpo_stats flow_grpo_reduce(index_t b, index_t d, const flow_grpo_params& p, Sample&& sample,
                                 LogProbSample&& log_prob_sample) {
  flow_grpo_stats st;
  for (index_t i = 0; i < b; ++i) {
    const flow_grpo_sample& r = sample(i);
    st.policy_loss += r.policy_loss;
    st.kl += r.kl;
    st.mean_ratio += r.ratio;
    st.clip_fraction += r.clipped ? 1.0 : 0.0;
    st.mean_log_prob += r.log_prob;
  }
  for (index_t i = 0; i < b; ++i) st.approx_kl_sample += double(log_prob_sample(i)) - sample(i).log_prob;
  const double inv = 1.0 / double(b);
  st.policy_loss *= inv;
  st.kl *= inv;
  st.mean_ratio *= inv;
  st.clip_fraction *= inv;
  st.mean_log_prob *= inv;
  st.approx_kl_sample *= inv;
  st.loss = st.policy_loss + p.kl_weight * st.kl;
  st.batch = b;
  st.elements = d;
  return st;
}

}  // namespace dnft::detail

namespace dnft {

//! @brief The backend of flow_grpo_loss for executor type `Exec` (host: host/flow_grpo_loss.hpp).
template <class Exec>
struct flow_grpo_loss_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::flow_grpo_loss: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft
