// SPDX-License-Identifier: Apache-2.0
// dnft: the loss concept: a value and its gradient with respect to the policy output.
#pragma once

#include <concepts>

#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief The inputs a forward-process loss sees for one batch (views in the executor's space).
//! Fields a loss does not use may be empty views (e.g. flow matching ignores adv and v_old).
template <class T, class Space>
struct loss_batch {
  tensor_view<const T, 2, Space> x0;     //!< (B, D) clean samples
  tensor_view<const T, 2, Space> noise;  //!< (B, D) eps
  tensor_view<const T, 1, Space> t;      //!< (B) times
  tensor_view<const T, 1, Space> adv;    //!< (B) advantages
  tensor_view<const T, 2, Space> v_old;  //!< (B, D) old-policy velocity (may be empty)
  tensor_view<const T, 2, Space> v_ref;  //!< (B, D) reference velocity (may be empty: no KL)
};

//! @brief A loss over the policy output v_theta: returns a value (and diagnostics) and writes
//! dloss/dv_theta.
//!
//! @par Customization
//! Provide `R operator()(const Exec& ex, const loss_batch<T, Space>& in, tensor_view<const T, 2, Space> v_theta,
//! tensor_view<T, 2, Space> grad) const` where R has a `double loss` member. dnft::nft_loss_model
//! and dnft::flow_matching_loss_model are the models dnft ships.
template <class L, class Exec, class T, class Space>
concept loss = requires(const L& l, const Exec& ex, const loss_batch<T, Space>& in, tensor_view<const T, 2, Space> v,
                        tensor_view<T, 2, Space> g) {
  { l(ex, in, v, g).loss } -> std::convertible_to<double>;
};

}  // namespace dnft
