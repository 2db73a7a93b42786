// SPDX-License-Identifier: Apache-2.0
// The host dnft::mlp_policy behind mlp_host_model.hpp's plain interface (compiled by the C++
// compiler, with Eigen).
#include "mlp_host_model.hpp"

#include <algorithm>
#include <utility>

#include "dnft/policies/mlp.hpp"

namespace dnft_cuda_test {

template <class Real>
struct host_mlp<Real>::model {
  dnft::mlp_policy<Real> p;
  dnft::index_t batch = 0;
};

template <class Real>
host_mlp<Real>::host_mlp(const dnft::mlp_config& config) : m_(new model{dnft::mlp_policy<Real>(config), 0}) {}

template <class Real>
host_mlp<Real>::~host_mlp() = default;

template <class Real>
std::vector<Real> host_mlp<Real>::parameters() const {
  const auto v = std::as_const(m_->p).parameters();
  return std::vector<Real>(v.data, v.data + v.size());
}

template <class Real>
void host_mlp<Real>::set_parameters(const std::vector<Real>& p) {
  std::copy(p.begin(), p.end(), m_->p.parameters().data);
}

template <class Real>
std::vector<Real> host_mlp<Real>::gradients() const {
  const auto v = std::as_const(m_->p).gradients();
  return std::vector<Real>(v.data, v.data + v.size());
}

template <class Real>
void host_mlp<Real>::zero_grad() {
  m_->p.zero_grad();
}

template <class Real>
std::vector<dnft::parameter_tensor> host_mlp<Real>::layout() const {
  const auto l = m_->p.layout();
  return std::vector<dnft::parameter_tensor>(l.begin(), l.end());
}

template <class Real>
dnft::index_t host_mlp<Real>::input_features() const {
  return m_->p.input_features();
}

template <class Real>
std::vector<Real> host_mlp<Real>::predict(const std::vector<Real>& x, const std::vector<Real>& t,
                                          const std::vector<int>& c) {
  const auto B = static_cast<dnft::index_t>(t.size()), D = m_->p.dim();
  std::vector<Real> v(x.size());
  m_->p.predict(dnft::make_view(x.data(), {B, D}), t, c, dnft::make_view(v.data(), {B, D}));
  return v;
}

template <class Real>
std::vector<Real> host_mlp<Real>::forward(const std::vector<Real>& x, const std::vector<Real>& t,
                                          const std::vector<int>& c) {
  const auto B = static_cast<dnft::index_t>(t.size()), D = m_->p.dim();
  std::vector<Real> v(x.size());
  m_->p.forward(dnft::make_view(x.data(), {B, D}), t, c, dnft::make_view(v.data(), {B, D}));
  m_->batch = B;
  return v;
}

template <class Real>
void host_mlp<Real>::backward(const std::vector<Real>& dv) {
  m_->p.backward(dnft::make_view(dv.data(), {m_->batch, m_->p.dim()}));
}

template class host_mlp<float>;
template class host_mlp<double>;

}  // namespace dnft_cuda_test
