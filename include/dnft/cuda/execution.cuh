// SPDX-License-Identifier: Apache-2.0
// dnft/cuda: the CUDA executor (stream, cuBLAS handle, memory resource), device buffers and copies.
#pragma once

#if !defined(__CUDACC__)
#error "dnft/cuda/*.cuh needs a CUDA compiler: put this include in a .cu file and link dnft::cuda"
#endif
static_assert(__cplusplus >= 202002L,
              "dnft/cuda needs C++20 device code: set CMAKE_CUDA_STANDARD 20 (CMake >= 3.26) or pass -std=c++20");

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "dnft/cuda/error.cuh"
#include "dnft/cuda/tuning.cuh"
#include "dnft/error.hpp"
#include "dnft/execution.hpp"
#include "dnft/tensor/memory_space.hpp"
#include "dnft/tensor/tensor_view.hpp"
#include "dnft/tensor/traits.hpp"

namespace dnft::cuda {

// ---- memory resources ------------------------------------------------------------------------

//! @brief Where device buffers and kernel workspace come from.
//! @par Customization
//! Derive from it to route dnft's allocations through your framework's allocator (e.g. a
//! caching allocator): allocate(bytes, stream) returns memory usable in stream order on
//! `stream` (throwing dnft::cuda_error or std::bad_alloc on failure); deallocate(p, bytes,
//! stream) releases it in stream order and must not throw. Zero-byte requests never reach it.
class memory_resource {
 public:
  virtual ~memory_resource() = default;
  virtual void* allocate(std::size_t bytes, cudaStream_t stream) = 0;
  virtual void deallocate(void* p, std::size_t bytes, cudaStream_t stream) noexcept = 0;
};

//! @brief Stream-ordered allocation (cudaMallocFromPoolAsync / cudaFreeAsync) from memory pools of
//! its own, one per device, created on the first allocation there: cheap enough for per-call
//! kernel workspace. Freed memory stays in the pool for the next allocation up to
//! `release_threshold` bytes (default: all of it, as a caching allocator does), so workspace is
//! not mapped again after every stream synchronisation, which a pool with the CUDA default
//! threshold of 0 does; trim() hands the unused memory back. The pools are dnft's, not the
//! device's default pool, whose settings other libraries in the process may rely on.
//! On a device without memory-pool support (cudaDevAttrMemoryPoolsSupported = 0: some
//! virtualised setups), or with `use_pools` false, it allocates with cudaMalloc and frees with
//! cudaFree instead (synchronous).
//! Thread-safe. The resource must outlive every buffer allocated from it (buffers free through
//! it). Its pools are destroyed with it.
class stream_ordered_memory_resource final : public memory_resource {
 public:
  explicit stream_ordered_memory_resource(std::uint64_t release_threshold = UINT64_MAX, bool use_pools = true) noexcept
      : threshold_(release_threshold), use_pools_(use_pools) {}
  stream_ordered_memory_resource(const stream_ordered_memory_resource&) = delete;
  stream_ordered_memory_resource& operator=(const stream_ordered_memory_resource&) = delete;
  ~stream_ordered_memory_resource() override {
    for (const pool_slot& s : pools_)
      if (s.pool != nullptr && cudaMemPoolDestroy(s.pool) != cudaSuccess) (void)cudaGetLastError();
  }

  //! Allocates on the device of `stream` (the current device for the legacy stream, or before
  //! CUDA 12.8), in stream order on `stream`.
  void* allocate(std::size_t bytes, cudaStream_t stream) override {
    int device = 0;
#if CUDART_VERSION >= 12080
    if (stream != nullptr) check(cudaStreamGetDevice(stream, &device));
    else check(cudaGetDevice(&device));
#else
    check(cudaGetDevice(&device));
#endif
    void* p = nullptr;
    if (cudaMemPool_t pool = pool_of(device); pool != nullptr) {
      check(cudaMallocFromPoolAsync(&p, bytes, pool, stream));
      return p;
    }
    int current = device;
    check(cudaGetDevice(&current));
    if (current != device) check(cudaSetDevice(device));  // cudaMalloc allocates on the current device
    const cudaError_t e = cudaMalloc(&p, bytes);
    if (current != device && cudaSetDevice(current) != cudaSuccess) (void)cudaGetLastError();
    check(e);
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      unpooled_.push_back(p);
    } catch (...) {
      (void)cudaFree(p);
      throw;
    }
    has_unpooled_.store(true, std::memory_order_release);
    return p;
  }

  void deallocate(void* p, std::size_t, cudaStream_t stream) noexcept override {
    bool unpooled = false;
    if (has_unpooled_.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = unpooled_.begin(); it != unpooled_.end(); ++it)
        if (*it == p) {
          unpooled_.erase(it);
          unpooled = true;
          break;
        }
    }
    // cudaFree waits for the device's work (outside the lock: other threads keep allocating).
    const cudaError_t e = unpooled ? cudaFree(p) : cudaFreeAsync(p, stream);
    if (e != cudaSuccess) (void)cudaGetLastError();
  }

  //! Returns the memory the pools hold but no allocation uses to the device (cudaMemPoolTrimTo),
  //! for other allocators in the process. Memory whose stream-ordered free the host has not yet
  //! seen complete still counts as used: synchronise the streams that freed it first.
  void trim() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const pool_slot& s : pools_)
      if (s.pool != nullptr) check(cudaMemPoolTrimTo(s.pool, 0));
  }

  //! The pool allocations on `device` come from (created if needed); nullptr when they use cudaMalloc.
  cudaMemPool_t pool(int device) { return pool_of(device); }

 private:
  struct pool_slot {
    bool known = false;
    cudaMemPool_t pool = nullptr;
  };

  cudaMemPool_t pool_of(int device) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (device < 0) dnft::detail::fail<value_error>("cuda::stream_ordered_memory_resource", "device",
                                                    "expected a device ordinal >= 0, got " + std::to_string(device));
    if (pools_.size() <= static_cast<std::size_t>(device)) pools_.resize(static_cast<std::size_t>(device) + 1);
    pool_slot& s = pools_[static_cast<std::size_t>(device)];
    if (!s.known) {
      int supported = 0;
      check(cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device));
      if (use_pools_ && supported != 0) {
        cudaMemPoolProps props{};
        props.allocType = cudaMemAllocationTypePinned;
        props.handleTypes = cudaMemHandleTypeNone;
        props.location.type = cudaMemLocationTypeDevice;
        props.location.id = device;
        cudaMemPool_t pool = nullptr;
        check(cudaMemPoolCreate(&pool, &props));
        std::uint64_t threshold = threshold_;
        if (const cudaError_t e = cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
            e != cudaSuccess) {
          (void)cudaMemPoolDestroy(pool);
          check(e);
        }
        s.pool = pool;
      }
      s.known = true;
    }
    return s.pool;
  }

  std::uint64_t threshold_;
  bool use_pools_;
  std::mutex mutex_;
  std::vector<pool_slot> pools_;
  std::vector<void*> unpooled_;  //!< cudaMalloc allocations (devices without pools)
  std::atomic<bool> has_unpooled_{false};
};

//! cudaMalloc / cudaFree (synchronous; the stream argument is ignored).
class synchronous_memory_resource final : public memory_resource {
 public:
  void* allocate(std::size_t bytes, cudaStream_t) override {
    void* p = nullptr;
    check(cudaMalloc(&p, bytes));
    return p;
  }
  void deallocate(void* p, std::size_t, cudaStream_t) noexcept override {
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }
};

//! The resource executors use unless given another one: a stream_ordered_memory_resource that
//! keeps freed memory for reuse. It lives until the program ends (never destroyed, so buffers
//! released during static destruction still find it; the driver reclaims its pools at exit).
inline stream_ordered_memory_resource& default_memory_resource() noexcept {
  static auto* r = new stream_ordered_memory_resource();
  return *r;
}

// ---- device buffers --------------------------------------------------------------------------

//! @brief An owning, contiguous array of `T` in device memory, allocated and released in stream
//! order on one stream through a memory_resource. Move-only. Its views are device_space views,
//! so passing it to an algorithm with dnft::host is a compile error.
//! @tparam T a trivially copyable element type (float, double, __half, __nv_bfloat16, ints, ...)
template <class T>
class device_buffer {
  static_assert(std::is_trivially_copyable_v<T> && !std::is_const_v<T>,
                "dnft::cuda::device_buffer: T must be a non-const, trivially copyable type");

 public:
  using value_type = T;
  using space_type = device_space;

  device_buffer() = default;

  //! Allocates `n` uninitialised elements on `stream` from `mr`. `keep_alive` is held until the
  //! memory is released (executors pass their stream's owner, so the stream outlives the buffer).
  //! The memory is released in stream order on `stream` too, so name the stream that uses it
  //! (executor::allocate does): the legacy stream (nullptr) is not ordered with non-blocking
  //! streams, such as the ones executors create. `mr` must outlive the buffer.
  explicit device_buffer(index_t n, cudaStream_t stream, memory_resource& mr = default_memory_resource(),
                         std::shared_ptr<const void> keep_alive = {})
      : stream_(stream), mr_(&mr), keep_alive_(std::move(keep_alive)) {
    if (n < 0)
      dnft::detail::fail<shape_error>("cuda::device_buffer", "n",
                                      "expected a number of elements >= 0, got " + std::to_string(n));
    if (n > 0) data_ = static_cast<T*>(mr_->allocate(static_cast<std::size_t>(n) * sizeof(T), stream_));
    size_ = n;
  }

  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  device_buffer(device_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        stream_(o.stream_),
        mr_(o.mr_),
        keep_alive_(std::move(o.keep_alive_)) {}
  device_buffer& operator=(device_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      stream_ = o.stream_;
      mr_ = o.mr_;
      keep_alive_ = std::move(o.keep_alive_);
    }
    return *this;
  }
  ~device_buffer() { reset(); }

  //! Releases the memory (in stream order) and leaves an empty buffer.
  void reset() noexcept {
    if (data_ != nullptr) mr_->deallocate(data_, static_cast<std::size_t>(size_) * sizeof(T), stream_);
    data_ = nullptr;
    size_ = 0;
    keep_alive_.reset();
  }

  T* data() noexcept { return data_; }
  const T* data() const noexcept { return data_; }
  index_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t bytes() const noexcept { return static_cast<std::size_t>(size_) * sizeof(T); }
  //! The stream the buffer is allocated and released on.
  cudaStream_t stream() const noexcept { return stream_; }

  //! (n) view of all elements.
  tensor_view<T, 1, device_space> view() noexcept { return {data_, {size_}, {1}}; }
  tensor_view<const T, 1, device_space> view() const noexcept { return {data_, {size_}, {1}}; }
  //! (rows, cols) row-major view of the first rows * cols elements.
  tensor_view<T, 2, device_space> view(index_t rows, index_t cols) noexcept {
    check_view(rows, cols);
    return make_view(data_, {rows, cols}, device_space{});
  }
  tensor_view<const T, 2, device_space> view(index_t rows, index_t cols) const noexcept {
    check_view(rows, cols);
    return make_view(static_cast<const T*>(data_), {rows, cols}, device_space{});
  }

 private:
  void check_view(index_t rows, index_t cols) const noexcept {
    DNFT_ASSERT(rows >= 0 && cols >= 0 && rows * cols <= size_, "dnft::cuda::device_buffer::view: too many elements");
    (void)rows;
    (void)cols;
  }

  T* data_ = nullptr;
  index_t size_ = 0;
  cudaStream_t stream_ = nullptr;
  memory_resource* mr_ = &default_memory_resource();
  std::shared_ptr<const void> keep_alive_;
};

}  // namespace dnft::cuda

namespace dnft {

//! A device_buffer is a rank-1 tensor in device memory.
template <class T>
struct tensor_traits<cuda::device_buffer<T>> {
  static tensor_view<T, 1, device_space> view(cuda::device_buffer<T>& b) noexcept { return b.view(); }
  static tensor_view<const T, 1, device_space> view(const cuda::device_buffer<T>& b) noexcept { return b.view(); }
};

}  // namespace dnft

namespace dnft::cuda {

namespace detail {

//! Makes `device` current for its lifetime (a no-op when it already is).
class device_guard {
 public:
  explicit device_guard(int device) {
    check(cudaGetDevice(&previous_));
    if (previous_ != device) check(cudaSetDevice(device));
    else previous_ = -1;
  }
  device_guard(const device_guard&) = delete;
  device_guard& operator=(const device_guard&) = delete;
  ~device_guard() {
    if (previous_ >= 0 && cudaSetDevice(previous_) != cudaSuccess) (void)cudaGetLastError();
  }

 private:
  int previous_ = -1;
};

//! What copies of an executor share: the stream (owned or borrowed), the device's properties
//! and the lazily created cuBLAS handle.
struct executor_state {
  cudaStream_t stream = nullptr;
  bool owns_stream = false;
  int device = 0;
  int sm_count = 1;
  int cc_major = 0;
  int cc_minor = 0;
  std::once_flag blas_once;
  cublasHandle_t blas = nullptr;
  std::mutex staging_mutex;  //!< guards the pinned staging buffer
  void* staging = nullptr;
  std::size_t staging_bytes = 0;

  executor_state() = default;
  executor_state(const executor_state&) = delete;
  executor_state& operator=(const executor_state&) = delete;
  ~executor_state() {
    if (blas != nullptr && cublasDestroy(blas) != CUBLAS_STATUS_SUCCESS) (void)cudaGetLastError();
    if (staging != nullptr && cudaFreeHost(staging) != cudaSuccess) (void)cudaGetLastError();
    if (owns_stream && cudaStreamDestroy(stream) != cudaSuccess) (void)cudaGetLastError();
  }
};

template <class V>
void require_contiguous(const V& v, std::string_view fn, std::string_view arg) {
  if (!v.is_contiguous())
    dnft::detail::fail<layout_error>(fn, arg, "expected a contiguous (packed row-major) tensor");
}

}  // namespace detail

//! @brief Runs dnft's algorithms on a CUDA stream.
//!
//! An executor holds a stream (its own, or one it borrows), the device that stream belongs to,
//! a cuBLAS handle bound to the stream (created on first use), a memory resource for device
//! buffers and kernel workspace, and a launch_config. Copies of an executor share the stream
//! and the handle; an owned stream lives until the last copy, and the last buffer allocated
//! through it, is gone. Algorithms enqueue work on the stream; those that return host values
//! (e.g. nft_loss's statistics) wait for their own work to finish.
//!
//! It accepts tensors in device_space and managed_space; a host tensor is a compile error.
//! @code
//!   dnft::cuda::executor ex;                                 // a new stream on the current device
//!   dnft::cuda::executor on_torch(torch_stream);            // borrow a stream (not destroyed)
//!   auto x = ex.allocate<float>(B * D);                       // dnft::cuda::device_buffer<float>
//!   ex.copy(host_vector, x);                                  // any contiguous tensors, same size
//!   auto stats = dnft::nft_loss(ex, x.view(B, D), ...);
//! @endcode
//! @throws cuda_error when created without a usable device.
class executor {
 public:
  template <class Space>
  static constexpr bool can_access = std::is_same_v<Space, device_space> || std::is_same_v<Space, managed_space>;

  using space_type = device_space;
  template <class T>
  using buffer = device_buffer<T>;

  //! A new non-blocking stream on the current device, owned by the executor.
  executor() : executor(nullptr, default_memory_resource()) {
    detail::device_guard g(state_->device);
    check(cudaStreamCreateWithFlags(&state_->stream, cudaStreamNonBlocking));
    state_->owns_stream = true;
  }

  //! Borrows `stream` (nullptr is the legacy default stream); the caller keeps it alive.
  //! Memory for buffers and workspace comes from `mr`, which must outlive the executor and every
  //! buffer allocated through it.
  explicit executor(cudaStream_t stream, memory_resource& mr = default_memory_resource())
      : state_(std::make_shared<detail::executor_state>()), mr_(&mr) {
    auto& s = *state_;
    s.stream = stream;
#if CUDART_VERSION >= 12080
    if (stream != nullptr) check(cudaStreamGetDevice(stream, &s.device));
    else check(cudaGetDevice(&s.device));
#else
    check(cudaGetDevice(&s.device));  // a borrowed stream must belong to the current device
#endif
    check(cudaDeviceGetAttribute(&s.sm_count, cudaDevAttrMultiProcessorCount, s.device));
    check(cudaDeviceGetAttribute(&s.cc_major, cudaDevAttrComputeCapabilityMajor, s.device));
    check(cudaDeviceGetAttribute(&s.cc_minor, cudaDevAttrComputeCapabilityMinor, s.device));
    config_ = launch_config_for(s.cc_major, s.cc_minor);
  }

  cudaStream_t stream() const noexcept { return state_->stream; }
  int device() const noexcept { return state_->device; }
  //! Number of multiprocessors of the device.
  int sm_count() const noexcept { return state_->sm_count; }
  //! Compute capability as 10 * major + minor (e.g. 90 for H100/H200).
  int compute_capability() const noexcept { return 10 * state_->cc_major + state_->cc_minor; }
  memory_resource& resource() const noexcept { return *mr_; }

  const launch_config& config() const noexcept { return config_; }
  //! Overrides the launch parameters (validated: throws value_error naming the bad field).
  executor& set_launch_config(const launch_config& c) {
    detail::validate(c, "cuda::executor::set_launch_config");
    config_ = c;
    return *this;
  }

  //! The cuBLAS handle bound to stream(), created on first use (thread-safe).
  cublasHandle_t cublas() const {
    auto& s = *state_;
    std::call_once(s.blas_once, [&s] {
      detail::device_guard g(s.device);
      cublasHandle_t h = nullptr;
      check(cublasCreate(&h));
      if (const cublasStatus_t st = cublasSetStream(h, s.stream); st != CUBLAS_STATUS_SUCCESS) {
        (void)cublasDestroy(h);
        check(st);
      }
      s.blas = h;
    });
    return s.blas;
  }

  //! `n` uninitialised elements of device memory, allocated in stream order on stream().
  template <class T>
  device_buffer<T> allocate(index_t n) const {
    detail::device_guard g(state_->device);
    return device_buffer<T>(n, state_->stream, *mr_, state_);
  }

  //! Waits for everything enqueued on stream(); throws cuda_error for errors of earlier kernels.
  void synchronize() const {
    detail::device_guard g(state_->device);
    check(cudaStreamSynchronize(state_->stream));
  }

  //! @brief Enqueues a copy of `src` into `dst`: any two contiguous tensors (host, device or
  //! managed) with the same number of elements and the same element type. Asynchronous: keep
  //! both alive and call synchronize() before reading a host destination.
  //! @throws shape_error on a size mismatch, layout_error for a non-contiguous tensor.
  template <tensor_like Src, tensor_like Dst>
  void copy(const Src& src, Dst&& dst) const {
    constexpr std::string_view fn = "cuda::executor::copy";
    const auto s = as_view(src);
    const auto d = as_view(dst);
    using S = std::remove_const_t<typename decltype(s)::element_type>;
    using D = typename decltype(d)::element_type;
    static_assert(std::is_same_v<S, D>,
                  "dnft::cuda::executor::copy: dst must be writable and have the element type of src");
    if (s.size() != d.size())
      dnft::detail::fail<shape_error>(fn, "dst",
                                      "expected " + std::to_string(s.size()) + " elements (the size of src), got " +
                                          std::to_string(d.size()));
    if (s.size() == 0) return;
    detail::require_contiguous(s, fn, "src");
    detail::require_contiguous(d, fn, "dst");
    detail::device_guard g(state_->device);
    check(cudaMemcpyAsync(d.data, s.data, static_cast<std::size_t>(s.size()) * sizeof(S), cudaMemcpyDefault,
                          state_->stream));
  }

  //! A new device buffer holding a copy of a contiguous tensor (flattened).
  template <tensor_like Src>
  auto to_device(const Src& src) const {
    const auto s = as_view(src);
    auto b = allocate<std::remove_const_t<typename decltype(s)::element_type>>(s.size());
    copy(s, b);
    return b;
  }

  //! A host copy of a contiguous tensor (flattened); waits for the copy (and earlier work).
  template <tensor_like Src>
  auto to_host(const Src& src) const {
    const auto s = as_view(src);
    std::vector<std::remove_const_t<typename decltype(s)::element_type>> v(static_cast<std::size_t>(s.size()));
    copy(s, v);
    synchronize();
    return v;
  }

  //! @brief Copies n elements from memory this executor reads (device or managed) at `src` to
  //! host memory at `dst`, and waits for the copy (and earlier work on the stream). The hook
  //! dnft::detail::copy_to_host (train/common.hpp) calls for executors that cannot read the host.
  template <class T>
  void copy_to_host(const T* src, T* dst, index_t n) const {
    static_assert(std::is_trivially_copyable_v<T>, "dnft::cuda::executor::copy_to_host: T must be trivially copyable");
    if (n <= 0) return;
    detail::device_guard g(state_->device);
    check(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(n) * sizeof(T), cudaMemcpyDefault, state_->stream));
    check(cudaStreamSynchronize(state_->stream));
  }

  //! @brief Copies n elements from host memory at `src` to memory this executor reads at `dst`,
  //! in stream order, and waits for the copy, so `src` may be released when this returns.
  template <class T>
  void copy_from_host(const T* src, T* dst, index_t n) const {
    static_assert(std::is_trivially_copyable_v<T>,
                  "dnft::cuda::executor::copy_from_host: T must be trivially copyable");
    if (n <= 0) return;
    detail::device_guard g(state_->device);
    check(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(n) * sizeof(T), cudaMemcpyDefault, state_->stream));
    check(cudaStreamSynchronize(state_->stream));
  }

  //! Pinned host memory of at least `bytes` bytes, held while `lock` is: where algorithms copy
  //! small results back (pinned, so the copy is a real asynchronous DMA and cheap to wait for).
  struct staging {
    std::unique_lock<std::mutex> lock;
    void* data = nullptr;
  };

  //! The executor's staging buffer (shared by its copies, grown on demand, freed with the stream).
  //! Hold the returned object until the copy into it has been waited for and read.
  staging host_staging(std::size_t bytes) const {
    auto& s = *state_;
    std::unique_lock<std::mutex> lock(s.staging_mutex);
    if (s.staging_bytes < bytes) {
      detail::device_guard g(s.device);
      if (s.staging != nullptr) {
        check(cudaStreamSynchronize(s.stream));  // an earlier copy may still target it
        check(cudaFreeHost(s.staging));
        s.staging = nullptr;
        s.staging_bytes = 0;
      }
      const std::size_t grown = bytes < 4096 ? 4096 : bytes;
      check(cudaMallocHost(&s.staging, grown));
      s.staging_bytes = grown;
    }
    return {std::move(lock), s.staging};
  }

  //! Owner of the executor's stream; buffers hold it so the stream outlives them.
  std::shared_ptr<const void> keep_alive() const noexcept { return state_; }

 private:
  std::shared_ptr<detail::executor_state> state_;
  memory_resource* mr_ = &default_memory_resource();
  launch_config config_{};
};

}  // namespace dnft::cuda
