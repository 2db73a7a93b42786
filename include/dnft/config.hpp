// SPDX-License-Identifier: Apache-2.0
// dnft: configuration macros. This is the only header that defines DNFT_ macros.
#pragma once

//! @file
//! The only home of dnft's macros:
//! - DNFT_HOST_DEVICE: `__host__ __device__` under a CUDA compiler, empty otherwise.
//! - DNFT_FORCEINLINE: a strong inlining hint for per-element functions.
//! - DNFT_RESTRICT: the non-aliasing qualifier for kernel pointers.
//! - DNFT_NOINLINE: keeps a function out of line on GCC host code (a vectoriser workaround).
//! - DNFT_ASSERT(cond, msg): debug-only check usable in device code (active when
//!   NDEBUG is not defined or DNFT_ENABLE_ASSERTS is defined).
//! - DNFT_THROW(expr): throws `expr`, or prints it and aborts when exceptions are disabled.

#if defined(_MSVC_LANG) ? (_MSVC_LANG < 202002L) : (__cplusplus < 202002L)
#error "dnft needs C++20: compile with -std=c++20 (nvcc too: CMake < 3.26 cannot set it for CUDA; add -std=c++20)"
#endif

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

// DNFT_NOINLINE: keeps a host function out of line. Used where GCC 12's basic-block vectoriser,
// after inlining, drops a double -> float rounding that is followed by a float -> double
// widening (observed at -O2/-O3 without -march: see random/philox.hpp).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDA_ARCH__)
#define DNFT_NOINLINE __attribute__((noinline))
#else
#define DNFT_NOINLINE
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
