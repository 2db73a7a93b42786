// SPDX-License-Identifier: Apache-2.0
// dnft: the per-sample formula of the group advantages and what a backend receives.
#pragma once
// IWYU pragma: private

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

//! A = (R - mean) / (std + eps), in double.
DNFT_HOST_DEVICE constexpr double group_advantage(double reward, double mean, double std_plus_eps) noexcept {
  return (reward - mean) / std_plus_eps;
}

//! The arguments of group_advantages after conversion and checks.
template <class R, class G, class O, class Space>
struct group_advantage_args {
  vector_view<const R, Space> rewards;
  vector_view<const G, Space> group_ids;
  vector_view<O, Space> out;
  bool global_std = true;
  double eps = 1e-4;
};

}  // namespace dnft::detail

namespace dnft {

//! What group_advantages returns besides the advantages.
struct advantage_stats {
  double reward_mean = 0;        //!< mean of all rewards
  double reward_std = 0;         //!< population std of all rewards
  index_t groups = 0;            //!< number of distinct group ids
  index_t min_group_size = 0;    //!< smallest group
  index_t max_group_size = 0;    //!< largest group
  double zero_std_fraction = 0;  //!< fraction of groups whose rewards are all equal (no signal)
};

//! @brief The backend of group_advantages for executor type `Exec`: specialised in
//! host/group_advantages.hpp (host_executor) and cuda/group_advantages.cuh (cuda::executor).
template <class Exec>
struct group_advantages_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::group_advantages: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft
