// SPDX-License-Identifier: Apache-2.0
// A naive double-precision DiffusionNFT reference written straight from ALGORITHM.md section 2
// (explicit x_t, x0_pos, x0_neg; no identities, no fusion), for the tests to compare against.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "dnft/algorithm/nft_loss.hpp"

namespace dnft_test {

struct nft_ref_result {
  double loss = 0, policy_loss = 0, kl = 0, theta_old = 0, old_ref = 0, x0_sq = 0, mean_r = 0, clipped = 0;
  std::vector<double> w_pos, w_neg;  // weight factors used (1 / w when adaptive)
};

inline double ref_adv(double a, double c, dnft::advantage_mode m) {
  double ah = std::min(std::max(a, -c), c);
  switch (m) {
    case dnft::advantage_mode::all: return ah;
    case dnft::advantage_mode::positive_only: return std::min(std::max(ah, 0.0), c);
    case dnft::advantage_mode::negative_only: return std::min(std::max(ah, -c), 0.0);
    case dnft::advantage_mode::one_only: return ah > 0 ? 1.0 : 0.0;
    case dnft::advantage_mode::binary: return ah > 0 ? 1.0 : (ah < 0 ? -1.0 : 0.0);
  }
  return ah;
}

//! All tensors row-major (B, D) in double. `frozen` fixes the weight factors (for finite
//! differences: the weights are constants of the gradient).
inline nft_ref_result nft_reference(int B, int D, const std::vector<double>& x0, const std::vector<double>& eps,
                                    const std::vector<double>& t, const std::vector<double>& adv,
                                    const std::vector<double>& vth, const std::vector<double>& vold,
                                    const std::vector<double>* vref, const dnft::nft_options& o,
                                    const nft_ref_result* frozen = nullptr) {
  nft_ref_result res;
  const double C = o.adv_clip_max, beta = o.beta;
  for (int i = 0; i < B; ++i) {
    const double a_hat = ref_adv(adv[i], C, o.mode);
    const double r = std::min(std::max(a_hat / C / 2 + 0.5, 0.0), 1.0);
    std::vector<double> epos(D), eneg(D);
    double sum_abs_pos = 0, sum_abs_neg = 0;
    for (int d = 0; d < D; ++d) {
      const int k = i * D + d;
      const double xt = (1 - t[i]) * x0[k] + t[i] * eps[k];
      const double u = eps[k] - x0[k];
      const double vpos = beta * vth[k] + (1 - beta) * vold[k];
      const double vneg = (1 + beta) * vold[k] - beta * vth[k];
      if (o.space == dnft::loss_space::data) {
        epos[d] = (xt - t[i] * vpos) - x0[k];
        eneg[d] = (xt - t[i] * vneg) - x0[k];
      } else {
        epos[d] = vpos - u;
        eneg[d] = vneg - u;
      }
      sum_abs_pos += std::abs(epos[d]);
      sum_abs_neg += std::abs(eneg[d]);
    }
    double kp, kn;
    if (frozen) {
      kp = frozen->w_pos[i];
      kn = frozen->w_neg[i];
    } else if (o.weighting == dnft::loss_weighting::adaptive) {
      kp = 1.0 / std::max(sum_abs_pos / D, o.weight_floor);
      kn = 1.0 / std::max(sum_abs_neg / D, o.weight_floor);
    } else {
      const double w = o.weighting == dnft::loss_weighting::uniform ? 1.0
                       : o.weighting == dnft::loss_weighting::time  ? t[i]
                                                                    : 1.0 - t[i];
      kp = kn = w;
    }
    res.w_pos.push_back(kp);
    res.w_neg.push_back(kn);
    double lpos = 0, lneg = 0, kl = 0, to = 0, orf = 0, xs = 0;
    for (int d = 0; d < D; ++d) {
      const int k = i * D + d;
      lpos += epos[d] * epos[d];
      lneg += eneg[d] * eneg[d];
      to += (vth[k] - vold[k]) * (vth[k] - vold[k]);
      if (vref) {
        kl += (vth[k] - (*vref)[k]) * (vth[k] - (*vref)[k]);
        orf += (vold[k] - (*vref)[k]) * (vold[k] - (*vref)[k]);
      }
      xs += x0[k] * x0[k];
    }
    lpos = kp * lpos / D;
    lneg = kn * lneg / D;
    res.policy_loss += C * (r * lpos + (1 - r) * lneg) / beta;
    res.kl += kl / D;
    res.theta_old += to / D;
    res.old_ref += orf / D;
    res.x0_sq += xs / D;
    res.mean_r += r;
    res.clipped += (std::abs(adv[i]) > C) ? 1 : 0;
  }
  res.policy_loss /= B;
  res.kl /= B;
  res.theta_old /= B;
  res.old_ref /= B;
  res.x0_sq /= B;
  res.mean_r /= B;
  res.clipped /= B;
  res.loss = res.policy_loss + (vref ? o.kl_weight * res.kl : 0.0);
  return res;
}

}  // namespace dnft_test
