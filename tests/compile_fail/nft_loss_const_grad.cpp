// SPDX-License-Identifier: Apache-2.0
// ko: a read-only tensor passed as the gradient output.
#include "dnft/algorithm/nft_loss.hpp"

#include <vector>

void check(std::vector<double>& t, std::vector<double>& adv, std::vector<float>& v, std::vector<float>& g) {
  auto w = dnft::make_view(v.data(), {2, 3});
#if defined(DNFT_KO)
  const float* gp = g.data();
#else
  float* gp = g.data();
#endif
  dnft::nft_loss(dnft::host, w, w, t, adv, w, w, dnft::none, dnft::make_view(gp, {2, 3}));
}
