// SPDX-License-Identifier: Apache-2.0
// ko: v_theta in double while x0 is float.
#include "dnft/algorithm/nft_loss.hpp"

#include <vector>

#if defined(DNFT_KO)
using theta_real = double;
#else
using theta_real = float;
#endif

void check(std::vector<double>& t, std::vector<double>& adv, std::vector<float>& v, std::vector<theta_real>& vt) {
  auto w = dnft::make_view(v.data(), {2, 3});
  dnft::nft_loss(dnft::host, w, w, t, adv, dnft::make_view(vt.data(), {2, 3}), w, dnft::none, dnft::none);
}
