// SPDX-License-Identifier: Apache-2.0
// dnft: the host backend of lincomb: one pass over the elements, threaded over samples.
#pragma once
// IWYU pragma: private

#include <cstddef>
#include <type_traits>

#include "dnft/detail/batch.hpp"
#include "dnft/detail/lincomb.hpp"
#include "dnft/execution.hpp"

namespace dnft::detail {

template <class T, class Space, std::size_t N>
void lincomb_host_sample(const lincomb_args<T, Space, N>& a, index_t i) noexcept {
  constexpr std::size_t M = N > 0 ? N : 1;
  const index_t D = a.out.elements;
  T v[M];
  bool unit = a.out.unit_stride();
  for (std::size_t k = 0; k != N; ++k) unit = unit && a.in[k].unit_stride();
  T* out = a.out.sample(i);
  if (unit) {
    const T* in[M];
    for (std::size_t k = 0; k != N; ++k) in[k] = a.in[k].sample(i);
    for (index_t d = 0; d < D; ++d) {
      for (std::size_t k = 0; k != N; ++k) v[k] = in[k][d];
      out[d] = lincomb_element<N>(a.coef, v, a.constant);
    }
  } else {
    for (index_t d = 0; d < D; ++d) {
      for (std::size_t k = 0; k != N; ++k) v[k] = a.in[k](i, d);
      a.out(i, d) = lincomb_element<N>(a.coef, v, a.constant);
    }
  }
}

}  // namespace dnft::detail

namespace dnft {

//! Host backend of lincomb: samples are split over the executor's threads; every element is
//! computed by the same formula whatever the split, so results do not depend on thread count.
template <>
struct lincomb_backend<host_executor> {
  template <class T, class Space, std::size_t N>
  static void run(const host_executor& ex, const detail::lincomb_args<T, Space, N>& a) {
    static_assert(host_executor::can_access<Space>, "dnft::lincomb: host backend given device memory");
    ex.bulk(a.out.batch, a.out.elements * index_t(N + 1), [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) detail::lincomb_host_sample(a, i);
    });
  }
};

}  // namespace dnft
