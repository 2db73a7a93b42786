// SPDX-License-Identifier: Apache-2.0
// dnft: configuration macros. This is the only header that defines DNFT_ macros.
#pragma once

//! @file
//! The only home of dnft's macros:
//! - DNFT_HOST_DEVICE: `__host__ __device__` under a CUDA compiler, empty otherwise.
//! - DNFT_FORCEINLINE: a strong inlining hint for per-element functions.
//! - DNFT_RESTRICT: the non-aliasing qualifier for kernel pointers.
//! - DNFT_ASSERT(cond, msg): debug-only check usable in device code (active when
//!   NDEBUG is not defined or DNFT_ENABLE_ASSERTS is defined).
//! - DNFT_THROW(expr): throws `expr`, or prints it and aborts when exceptions are disabled.

#if defined(__CUDACC__)
#define DNFT_HOST_DEVICE __host__ __device__
#else
#define DNFT_HOST_DEVICE
#endif

#if defined(_MSC_VER)
#define DNFT_FORCEINLINE __forceinline
#define DNFT_RESTRICT __restrict
#else
#define DNFT_FORCEINLINE inline __attribute__((always_inline))
#define DNFT_RESTRICT __restrict__
#endif

#if !defined(NDEBUG) || defined(DNFT_ENABLE_ASSERTS)
#include <cassert>
#define DNFT_ASSERT(cond, msg) assert((cond) && (msg))
#else
#define DNFT_ASSERT(cond, msg) ((void)0)
#endif

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define DNFT_THROW(expr) throw(expr)
#else
#include <cstdio>
#include <cstdlib>
#define DNFT_THROW(expr)                                              \
  do {                                                                \
    std::fputs((expr).what(), stderr);                                \
    std::fputc('\n', stderr);                                         \
    std::abort();                                                     \
  } while (false)
#endif
