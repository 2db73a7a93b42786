// SPDX-License-Identifier: Apache-2.0
// host_executor::bulk and the persistent worker pool behind it: coverage of the index range,
// contiguous per-thread ranges, reuse of the same workers, nested and concurrent calls,
// exceptions, and growing the pool.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dnft/execution.hpp"

namespace {

dnft::host_executor threaded(int threads) {
  dnft::host_executor ex{threads};
  ex.min_parallel_work = 1;
  return ex;
}

//! Runs bulk and records which indices each call of f saw; checks they tile [0, n) exactly once.
void check_tiling(const dnft::host_executor& ex, dnft::index_t n, dnft::index_t expected_calls) {
  std::vector<int> hits(std::size_t(n), 0);
  std::mutex m;
  std::vector<std::pair<dnft::index_t, dnft::index_t>> ranges;
  ex.bulk(n, 1, [&](dnft::index_t b, dnft::index_t e) {
    for (dnft::index_t i = b; i < e; ++i) ++hits[std::size_t(i)];
    std::lock_guard<std::mutex> lk(m);
    ranges.emplace_back(b, e);
  });
  for (int h : hits) CHECK(h == 1);
  CHECK(dnft::index_t(ranges.size()) == expected_calls);
  for (auto [b, e] : ranges) CHECK(b < e);
}

}  // namespace

TEST_SUITE("host") {
  TEST_CASE("bulk tiles [0, n) with one contiguous range per thread") {
    for (int threads : {1, 2, 3, 5}) {
      CAPTURE(threads);
      for (dnft::index_t n : {1, 2, 3, 7, 64, 1000}) {
        CAPTURE(n);
        check_tiling(threaded(threads), n, std::min<dnft::index_t>(threads, n));
      }
    }
    dnft::host_executor ex{4};  // default min_parallel_work: small work stays on the caller
    const auto caller = std::this_thread::get_id();
    ex.bulk(10, 10, [&](dnft::index_t b, dnft::index_t e) {
      CHECK(b == 0);
      CHECK(e == 10);
      CHECK(std::this_thread::get_id() == caller);
    });
    ex.bulk(0, 10, [](dnft::index_t, dnft::index_t) { FAIL("called for n = 0"); });
  }

  TEST_CASE("bulk reuses the same worker threads from call to call") {
    const auto ex = threaded(3);
    auto ids = [&] {
      std::vector<std::thread::id> id(3);
      ex.bulk(3, 1, [&](dnft::index_t b, dnft::index_t) { id[std::size_t(b)] = std::this_thread::get_id(); });
      return id;
    };
    const auto first = ids();
    CHECK(first[0] == std::this_thread::get_id());
    CHECK(first[1] != first[0]);
    CHECK(first[2] != first[1]);
    for (int k = 0; k < 50; ++k) CHECK(ids() == first);  // worker w always runs part w
  }

  TEST_CASE("bulk inside bulk, and bulk from several threads at once, complete correctly") {
    const auto ex = threaded(2);
    std::atomic<long> sum{0};
    ex.bulk(4, 1, [&](dnft::index_t b, dnft::index_t e) {
      for (dnft::index_t i = b; i < e; ++i)
        ex.bulk(100, 1, [&](dnft::index_t bb, dnft::index_t ee) {
          for (dnft::index_t j = bb; j < ee; ++j) sum += long(i * 100 + j);
        });
    });
    CHECK(sum == 400L * 399L / 2);

    std::vector<long> totals(4, 0);
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c)
      callers.emplace_back([&, c] {
        for (int rep = 0; rep < 200; ++rep) {
          std::atomic<long> s{0};
          ex.bulk(64, 1, [&](dnft::index_t b, dnft::index_t e) {
            for (dnft::index_t i = b; i < e; ++i) s += long(i);
          });
          totals[std::size_t(c)] += s;
        }
      });
    for (auto& th : callers) th.join();
    for (long tot : totals) CHECK(tot == 200L * (64L * 63L / 2));
  }

  TEST_CASE("bulk rethrows the first exception by range order, after every range has run") {
    const auto ex = threaded(4);
    std::atomic<int> ran{0};
    std::string what;
    try {
      ex.bulk(4, 1, [&](dnft::index_t b, dnft::index_t) {
        ++ran;
        if (b >= 1) throw std::runtime_error("range " + std::to_string(b));
      });
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
    CHECK(what == "range 1");
    CHECK(ran == 4);
    // the pool still works afterwards, with more threads than before
    check_tiling(threaded(6), 6, 6);
  }
}
