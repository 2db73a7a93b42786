// SPDX-License-Identifier: Apache-2.0
// dnft: Eigen adapter. Opt-in: include this header (and link Eigen) to pass Eigen dense objects
// with direct access (Matrix, Array, Map, Ref, Block, ...) to every dnft algorithm.
#pragma once

#include <concepts>
#include <type_traits>

#include <Eigen/Core>

#include "dnft/tensor/traits.hpp"

namespace dnft {

//! @brief Eigen dense objects with direct memory access, as host tensors.
//!
//! A vector (one compile-time row or column: VectorXf, RowVectorXd, Map<VectorXf>, a column
//! block) is a rank-1 view, anything else a rank-2 view (rows, cols) with the object's real
//! strides, so row-major, column-major, Map with OuterStride/InnerStride, Ref and Block all
//! index correctly. Expressions without storage (A + B) are not tensors.
//! For nft_loss and friends, rows are samples: a (B x D) matrix holds one sample per row.
template <class E>
  requires std::derived_from<E, ::Eigen::DenseBase<E>> && ((int(E::Flags) & ::Eigen::DirectAccessBit) != 0)
struct tensor_traits<E> {
  static constexpr bool is_vector = E::RowsAtCompileTime == 1 || E::ColsAtCompileTime == 1;

  template <class M>
  static auto view(M& m) {
    using T = std::remove_pointer_t<decltype(m.data())>;
    if constexpr (is_vector) {
      return tensor_view<T, 1>{m.data(), {index_t(m.size())}, {index_t(m.innerStride())}};
    } else {
      const index_t in = m.innerStride(), out = m.outerStride();
      const index_t rs = E::IsRowMajor ? out : in;
      const index_t cs = E::IsRowMajor ? in : out;
      return tensor_view<T, 2>{m.data(), {index_t(m.rows()), index_t(m.cols())}, {rs, cs}};
    }
  }
};

}  // namespace dnft
