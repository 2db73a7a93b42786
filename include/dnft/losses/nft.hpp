// SPDX-License-Identifier: Apache-2.0
// dnft: nft_loss_model, the DiffusionNFT objective as a model of the dnft::loss concept.
#pragma once

#include "dnft/algorithm/nft_loss.hpp"
#include "dnft/concepts/loss.hpp"
#include "dnft/execution.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The DiffusionNFT loss (ALGORITHM.md section 2) as a dnft::loss: calls nft_loss with
//! the batch's x0, noise, t, adv, v_old and v_ref (an empty v_ref means no KL term) and writes
//! d loss / d v_theta to grad (an empty grad view computes the value only).
//! @code
//!   dnft::nft_loss_model loss{.options = {.beta = 0.1}};
//!   dnft::nft_stats st = loss(dnft::host, batch, v_theta, grad);
//! @endcode
struct nft_loss_model {
  nft_options options{};

  template <executor Exec, class T, class Space>
  nft_stats operator()(const Exec& ex, const loss_batch<T, Space>& in, tensor_view<const T, 2, Space> v_theta,
                       tensor_view<T, 2, Space> grad) const {
    const bool has_ref = in.v_ref.data != nullptr && !in.v_ref.empty();
    const bool has_grad = grad.data != nullptr && !grad.empty();
    if (has_ref) {
      if (has_grad) return nft_loss(ex, in.x0, in.noise, in.t, in.adv, v_theta, in.v_old, in.v_ref, grad, options);
      return nft_loss(ex, in.x0, in.noise, in.t, in.adv, v_theta, in.v_old, in.v_ref, none, options);
    }
    if (has_grad) return nft_loss(ex, in.x0, in.noise, in.t, in.adv, v_theta, in.v_old, none, grad, options);
    return nft_loss(ex, in.x0, in.noise, in.t, in.adv, v_theta, in.v_old, none, none, options);
  }
};

}  // namespace dnft
