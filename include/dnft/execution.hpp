// SPDX-License-Identifier: Apache-2.0
// dnft: executors. The executor's type chooses the backend of every algorithm.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <type_traits>
#include <vector>

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

//! @brief Runs algorithms on the calling thread and, for large enough work, on a few more
//! host threads (fork-join over samples).
//!
//! Work is split over samples, and every per-sample result is computed by one thread in a
//! fixed order, then combined in sample order by the caller, so results are bit-identical for
//! any thread count.
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
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(nt - 1));
    for (index_t k = 1; k < nt; ++k) pool.emplace_back(run, k);
    run(0);
    for (auto& th : pool) th.join();
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
