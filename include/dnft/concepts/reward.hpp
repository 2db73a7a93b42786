// SPDX-License-Identifier: Apache-2.0
// dnft: the reward concept: a black box from clean samples and their conditions to scalars.
#pragma once

#include <span>

#include "dnft/tensor/memory_space.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief A reward: scores B clean samples with their conditions into B scalars.
//!
//! It is a black box: no gradient is needed, it may call anything (a classifier, an external
//! scorer, a rule). Rewards are written to host memory (B doubles), whatever the samples'
//! memory space.
//!
//! @par Customization
//! Provide `void operator()(tensor_view<const T, 2, Space> x0, std::span<const Cond> c,
//! std::span<double> out)` writing out[i] for sample i. Return non-finite values at your peril:
//! trainers refuse them with an error naming the sample, before changing any state.
template <class R, class T, class Cond, class Space = host_space>
concept reward = requires(R& r, tensor_view<const T, 2, Space> x0, std::span<const Cond> c, std::span<double> out) {
  r(x0, c, out);
};

}  // namespace dnft
