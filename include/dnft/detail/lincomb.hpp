// SPDX-License-Identifier: Apache-2.0
// dnft: the element-wise linear combination out = c + sum_k a_k x_k, the one formula every
// deterministic solver step is made of (host/lincomb.hpp and the CUDA kernels both call it).
#pragma once
// IWYU pragma: private

#include <cstddef>

#include "dnft/config.hpp"
#include "dnft/detail/batch.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::detail {

//! The arguments of one linear combination after conversion and checks, as a backend receives
//! them: out[i, d] = constant + sum_k coef[k] * in[k][i, d]. Every input has the shape of out;
//! an input may be out itself (same data and strides), no other overlap is allowed.
//! With N = 0 this is a fill with `constant`.
template <class T, class Space, std::size_t N>
struct lincomb_args {
  static constexpr std::size_t arity = N;
  batch_view<T, Space> out;
  batch_view<const T, Space> in[N > 0 ? N : 1];
  T coef[N > 0 ? N : 1];
  T constant = T(0);
};

//! One output element from the N input values at the same index, accumulated in the order
//! constant, in[0], in[1], ... (the order is part of the contract so backends agree bit for bit
//! where the hardware does not contract multiply-adds differently).
template <std::size_t N, class T>
DNFT_HOST_DEVICE DNFT_FORCEINLINE T lincomb_element(const T (&coef)[N > 0 ? N : 1], const T (&values)[N > 0 ? N : 1],
                                                    T constant) noexcept {
  T acc = constant;
  // k != N, not k < N: nvcc (-Werror all-warnings) rejects k < 0 for N = 0 as a pointless comparison.
  for (std::size_t k = 0; k != N; ++k) acc += coef[k] * values[k];
  return acc;
}

}  // namespace dnft::detail

namespace dnft {

//! @brief The backend of lincomb for executor type `Exec`: specialised in host/lincomb.hpp
//! (host_executor) and by the CUDA backend (cuda::executor).
//! @par Customization
//! `template <class T, class Space, std::size_t N> static void run(const Exec&, const detail::lincomb_args<T, Space, N>&)`.
template <class Exec>
struct lincomb_backend {
  static_assert(sizeof(Exec) == 0,
                "dnft::lincomb: no backend for this executor; for dnft::cuda::executor include "
                "<dnft/cuda/cuda.cuh> in this .cu file");
};

}  // namespace dnft
