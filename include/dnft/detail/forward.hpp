// SPDX-License-Identifier: Apache-2.0
// dnft: the forward process and the flow-matching loss, per element and per sample. The one place
// these formulas are written: host loops (host/forward_noise.hpp, host/flow_matching_loss.hpp) and
// CUDA kernels both call them.
#pragma once
// IWYU pragma: private

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/detail/math.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The per-sample time weight w(t) of the flow-matching loss
//! mean_i w(t_i) mean_d (v - u)^2 (ALGORITHM.md section 1; the last two are SD3's weightings).
enum class time_weighting {
  uniform,         //!< w = 1 (default)
  time,            //!< w = t: weights the noisy end more
  one_minus_time,  //!< w = 1 - t: weights the clean end more
  cosmap,          //!< w = 2 / (pi (1 - 2 t + 2 t^2))  (SD3 "cosmap")
  sigma_sqrt       //!< w = 1 / t^2  (SD3 "sigma_sqrt"; needs every t > 0)
};

}  // namespace dnft

namespace dnft::detail {

//! x_t = (1 - t) x0 + t eps: the rectified-flow forward process (t = 0 data, t = 1 noise).
template <class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE constexpr R forward_sample(R t, R x0, R eps) noexcept {
  return (R(1) - t) * x0 + t * eps;
}

//! u = eps - x0: the target velocity of flow matching (x_t - x0 = t u).
template <class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE constexpr R target_velocity(R x0, R eps) noexcept {
  return eps - x0;
}

//! w(t) of the flow-matching loss.
DNFT_HOST_DEVICE constexpr double time_weight(double t, time_weighting w) noexcept {
  switch (w) {
    case time_weighting::time:
      return t;
    case time_weighting::one_minus_time:
      return 1.0 - t;
    case time_weighting::cosmap:
      return 2.0 / (3.14159265358979323846 * (1.0 - 2.0 * t + 2.0 * t * t));
    case time_weighting::sigma_sqrt:
      return 1.0 / (t * t);
    case time_weighting::uniform:
    default:
      return 1.0;
  }
}

//! Adds one element's squared velocity error (v - u)^2, u = eps - x0, to `sum`.
template <class Acc, class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE void fm_accumulate(Acc& sum, R x0, R eps, R v) noexcept {
  const Acc e = Acc(v) - (Acc(eps) - Acc(x0));
  sum += e * e;
}

//! One sample's flow-matching results.
struct fm_sample {
  double loss = 0;    //!< w(t) mean_d (v - u)^2
  double mse = 0;     //!< mean_d (v - u)^2 (unweighted)
  double weight = 0;  //!< w(t)
  double coef = 0;    //!< gradient coefficient 2 w(t) / (B D): grad = coef (v - u)
};

//! From one sample's sum of squared errors: its loss and its gradient coefficient.
//! @param sum_sq sum_d (v - u)^2;  @param d elements per sample;  @param b the batch size
DNFT_HOST_DEVICE inline fm_sample fm_finish_sample(double sum_sq, double t, double d, double b,
                                                   time_weighting w) noexcept {
  fm_sample s;
  s.weight = time_weight(t, w);
  s.mse = sum_sq / d;
  s.loss = s.weight * s.mse;
  s.coef = 2.0 * s.weight / (b * d);
  return s;
}

//! One gradient element d loss / d v = coef (v - u).
template <class R>
DNFT_HOST_DEVICE DNFT_FORCEINLINE constexpr R fm_grad_element(R coef, R x0, R eps, R v) noexcept {
  return coef * (v - (eps - x0));
}

}  // namespace dnft::detail

namespace dnft {

//! What flow_matching_loss returns.
struct flow_matching_stats {
  double loss = 0;         //!< mean_i w(t_i) mean_d (v - u)^2
  double mse = 0;          //!< mean_i mean_d (v - u)^2 (unweighted)
  double mean_weight = 0;  //!< mean_i w(t_i)
  index_t batch = 0;       //!< B
  index_t elements = 0;    //!< D
};

//! @brief The backend of forward_noise for executor type `Exec`: specialised in
//! host/forward_noise.hpp (host_executor) and cuda/forward_noise.cuh (cuda::executor).
template <class Exec>
struct forward_noise_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::forward_noise: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

//! @brief The backend of flow_matching_loss for executor type `Exec`.
template <class Exec>
struct flow_matching_loss_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::flow_matching_loss: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft

namespace dnft::detail {

//! The arguments of forward_noise after conversion and checks. `Noise` is a
//! batch_view<const T, Space> (stored eps) or a philox_normal; `Time` a vector_view of times.
//! eps_out and u_out have a null data pointer when not requested.
template <class T, class Space, class Noise, class Time>
struct forward_noise_args {
  batch_view<const T, Space> x0;
  Noise noise;
  Time t;
  batch_view<T, Space> x_t;
  batch_view<T, Space> eps;
  batch_view<T, Space> u;
};

//! The arguments of flow_matching_loss after conversion and checks (grad.data null when not
//! requested).
template <class T, class Space, class Noise, class Time>
struct flow_matching_args {
  batch_view<const T, Space> x0;
  Noise noise;
  Time t;
  batch_view<const T, Space> v;
  batch_view<T, Space> grad;
};

//! Combines per-sample results in sample order (so the result does not depend on threading).
inline flow_matching_stats fm_reduce(const fm_sample* s, index_t b, index_t d) {
  flow_matching_stats st;
  for (index_t i = 0; i < b; ++i) {
    st.loss += s[i].loss;
    st.mse += s[i].mse;
    st.mean_weight += s[i].weight;
  }
  const double inv = 1.0 / double(b);
  st.loss *= inv;
  st.mse *= inv;
  st.mean_weight *= inv;
  st.batch = b;
  st.elements = d;
  return st;
}

}  // namespace dnft::detail
