// SPDX-License-Identifier: Apache-2.0
// Must NOT compile: a host tensor (std::vector) passed to nft_loss with dnft::cuda::executor.
// tests/cuda/CMakeLists.txt builds it and expects the front door's static_assert message.
#include <vector>

#include "dnft/cuda/cuda.cuh"

int main() {
  dnft::cuda::executor ex;
  auto d = ex.allocate<float>(8);
  std::vector<float> host(8);
  std::vector<double> t(1, 0.5), adv(1, 0.0);
  auto dt = ex.to_device(t);
  auto da = ex.to_device(adv);
  const auto x = d.view(1, 8);
  (void)dnft::nft_loss(ex, dnft::make_view(host.data(), {1, 8}), x, dt, da, x, x, dnft::none, dnft::none);
}
