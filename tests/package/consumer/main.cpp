// SPDX-License-Identifier: Apache-2.0
// A consumer of the dnft package: the NFT loss and its gradient on-policy with a constant
// velocity error, where both have closed forms (ALGORITHM.md section 2).
#include <dnft/dnft.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

static_assert(DNFT_VERSION_MAJOR == EXPECT_MAJOR && DNFT_VERSION_MINOR == EXPECT_MINOR &&
                  DNFT_VERSION_PATCH == EXPECT_PATCH,
              "dnft/version.hpp disagrees with the version the CMake package reports");

int main() {
  constexpr int B = 4, D = 6;
  const std::vector<double> t = {0.25, 0.5, 0.75, 1.0};
  const std::vector<double> adv = {1.5, -2.0, 0.0, 7.0};  // the last one is clipped to C = 5
  const std::vector<double> c = {0.5, -0.25, 1.0, 2.0};   // per-sample velocity error v - u
  std::vector<double> x0(B * D), eps(B * D), v(B * D), grad(B * D);
  for (int i = 0; i < B; ++i)
    for (int d = 0; d < D; ++d) {
      const int k = i * D + d;
      x0[k] = 0.1 * (k % 5) - 0.2;
      eps[k] = 0.3 * ((k * 7) % 4) - 0.5;
      v[k] = (eps[k] - x0[k]) + c[i];  // v_theta = v_old = u + c_i
    }

  const auto view = [](std::vector<double>& a) { return dnft::make_view(a.data(), {B, D}); };
  const dnft::nft_stats st =
      dnft::nft_loss(dnft::host, view(x0), view(eps), t, adv, view(v), view(v), dnft::none, view(grad));

  // x0_pos - x0 = x0_neg - x0 = -t c, so w = t |c| and L_pos = L_neg = t |c|:
  // loss = mean_i C t_i |c_i| / beta; gradient = 2 t^2 A_hat c / (B D w) = 2 t A_hat sign(c) / (B D).
  const double C = 5.0;
  double loss = 0;
  for (int i = 0; i < B; ++i) loss += C * t[i] * std::abs(c[i]) / B;
  int bad = std::abs(st.loss - loss) > 1e-12 * loss;
  for (int i = 0; i < B; ++i) {
    const double a_hat = std::fmax(-C, std::fmin(C, adv[i]));
    const double g = 2 * t[i] * a_hat * (c[i] > 0 ? 1 : -1) / (B * D);
    for (int d = 0; d < D; ++d) bad += std::abs(grad[i * D + d] - g) > 1e-12;
  }
  std::printf("dnft %d.%d.%d: loss %.12g (expected %.12g), %s\n", dnft::version_major, dnft::version_minor,
              dnft::version_patch, st.loss, loss, bad ? "MISMATCH" : "ok");
  return bad ? 1 : 0;
}
