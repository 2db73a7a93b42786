// SPDX-License-Identifier: Apache-2.0
// dnft: executors. The executor's type chooses the backend of every algorithm.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

#include "dnft/tensor/memory_space.hpp"
#include "dnft/tensor/traits.hpp"
#include "dnft/tensor/tensor_view.hpp"

namespace dnft {

//! @brief An owning, contiguous buffer of host memory; what host_executor allocates.
template <class T>
class host_buffer {
 public:
  using value_type = T;
  using space_type = host_space;

  host_buffer() = default;
  explicit host_buffer(index_t n, T value = T{}) : data_(static_cast<std::size_t>(n), value) {}

  T* data() noexcept { return data_.data(); }
  const T* data() const noexcept { return data_.data(); }
  index_t size() const noexcept { return static_cast<index_t>(data_.size()); }
  void resize(index_t n) { data_.resize(static_cast<std::size_t>(n)); }

  tensor_view<T, 1> view() noexcept { return {data(), {size()}, {1}}; }
  tensor_view<const T, 1> view() const noexcept { return {data(), {size()}, {1}}; }
  //! A (rows, cols) row-major view of the first rows * cols elements.
  tensor_view<T, 2> view(index_t rows, index_t cols) noexcept { return make_view(data(), {rows, cols}); }
  tensor_view<const T, 2> view(index_t rows, index_t cols) const noexcept {
    return make_view(static_cast<const T*>(data()), {rows, cols});
  }

  std::vector<T>& vector() noexcept { return data_; }
  const std::vector<T>& vector() const noexcept { return data_; }

 private:
  std::vector<T> data_;
};

template <class T>
struct tensor_traits<host_buffer<T>> {
  static tensor_view<T, 1> view(host_buffer<T>& b) noexcept { return b.view(); }
  static tensor_view<const T, 1> view(const host_buffer<T>& b) noexcept { return b.view(); }
};

namespace detail {

//! @brief The process-wide pool of worker threads behind host_executor::bulk, started on first
//! use and grown on demand; workers sleep on a condition variable between calls.
//!
//! Worker w always runs part w of a call (part 0 runs on the caller), so a thread keeps seeing
//! the same ranges from call to call. One call at a time: a call made while the pool is busy
//! (from another thread, or nested inside a part) gets `false` and uses its own threads. So
//! does a call in a child process after fork(), where the workers no longer exist.
class host_pool {
 public:
  static host_pool& instance() {
    static host_pool pool;
    return pool;
  }

  host_pool(const host_pool&) = delete;
  host_pool& operator=(const host_pool&) = delete;

  ~host_pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }

  //! Runs part(k) for k in [0, parts) (k = 0 on the calling thread) and returns true after all
  //! have finished; returns false without running anything when the pool is not available.
  //! `part` must not throw.
  template <class F>
  bool try_run(index_t parts, F& part) {
    bool idle = false;
    if (!same_process() || !busy_.compare_exchange_strong(idle, true, std::memory_order_acquire)) return false;
    struct release {
      std::atomic<bool>& flag;
      ~release() { flag.store(false, std::memory_order_release); }
    } on_exit{busy_};
    {
      std::lock_guard<std::mutex> lk(m_);
      while (index_t(workers_.size()) < parts - 1) {
        const index_t w = index_t(workers_.size()) + 1;
        workers_.emplace_back([this, w, g = generation_] { work(w, g); });  // g: before this call
      }
      fn_ = [](void* c, index_t k) { (*static_cast<F*>(c))(k); };
      ctx_ = &part;
      parts_ = parts;
      pending_ = parts - 1;
      ++generation_;
    }
    wake_.notify_all();
    part(index_t{0});
    std::unique_lock<std::mutex> lk(m_);
    done_.wait(lk, [this] { return pending_ == 0; });
    return true;
  }

 private:
  host_pool() = default;

  void work(index_t w, std::uint64_t seen) {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (w >= parts_) continue;
      void (*fn)(void*, index_t) = fn_;
      void* ctx = ctx_;
      lk.unlock();
      fn(ctx, w);
      lk.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  bool same_process() const noexcept {
#if __has_include(<unistd.h>)
    return ::getpid() == pid_;
#else
    return true;
#endif
  }

  std::atomic<bool> busy_{false};  // set for the whole of one call
  std::mutex m_;     // guards everything below
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  void (*fn_)(void*, index_t) = nullptr;
  void* ctx_ = nullptr;
  index_t parts_ = 0;
  index_t pending_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
#if __has_include(<unistd.h>)
  ::pid_t pid_ = ::getpid();
#endif
};

}  // namespace detail

//! @brief Runs algorithms on the calling thread and, for large enough work, on a few more
//! host threads (fork-join over samples).
//!
//! Work is split over samples, and every per-sample result is computed by one thread in a
//! fixed order, then combined in sample order by the caller, so results are bit-identical for
//! any thread count. The threads are those of a persistent pool (detail::host_pool), so a
//! parallel call costs a wake-up, not a thread creation.
//!
//! @code
//!   dnft::nft_loss(dnft::host, ...);                       // all hardware threads
//!   dnft::nft_loss(dnft::host_executor{1}, ...);          // single-threaded
//! @endcode
struct host_executor {
  template <class Space>
  static constexpr bool can_access = std::is_same_v<Space, host_space> || std::is_same_v<Space, managed_space>;

  using space_type = host_space;
  template <class T>
  using buffer = host_buffer<T>;

  //! Allocates `n` elements in memory this executor can access.
  template <class T>
  host_buffer<T> allocate(index_t n) const {
    return host_buffer<T>(n);
  }

  //! Nothing is asynchronous on the host; provided so generic code can wait for any executor.
  void synchronize() const noexcept {}

  //! Number of threads; 0 means std::thread::hardware_concurrency().
  int threads = 0;
  //! Below this many element operations in total, work runs on the calling thread only.
  index_t min_parallel_work = index_t{1} << 16;

  //! The number of threads the executor may use.
  int concurrency() const noexcept {
    if (threads > 0) return threads;
    const unsigned h = std::thread::hardware_concurrency();
    return h == 0 ? 1 : static_cast<int>(h);
  }

  //! @brief Calls `f(begin, end)` on disjoint, contiguous index ranges covering [0, n).
  //! @param work_per_index  rough cost of one index in element operations (decides threading)
  //! Exceptions thrown by `f` are rethrown on the calling thread (the first one by range order).
  template <class F>
  void bulk(index_t n, index_t work_per_index, F&& f) const {
    if (n <= 0) return;
    index_t nt = concurrency();
    const index_t total = n * std::max<index_t>(work_per_index, 1);
    nt = std::min<index_t>({nt, n, std::max<index_t>(1, total / std::max<index_t>(min_parallel_work, 1))});
    if (nt <= 1) {
      f(index_t{0}, n);
      return;
    }
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(nt));
    auto run = [&](index_t k) {
      const index_t b = n * k / nt, e = n * (k + 1) / nt;
      try {
        f(b, e);
      } catch (...) {
        errors[static_cast<std::size_t>(k)] = std::current_exception();
      }
    };
    if (!detail::host_pool::instance().try_run(nt, run)) {
      std::vector<std::thread> pool;
      pool.reserve(static_cast<std::size_t>(nt - 1));
      for (index_t k = 1; k < nt; ++k) pool.emplace_back(run, k);
      run(0);
      for (auto& th : pool) th.join();
    }
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
};

//! The default host executor (all hardware threads).
inline constexpr host_executor host{};

template <class E>
inline constexpr bool is_host_executor_v = std::is_same_v<std::remove_cvref_t<E>, host_executor>;

//! @brief An executor: a type that says which memory spaces it can access.
//! @par Customization
//! A new backend defines a type with `template <class Space> static constexpr bool can_access`
//! and specialises the `*_backend<Exec>` templates of the algorithms it implements.
//! An executor provides: `template <class Space> static constexpr bool can_access`, a
//! `space_type` (where it allocates), `template <class T> using buffer` (an owning buffer with
//! data(), size(), view()), `allocate<T>(n)` and `synchronize()`.
template <class E>
concept executor = requires(const std::remove_cvref_t<E>& e) {
  { std::remove_cvref_t<E>::template can_access<host_space> } -> std::convertible_to<bool>;
  typename std::remove_cvref_t<E>::space_type;
  e.synchronize();
};

//! The owning buffer type an executor allocates.
template <class E, class T>
using buffer_t = typename std::remove_cvref_t<E>::template buffer<T>;

}  // namespace dnft
