// SPDX-License-Identifier: Apache-2.0
// dnft: the exception hierarchy. Every run-time error names the function, the argument and
// what was expected.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "dnft/config.hpp"

namespace dnft {

//! @brief Base of every exception dnft throws. Messages read
//! "dnft::<function>: <argument>: <what was expected>, got <what was seen>".
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

//! A tensor has the wrong rank, extents or an empty batch; or two arguments disagree in shape.
class shape_error : public error {
 public:
  using error::error;
};

//! A tensor's memory layout cannot be read as (batch, elements): e.g. trailing axes that do
//! not collapse into one strided axis.
class layout_error : public error {
 public:
  using error::error;
};

//! A tensor lives in a memory space the executor cannot read (checked at run time for
//! tensors whose space is only known at run time, e.g. DLPack).
class space_error : public error {
 public:
  using error::error;
};

//! A value is out of its documented range: t outside [0, 1], beta <= 0, a NaN or infinity
//! in an input, a group too small for its statistic, ...
class value_error : public error {
 public:
  using error::error;
};

//! Reading or writing a file failed, or a file is corrupt or does not match what is loaded.
class io_error : public error {
 public:
  using error::error;
};

namespace detail {

//! Builds "dnft::<fn>: <arg>: <what>".
inline std::string message(std::string_view fn, std::string_view arg, std::string_view what) {
  std::string s = "dnft::";
  s.append(fn);
  s.append(": ");
  if (!arg.empty()) {
    s.append(arg);
    s.append(": ");
  }
  s.append(what);
  return s;
}

template <class Error>
[[noreturn]] inline void fail(std::string_view fn, std::string_view arg, std::string_view what) {
  DNFT_THROW(Error(message(fn, arg, what)));
}

//! A double as text for messages (up to 9 significant digits, "nan" and "inf" spelled out).
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace detail
}  // namespace dnft
