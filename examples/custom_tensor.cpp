// SPDX-License-Identifier: Apache-2.0
// Your own tensor type, usable by every dnft algorithm after one tensor_traits specialisation;
// then one DiffusionNFT loss and gradient computed on it.
#include <dnft/dnft.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace my {

//! A framework-style tensor: a dynamic shape over contiguous row-major float storage.
class tensor {
 public:
  explicit tensor(std::vector<long> shape)
      : shape_(std::move(shape)),
        data_(std::size_t(std::accumulate(shape_.begin(), shape_.end(), 1L, std::multiplies<>()))) {}
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  const std::vector<long>& shape() const { return shape_; }
  long numel() const { return long(data_.size()); }
  float& operator[](long k) { return data_[std::size_t(k)]; }
  float operator[](long k) const { return data_[std::size_t(k)]; }

 private:
  std::vector<long> shape_;
  std::vector<float> data_;
};

}  // namespace my

// The whole integration: how dnft sees a my::tensor. Axis 0 is the batch; the other axes are
// the sample's elements, so the view is (B, D). A const tensor gives a view of const floats.
template <>
struct dnft::tensor_traits<my::tensor> {
  template <class T>  // my::tensor or const my::tensor
  static auto view(T& t) {
    const long b = t.shape().at(0);
    return dnft::make_view(t.data(), {b, t.numel() / b});
  }
};

int main() {
  // A batch of 8 "latents" of shape (2, 4, 4), at random times, with group advantages.
  const long B = 8;
  my::tensor x0({B, 2, 4, 4}), eps({B, 2, 4, 4}), v_old({B, 2, 4, 4}), grad({B, 2, 4, 4});
  const long D = x0.numel() / B;
  std::vector<double> t(B), adv(B);
  std::mt19937 gen(7);
  std::normal_distribution<float> normal;
  for (long k = 0; k < x0.numel(); ++k) {
    x0[k] = normal(gen);
    eps[k] = normal(gen);
    v_old[k] = eps[k] - x0[k] + 0.2f * normal(gen);  // a velocity model close to the target u = eps - x0
  }
  for (long i = 0; i < B; ++i) {
    t[std::size_t(i)] = (double(i) + 0.5) / double(B);
    adv[std::size_t(i)] = double(i % 4) - 1.5;  // two groups of four: -1.5, -0.5, 0.5, 1.5
  }

  // On-policy (the first step after sampling): v_theta = v_old. No reference model, no KL.
  const my::tensor& v_theta = v_old;
  const dnft::nft_stats s = dnft::nft_loss(dnft::host, x0, eps, t, adv, v_theta, v_old, dnft::none, grad);
  std::printf("B = %ld samples of D = %ld elements: loss %.6f, mean r %.3f\n", B, D, s.loss, s.mean_r);

  // On-policy the gradient is the advantage-weighted flow-matching step (ALGORITHM.md section 2):
  // dloss/dv = 2 t^2 A (v_old - u) / (B D w), w = t mean_d |v_old - u|. Check it.
  double worst = 0, largest = 0;
  for (long i = 0; i < B; ++i) {
    const double ti = t[std::size_t(i)];
    double w = 0;
    for (long d = 0; d < D; ++d) w += std::abs(double(v_old[i * D + d]) - (double(eps[i * D + d]) - x0[i * D + d]));
    w = ti * w / double(D);
    for (long d = 0; d < D; ++d) {
      const long k = i * D + d;
      const double expected = 2 * ti * ti * adv[std::size_t(i)] * (double(v_old[k]) - (double(eps[k]) - x0[k])) /
                              (double(B) * double(D) * w);
      worst = std::max(worst, std::abs(double(grad[k]) - expected));
      largest = std::max(largest, std::abs(expected));
    }
  }
  std::printf("gradient vs closed form: max difference %.2e (largest element %.2e)\n", worst, largest);
  return worst <= 1e-5 * largest ? 0 : 1;
}
