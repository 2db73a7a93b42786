// SPDX-License-Identifier: Apache-2.0
// Error-message helpers for tests: the text of the exception of an expected type.
#pragma once

#include <exception>
#include <string>

namespace dnft_test {

//! The what() of the `E` thrown by f(); "no exception" or "wrong exception type: ..." otherwise.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no exception";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace dnft_test
