// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: launch_config, the launch parameters of dnft's kernels, selected by compute capability.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <string>
#include <string_view>

#include "dnft/config.hpp"
#include "dnft/error.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft::cuda {

//! Threads per block of the per-sample kernels (a compile-time constant: CUB's BlockReduce needs it).
inline constexpr int block_threads = 256;

//! Elements one thread handles per step: a Philox call yields 4 normals, and 4 consecutive
//! elements are one 16-byte load for float (8 bytes for half and bfloat16).
inline constexpr int group_elements = 4;

//! @brief Run-time launch parameters of dnft's kernels.
//!
//! The executor picks one with launch_config_for(compute capability) when it is created; set
//! your own with executor::set_launch_config. Results do not depend on these values beyond
//! floating-point summation order (which is fixed for a given configuration and device).
struct launch_config {
  //! Blocks of block_threads threads to keep resident per multiprocessor (fills the GPU).
  int blocks_per_sm = 8;
  //! A block takes at least this many elements of one sample (so small samples use few blocks
  //! and the partial-sum workspace stays small).
  int min_elements_per_block = 4096;
  //! Upper bound on the blocks that share one sample.
  int max_blocks_per_sample = 1024;
};

//! @brief Defaults by compute capability: resident threads per multiprocessor divided by
//! block_threads (2048 threads on 8.0 and 9.0, 1536 on 8.6/8.7/8.9/12.x, 1024 on 7.5).
constexpr launch_config launch_config_for(int major, int minor) noexcept {
  launch_config c;
  if (major == 7) {
    c.blocks_per_sm = 4;
  } else if ((major == 8 && minor >= 6) || major == 12) {
    c.blocks_per_sm = 6;
  } else {
    c.blocks_per_sm = 8;
  }
  return c;
}

namespace detail {

//! Rejects configurations that cannot be launched (names the field).
inline void validate(const launch_config& c, std::string_view fn) {
  if (c.blocks_per_sm < 1)
    dnft::detail::fail<value_error>(fn, "launch_config.blocks_per_sm", "expected a value >= 1, got " +
                                                                             std::to_string(c.blocks_per_sm));
  if (c.min_elements_per_block < 1)
    dnft::detail::fail<value_error>(fn, "launch_config.min_elements_per_block",
                                    "expected a value >= 1, got " + std::to_string(c.min_elements_per_block));
  if (c.max_blocks_per_sample < 1)
    dnft::detail::fail<value_error>(fn, "launch_config.max_blocks_per_sample",
                                    "expected a value >= 1, got " + std::to_string(c.max_blocks_per_sample));
}

}  // namespace detail
}  // namespace dnft::cuda

namespace dnft::cuda::detail {

//! How a per-sample kernel covers a (B, D) batch: each sample is cut into `per_sample` chunks of
//! `chunk` elements (a multiple of group_elements, so Philox groups and vector loads never
//! straddle two blocks); work item w = i * per_sample + c is chunk c of sample i. A kernel
//! launches `grid` blocks and loops over the `items` work items with stride `grid`.
struct sample_grid {
  index_t per_sample = 1;
  index_t chunk = group_elements;
  index_t items = 0;
  unsigned grid = 0;
};

//! Enough blocks to fill the device (sm_count * blocks_per_sm), but no block with fewer than
//! min_elements_per_block elements unless a sample has fewer.
inline sample_grid plan_sample_grid(index_t batch, index_t elements, int sm_count, const launch_config& c) noexcept {
  sample_grid g;
  const index_t target = index_t(sm_count > 0 ? sm_count : 1) * index_t(c.blocks_per_sm);
  index_t per = (target + batch - 1) / (batch > 0 ? batch : 1);
  const index_t by_size = elements / index_t(c.min_elements_per_block);
  per = per < by_size ? per : by_size;
  per = per < index_t(c.max_blocks_per_sample) ? per : index_t(c.max_blocks_per_sample);
  per = per > 1 ? per : 1;
  index_t chunk = (elements + per - 1) / per;
  chunk = (chunk + group_elements - 1) / group_elements * group_elements;
  if (chunk < group_elements) chunk = group_elements;
  g.chunk = chunk;
  g.per_sample = (elements + chunk - 1) / chunk;
  if (g.per_sample < 1) g.per_sample = 1;
  g.items = batch * g.per_sample;
  const index_t most = index_t(1) << 30;  // the kernels loop over the rest
  g.grid = static_cast<unsigned>(g.items < most ? g.items : most);
  return g;
}

//! The elements [begin, end) of sample `sample` that work item w covers.
struct chunk_range {
  index_t sample = 0;
  index_t begin = 0;
  index_t end = 0;
};

DNFT_HOST_DEVICE inline chunk_range chunk_of(const sample_grid& g, index_t w, index_t elements) noexcept {
  chunk_range r;
  r.sample = w / g.per_sample;
  r.begin = (w % g.per_sample) * g.chunk;
  r.end = r.begin + g.chunk < elements ? r.begin + g.chunk : elements;
  return r;
}

}  // namespace dnft::cuda::detail
