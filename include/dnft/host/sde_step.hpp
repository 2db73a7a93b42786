// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of sde_step and transition_log_prob: one pass per sample that
// regenerates the Philox noise chunk by chunk, writes x' and sums the squared deviations;
// threaded over samples.
#pragma once
// IWYU pragma: private

#include <cstdint>
#include <type_traits>
#include <vector>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/sde_step.hpp"
#include "dnft/execution.hpp"

namespace dnft::detail {

//! Elements per chunk of generated noise (materialised on the stack).
inline constexpr index_t sde_chunk = 1024;

template <class T, class Space, class LogP>
double sde_step_host_sample(const sde_step_args<T, Space, LogP>& a, index_t i) noexcept {
  const index_t D = a.x.elements;
  float xi[sde_chunk];
  double sum = 0.0;
  for (index_t d0 = 0; d0 < D; d0 += sde_chunk) {
    const index_t n = D - d0 < sde_chunk ? D - d0 : sde_chunk;
    a.noise.fill(std::uint64_t(i), std::uint64_t(d0), std::uint64_t(d0 + n), xi);
    for (index_t j = 0; j < n; ++j) {
      const index_t d = d0 + j;
      sum += sde_step_element(a.cx, a.cv, a.scale, a.x(i, d), a.v(i, d), double(xi[j]), a.x_next(i, d));
    }
  }
  return sum;
}

template <class T, class Space, class LogP, class Grad>
double transition_host_sample(const transition_log_prob_args<T, Space, LogP, Grad>& a, index_t i) noexcept {
  const index_t D = a.x.elements;
  double sum = 0.0;
  for (index_t d = 0; d < D; ++d) {
    const double dev = transition_deviation(a.cx, a.cv, a.x(i, d), a.v(i, d), a.x_next(i, d));
    sum += dev * dev;
  }
  if constexpr (!std::is_same_v<Grad, no_output>) {
    for (index_t d = 0; d < D; ++d) {
      const double dev = transition_deviation(a.cx, a.cv, a.x(i, d), a.v(i, d), a.x_next(i, d));
      a.grad(i, d) = static_cast<typename Grad::element_type>(gaussian_log_prob_grad(dev, a.cv, double(D), a.scale));
    }
  }
  return sum;
}

//! The first sample whose flag is set, or -1.
inline index_t first_flagged(const std::vector<unsigned char>& bad) noexcept {
  for (std::size_t i = 0; i < bad.size(); ++i)
    if (bad[i]) return index_t(i);
  return -1;
}

}  // namespace dnft::detail

namespace dnft {

//! Host backend of sde_step and transition_log_prob: samples are split over the executor's
//! threads; each sample's sum is formed by one thread in element order, so results do not
//! depend on the thread count.
template <>
struct sde_step_backend<host_executor> {
  template <class T, class Space, class LogP>
  static index_t step(const host_executor& ex, const detail::sde_step_args<T, Space, LogP>& a) {
    static_assert(host_executor::can_access<Space>, "dnft::sde_step: host backend given device memory");
    const index_t B = a.x.batch, D = a.x.elements;
    std::vector<unsigned char> bad(static_cast<std::size_t>(B), 0);
    ex.bulk(B, D * 40, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) {
        const double sum = detail::sde_step_host_sample(a, i);
        bad[std::size_t(i)] = !detail::isfinite(sum);
        if constexpr (!std::is_same_v<LogP, detail::no_output>)
          a.log_prob[i] = static_cast<typename LogP::element_type>(detail::gaussian_log_prob(sum, double(D), a.scale));
      }
    });
    return detail::first_flagged(bad);
  }

  template <class T, class Space, class LogP, class Grad>
  static index_t log_prob(const host_executor& ex, const detail::transition_log_prob_args<T, Space, LogP, Grad>& a) {
    static_assert(host_executor::can_access<Space>, "dnft::transition_log_prob: host backend given device memory");
    const index_t B = a.x.batch, D = a.x.elements;
    std::vector<unsigned char> bad(static_cast<std::size_t>(B), 0);
    ex.bulk(B, D * 8, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) {
        const double sum = detail::transition_host_sample(a, i);
        bad[std::size_t(i)] = !detail::isfinite(sum);
        a.log_prob[i] = static_cast<typename LogP::element_type>(detail::gaussian_log_prob(sum, double(D), a.scale));
      }
    });
    return detail::first_flagged(bad);
  }
};

}  // namespace dnft
