// SPDX-License-Identifier: Apache-2.0
// ko: a device_space view passed to nft_loss on the host executor is a compile error.
#include "dnft/algorithm/nft_loss.hpp"

#include <vector>

#if defined(DNFT_KO)
using x0_space = dnft::device_space;
#else
using x0_space = dnft::host_space;
#endif

void check(float* p, std::vector<double>& t, std::vector<double>& adv, std::vector<float>& v) {
  const dnft::index_t B = 2, D = 3;
  auto x0 = dnft::make_view(p, {B, D}, x0_space{});
  auto w = dnft::make_view(v.data(), {B, D});
  dnft::nft_loss(dnft::host, x0, w, t, adv, w, w, dnft::none, dnft::none);
}
