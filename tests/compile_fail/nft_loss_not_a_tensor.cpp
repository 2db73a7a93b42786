// SPDX-License-Identifier: Apache-2.0
// ko: an argument that is not a tensor (no tensor_traits) does not satisfy tensor_like.
#include "dnft/algorithm/nft_loss.hpp"

#include <vector>

void check(std::vector<double>& t, std::vector<double>& adv, std::vector<float>& v) {
  auto w = dnft::make_view(v.data(), {2, 3});
#if defined(DNFT_KO)
  int x0 = 0;
#else
  auto x0 = w;
#endif
  dnft::nft_loss(dnft::host, x0, w, t, adv, w, w, dnft::none, dnft::none);
}
