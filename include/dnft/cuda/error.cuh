// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: cuda_error and check(), the one place CUDA runtime and cuBLAS statuses become exceptions.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <source_location>
#include <string>
#include <string_view>

#include "dnft/config.hpp"
#include "dnft/error.hpp"

namespace dnft {

//! @brief A CUDA runtime or cuBLAS call failed. The message reads "file:line: name: text", e.g.
//! "dnft/cuda/execution.cuh:88: cudaErrorMemoryAllocation: out of memory", where file:line is the
//! call site. It carries the status: code() for the runtime (cudaSuccess when the error came
//! from cuBLAS), cublas_status() for cuBLAS (CUBLAS_STATUS_SUCCESS otherwise).
class cuda_error : public error {
 public:
  cuda_error(const std::string& what, cudaError_t code) : error(what), code_(code) {}
  cuda_error(const std::string& what, cublasStatus_t status) : error(what), cublas_(status) {}

  //! The CUDA runtime status (cudaSuccess when the failing call was a cuBLAS call).
  cudaError_t code() const noexcept { return code_; }
  //! The cuBLAS status (CUBLAS_STATUS_SUCCESS when the failing call was a runtime call).
  cublasStatus_t cublas_status() const noexcept { return cublas_; }
  //! Whether the failing call was a cuBLAS call.
  bool from_cublas() const noexcept { return cublas_ != CUBLAS_STATUS_SUCCESS; }

 private:
  cudaError_t code_ = cudaSuccess;
  cublasStatus_t cublas_ = CUBLAS_STATUS_SUCCESS;
};

}  // namespace dnft

namespace dnft::cuda {

namespace detail {

//! "file:line: " of a call site; paths inside dnft's include tree are shortened to "dnft/...".
inline std::string call_site(const std::source_location& loc) {
  std::string_view file = loc.file_name();
  if (const auto k = file.rfind("include/dnft/"); k != std::string_view::npos) file.remove_prefix(k + 8);
  std::string s(file);
  s += ':';
  s += std::to_string(loc.line());
  s += ": ";
  return s;
}

}  // namespace detail

//! @brief Throws dnft::cuda_error unless `status` is cudaSuccess. The runtime's error state is
//! cleared first (cudaGetLastError), so the next call does not report the same error again;
//! errors that corrupt the context (e.g. an illegal address in a kernel) stay sticky, as CUDA defines.
//! @code
//!   dnft::cuda::check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream));
//! @endcode
inline void check(cudaError_t status, std::source_location loc = std::source_location::current()) {
  if (status == cudaSuccess) return;
  (void)cudaGetLastError();
  DNFT_THROW(cuda_error(detail::call_site(loc) + cudaGetErrorName(status) + ": " + cudaGetErrorString(status),
                        status));
}

//! Throws dnft::cuda_error unless `status` is CUBLAS_STATUS_SUCCESS.
inline void check(cublasStatus_t status, std::source_location loc = std::source_location::current()) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  (void)cudaGetLastError();
  DNFT_THROW(cuda_error(detail::call_site(loc) + cublasGetStatusName(status) + ": " + cublasGetStatusString(status),
                        status));
}

//! Checks that the kernel launches before this call were accepted (bad configuration, no device,
//! no kernel image for this GPU); errors raised while kernels run surface at the next synchronisation.
inline void check_launch(std::source_location loc = std::source_location::current()) {
  check(cudaGetLastError(), loc);
}

}  // namespace dnft::cuda
