// SPDX-License-Identifier: Apache-2.0
// dnft: the reward concept: a black box from clean samples and their conditions to scalars.
#pragma once

#include <span>

#include "dnft/tensor/memory_space.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief A reward that takes its samples in host memory: invocable with a
//! `tensor_view<const T, 2, host_space>` of the clean samples.
template <class R, class T, class Cond>
concept host_reward =
    requires(R& r, tensor_view<const T, 2, host_space> x0, std::span<const Cond> c, std::span<double> out) {
      r(x0, c, out);
    };

//! @brief A reward: scores B clean samples with their conditions into B scalars.
//!
//! It is a black box: no gradient is needed, it may call anything (a classifier, an external
//! scorer, a rule). Rewards are written to host memory (B doubles), whatever the samples'
//! memory space.
//!
//! For samples in memory space `Space` a reward is either a host_reward (it takes host views:
//! a trainer whose samples live elsewhere, e.g. on a GPU, copies them to a host buffer first and
//! passes a host view) or invocable with views in `Space` itself (it gets the samples where they
//! are, e.g. a device view for a reward that runs on the GPU; the trainer's work on them is
//! finished when it is called). A reward invocable with both gets the host copy.
//!
//! @par Customization
//! Provide `void operator()(tensor_view<const T, 2, host_space> x0, std::span<const Cond> c,
//! std::span<double> out)` (or the same with `Space` in place of host_space) writing out[i] for
//! sample i. Return non-finite values at your peril: trainers refuse them with an error naming
//! the sample, before changing any state.
template <class R, class T, class Cond, class Space = host_space>
concept reward = host_reward<R, T, Cond> ||
                 requires(R& r, tensor_view<const T, 2, Space> x0, std::span<const Cond> c, std::span<double> out) {
                   r(x0, c, out);
                 };

}  // namespace dnft
