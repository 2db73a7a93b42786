// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: gemm<T>, a typed wrapper of cuBLAS matrix products (column-major, cuBLAS's
// conventions) for float, double, __half and __nv_bfloat16; the precision is chosen per call.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>

#include "dnft/cuda/error.cuh"
#include "dnft/cuda/numeric.cuh"
#include "dnft/error.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::cuda {

//! @brief How a float matrix product may use tensor cores.
//! - `standard`: full FP32 (CUBLAS_COMPUTE_32F; no TF32 as long as the cuBLAS handle keeps its
//!   default math mode, which dnft's executor never changes). The default.
//! - `tf32`: inputs rounded to TF32 (10-bit mantissa, relative rounding error up to 2^-11, about
//!   4.9e-4) on tensor cores, products accumulated in FP32 (CUBLAS_COMPUTE_32F_FAST_TF32). Several
//!   times faster on Ampere and Hopper; results typically agree with FP32 to about 1e-3 relative.
//! Double products are always full FP64 (DGEMM, tensor cores on Ampere and Hopper give exact
//! FP64); half and bfloat16 products always accumulate in FP32 on tensor cores.
enum class gemm_precision { standard, tf32 };

namespace detail {

inline int to_blas_int(index_t v, std::string_view arg) {
  if (v < 0 || v > index_t(INT_MAX))
    dnft::detail::fail<shape_error>("cuda::gemm", arg,
                                    "expected a dimension in [0, 2147483647] (cuBLAS int), got " + std::to_string(v));
  return static_cast<int>(v);
}

}  // namespace detail

//! @brief C = alpha op(A) op(B) + beta C on `handle`'s stream, in cuBLAS's column-major terms:
//! op(A) is (m, k), op(B) is (k, n), C is (m, n) with leading dimension ldc.
//! @tparam T float, double, __half or __nv_bfloat16 (A, B and C all of T; alpha and beta are
//!   compute_t<T>: double for double, float otherwise)
//! @param precision  gemm_precision::tf32 allows TF32 tensor cores for float (ignored otherwise)
//! @throws dnft::cuda_error when cuBLAS reports an error, shape_error for a dimension beyond int.
//! @code
//!   // C (m x n) = A (m x k) * B (k x n), all column-major and packed
//!   dnft::cuda::gemm<float>(ex.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, 1.f, A, m, B, k, 0.f, C, m);
//! @endcode
template <class T>
void gemm(cublasHandle_t handle, cublasOperation_t op_a, cublasOperation_t op_b, index_t m, index_t n, index_t k,
          compute_t<T> alpha, const T* a, index_t lda, const T* b, index_t ldb, compute_t<T> beta, T* c, index_t ldc,
          gemm_precision precision = gemm_precision::standard,
          std::source_location loc = std::source_location::current()) {
  static_assert(is_storage_type_v<T>, "dnft::cuda::gemm: T must be float, double, __half or __nv_bfloat16");
  const int im = detail::to_blas_int(m, "m"), in = detail::to_blas_int(n, "n"), ik = detail::to_blas_int(k, "k");
  const int ila = detail::to_blas_int(lda, "lda"), ilb = detail::to_blas_int(ldb, "ldb"),
            ilc = detail::to_blas_int(ldc, "ldc");
  if constexpr (std::is_same_v<T, double>) {
    check(cublasDgemm(handle, op_a, op_b, im, in, ik, &alpha, a, ila, b, ilb, &beta, c, ilc), loc);
  } else if constexpr (std::is_same_v<T, float>) {
    const cublasComputeType_t compute =
        precision == gemm_precision::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    check(cublasGemmEx(handle, op_a, op_b, im, in, ik, &alpha, a, CUDA_R_32F, ila, b, CUDA_R_32F, ilb, &beta, c,
                       CUDA_R_32F, ilc, compute, CUBLAS_GEMM_DEFAULT),
          loc);
  } else {
    constexpr cudaDataType_t type = std::is_same_v<T, __half> ? CUDA_R_16F : CUDA_R_16BF;
    check(cublasGemmEx(handle, op_a, op_b, im, in, ik, &alpha, a, type, ila, b, type, ilb, &beta, c, type, ilc,
                       CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          loc);
  }
}

}  // namespace dnft::cuda
