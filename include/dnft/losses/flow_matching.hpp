// SPDX-License-Identifier: Apache-2.0
// dnft: flow_matching_loss_model, the (time-weighted) flow-matching loss as a model of the
// dnft::loss concept.
#pragma once

#include "dnft/algorithm/flow_matching_loss.hpp"
#include "dnft/concepts/loss.hpp"
#include "dnft/execution.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The flow-matching loss mean_i w(t_i) mean_d (v - u)^2 as a dnft::loss: uses the
//! batch's x0, noise and t (adv, v_old and v_ref are ignored) and writes d loss / d v to grad
//! (an empty grad view computes the value only). Supervised fine-tuning, or the plain
//! velocity objective to compare the NFT loss with.
struct flow_matching_loss_model {
  flow_matching_options options{};

  template <executor Exec, class T, class Space>
  flow_matching_stats operator()(const Exec& ex, const loss_batch<T, Space>& in, tensor_view<const T, 2, Space> v,
                                 tensor_view<T, 2, Space> grad) const {
    if (grad.data != nullptr && !grad.empty()) return flow_matching_loss(ex, in.x0, in.noise, in.t, v, grad, options);
    return flow_matching_loss(ex, in.x0, in.noise, in.t, v, none, options);
  }
};

}  // namespace dnft
