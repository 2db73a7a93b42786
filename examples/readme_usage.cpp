// SPDX-License-Identifier: Apache-2.0
// The usage example of README.md, verbatim between the markers (a test keeps the two identical).
// [readme]
#include <dnft/adapters/eigen.hpp>
#include <dnft/dnft.hpp>

#include <cstdio>

int main() {
  using batch = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int B = 16, D = 64;  // 16 samples of 64 elements: one sample per row

  batch x0 = batch::Random(B, D);                         // clean samples from the old policy
  batch eps = batch::Random(B, D);                        // noise: x_t = (1 - t) x0 + t eps
  batch v_theta = eps - x0 + 0.1f * batch::Random(B, D);  // velocities predicted at x_t by the
  batch v_old = eps - x0 + 0.1f * batch::Random(B, D);    // model being trained, the old policy
  batch v_ref = eps - x0 + 0.1f * batch::Random(B, D);    // and the frozen reference model
  Eigen::VectorXf t = (Eigen::VectorXf::Random(B).array() + 1) / 2;  // times in [0, 1]
  Eigen::VectorXf adv = 2 * Eigen::VectorXf::Random(B);              // group advantages

  batch grad(B, D);  // receives dloss/dv_theta, to backpropagate through the model
  dnft::nft_stats s = dnft::nft_loss(dnft::host, x0, eps, t, adv, v_theta, v_old, v_ref, grad);
  std::printf("loss %.4f (kl %.4f), |grad| %.3g\n", s.loss, s.kl, grad.norm());
}
// [readme]
