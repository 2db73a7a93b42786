// SPDX-License-Identifier: Apache-2.0
// dnft: xtensor adapter. Opt-in: include this header (and link xtensor) to pass fixed-rank
// xtensor containers (xt::xtensor, xt::xtensor_fixed, xt::adapt(ptr, ..., shape)) to dnft.
#pragma once

#include <concepts>
#include <type_traits>

#if __has_include(<xtensor/containers/xcontainer.hpp>)  // xtensor >= 0.26
#include <xtensor/containers/xcontainer.hpp>
#include <xtensor/core/xshape.hpp>
#else  // xtensor <= 0.25 (Debian 12: 0.24.3)
#include <xtensor/xcontainer.hpp>
#include <xtensor/xshape.hpp>
#endif

#include "dnft/tensor/traits.hpp"

namespace dnft {

namespace detail {
template <class E>
inline constexpr std::ptrdiff_t xtensor_rank = static_cast<std::ptrdiff_t>(::xt::static_dimension<typename E::shape_type>::value);
}  // namespace detail

//! @brief xtensor containers of static rank (xtensor, xtensor_fixed, xtensor_adaptor), as host
//! tensors with the container's real strides (row- or column-major). Dynamic-rank containers
//! (xt::xarray) are not tensors: convert them to a fixed rank first.
template <class E>
  requires std::derived_from<E, ::xt::xcontainer<E>> && (detail::xtensor_rank<E> > 0)
struct tensor_traits<E> {
  static constexpr std::size_t rank = static_cast<std::size_t>(detail::xtensor_rank<E>);

  template <class X>
  static auto view(X& x) {
    using T = std::remove_pointer_t<decltype(x.data())>;
    tensor_view<T, rank> v{x.data() + x.data_offset(), {}, {}};
    for (std::size_t i = 0; i < rank; ++i) {
      v.extents[i] = static_cast<index_t>(x.shape()[i]);
      // xtensor stores stride 0 on axes of extent 1; that is harmless for reading and
      // for writing (a single index along that axis).
      v.strides[i] = static_cast<index_t>(x.strides()[i]);
    }
    return v;
  }
};

}  // namespace dnft
