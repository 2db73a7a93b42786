// SPDX-License-Identifier: Apache-2.0
// The host dnft::mlp_policy behind a plain interface (std::vector in, std::vector out), compiled
// by the C++ compiler in mlp_host_model.cpp, so the CUDA tests compare against the host model
// without Eigen in nvcc's translation units.
#pragma once

#include <memory>
#include <vector>

#include "dnft/policies/mlp_config.hpp"

namespace dnft_cuda_test {

//! A host dnft::mlp_policy<Real>. Batches are row-major (B, D) vectors; t has one time per sample.
template <class Real>
class host_mlp {
 public:
  explicit host_mlp(const dnft::mlp_config& config);
  ~host_mlp();
  host_mlp(const host_mlp&) = delete;
  host_mlp& operator=(const host_mlp&) = delete;

  std::vector<Real> parameters() const;
  void set_parameters(const std::vector<Real>& p);
  std::vector<Real> gradients() const;
  void zero_grad();
  std::vector<dnft::parameter_tensor> layout() const;
  dnft::index_t input_features() const;

  std::vector<Real> predict(const std::vector<Real>& x, const std::vector<Real>& t, const std::vector<int>& c);
  std::vector<Real> forward(const std::vector<Real>& x, const std::vector<Real>& t, const std::vector<int>& c);
  void backward(const std::vector<Real>& dv);

 private:
  struct model;
  std::unique_ptr<model> m_;
};

extern template class host_mlp<float>;
extern template class host_mlp<double>;

}  // namespace dnft_cuda_test
