// SPDX-License-Identifier: Apache-2.0
// dnft: reading and writing the safetensors format (what PyTorch's `safetensors` opens), with
// atomic writes and verification on load.
#pragma once

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "dnft/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>
#endif

namespace dnft::io {

//! Element types dnft writes and reads (safetensors dtype strings).
enum class dtype { f64, f32, i64, i32, u64, u32, u8 };

inline const char* dtype_name(dtype d) noexcept {
  switch (d) {
    case dtype::f64: return "F64";
    case dtype::f32: return "F32";
    case dtype::i64: return "I64";
    case dtype::i32: return "I32";
    case dtype::u64: return "U64";
    case dtype::u32: return "U32";
    case dtype::u8: return "U8";
  }
  return "?";
}

inline std::size_t dtype_size(dtype d) noexcept {
  switch (d) {
    case dtype::f64:
    case dtype::i64:
    case dtype::u64: return 8;
    case dtype::f32:
    case dtype::i32:
    case dtype::u32: return 4;
    case dtype::u8: return 1;
  }
  return 0;
}

template <class T>
constexpr dtype dtype_of() noexcept {
  if constexpr (std::is_same_v<T, double>) return dtype::f64;
  else if constexpr (std::is_same_v<T, float>) return dtype::f32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return dtype::i64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return dtype::i32;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return dtype::u64;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return dtype::u32;
  else {
    static_assert(std::is_same_v<T, std::uint8_t>, "dnft::io: unsupported element type for safetensors");
    return dtype::u8;
  }
}

namespace detail {

//! FNV-1a, 64 bit: a checksum of the data section so a corrupted file is refused on load.
inline std::uint64_t fnv1a64(const unsigned char* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

inline std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

static_assert(std::endian::native == std::endian::little, "dnft::io: safetensors I/O assumes a little-endian host");

}  // namespace detail

//! @brief Collects named tensors and metadata, then writes one safetensors file atomically:
//! to a temporary file in the same folder, flushed to disk, then renamed over the target, so a
//! crash never leaves a partial file in place of a good one.
//!
//! The metadata gets a "dnft.checksum" entry (FNV-1a 64 of the data section) that
//! safetensors_file verifies on load. Tensors are written in the order added.
class safetensors_writer {
 public:
  template <class T>
  void add(const std::string& name, std::span<const T> values, std::vector<std::int64_t> shape) {
    std::int64_t n = 1;
    for (auto s : shape) n *= s;
    if (n != static_cast<std::int64_t>(values.size()))
      dnft::detail::fail<shape_error>("safetensors_writer::add", name,
                                      "shape holds " + std::to_string(n) + " elements but " +
                                          std::to_string(values.size()) + " values were given");
    if (entries_.count(name)) dnft::detail::fail<value_error>("safetensors_writer::add", name, "duplicate tensor name");
    entry e;
    e.type = dtype_of<T>();
    e.shape = std::move(shape);
    e.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(e.bytes.data(), values.data(), e.bytes.size());
    order_.push_back(name);
    entries_.emplace(name, std::move(e));
  }
  template <class T>
  void add(const std::string& name, const std::vector<T>& values, std::vector<std::int64_t> shape) {
    add(name, std::span<const T>(values), std::move(shape));
  }
  //! A 1-D tensor.
  template <class T>
  void add(const std::string& name, std::span<const T> values) {
    add(name, values, {static_cast<std::int64_t>(values.size())});
  }

  void metadata(const std::string& key, const std::string& value) { meta_[key] = value; }

  //! Serialises to bytes (header length, JSON header, data).
  std::vector<unsigned char> serialize() const {
    nlohmann::ordered_json h = nlohmann::ordered_json::object();
    std::uint64_t off = 0, sum = 1469598103934665603ull;
    for (const auto& name : order_) {
      const entry& e = entries_.at(name);
      h[name] = {{"dtype", dtype_name(e.type)}, {"shape", e.shape}, {"data_offsets", {off, off + e.bytes.size()}}};
      off += e.bytes.size();
      sum = detail::fnv1a64(e.bytes.data(), e.bytes.size(), sum);
    }
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : meta_) m[k] = v;
    m["dnft.checksum"] = detail::hex64(sum);
    h["__metadata__"] = m;
    std::string text = h.dump();
    while (text.size() % 8 != 0) text.push_back(' ');  // align the data section
    std::vector<unsigned char> out(8 + text.size() + off);
    const std::uint64_t n = text.size();
    std::memcpy(out.data(), &n, 8);
    std::memcpy(out.data() + 8, text.data(), text.size());
    std::size_t pos = 8 + text.size();
    for (const auto& name : order_) {
      const entry& e = entries_.at(name);
      if (!e.bytes.empty()) std::memcpy(out.data() + pos, e.bytes.data(), e.bytes.size());
      pos += e.bytes.size();
    }
    return out;
  }

  //! Writes atomically; throws io_error naming the path on any failure (the target is untouched).
  void write(const std::filesystem::path& path) const { write_atomic(path, serialize()); }

  static void write_atomic(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
    constexpr const char* fn = "safetensors_writer::write";
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    std::filesystem::path tmp = path;
    tmp += ".tmp";
#if defined(__unix__) || defined(__APPLE__)
    tmp += "." + std::to_string(::getpid());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
      dnft::detail::fail<io_error>(fn, path.string(), "cannot create temporary file " + tmp.string() + ": " +
                                                          std::strerror(errno));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ::ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (w <= 0) {
        const int err = errno;
        ::close(fd);
        std::filesystem::remove(tmp);
        dnft::detail::fail<io_error>(fn, path.string(), std::string("write failed: ") + std::strerror(err));
      }
      done += static_cast<std::size_t>(w);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
      const int err = errno;
      std::filesystem::remove(tmp);
      dnft::detail::fail<io_error>(fn, path.string(), std::string("flush failed: ") + std::strerror(err));
    }
#else
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      f.flush();
      if (!f) {
        std::filesystem::remove(tmp);
        dnft::detail::fail<io_error>(fn, path.string(), "write failed");
      }
    }
#endif
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      std::filesystem::remove(tmp);
      dnft::detail::fail<io_error>(fn, path.string(), "rename from " + tmp.string() + " failed: " + ec.message());
    }
#if defined(__unix__) || defined(__APPLE__)
    if (const int dfd = ::open(dir.c_str(), O_RDONLY); dfd >= 0) {  // make the rename durable
      ::fsync(dfd);
      ::close(dfd);
    }
#endif
  }

 private:
  struct entry {
    dtype type = dtype::f32;
    std::vector<std::int64_t> shape;
    std::vector<unsigned char> bytes;
  };
  std::vector<std::string> order_;
  std::map<std::string, entry> entries_;
  std::map<std::string, std::string> meta_;
};

//! @brief A safetensors file read into memory and verified: header structure, offsets inside
//! the file, no overlap, sizes that match dtype and shape, and the dnft checksum when present.
//! Any problem is an io_error naming the file and what is wrong.
class safetensors_file {
 public:
  struct info {
    dtype type;
    std::vector<std::int64_t> shape;
    std::size_t begin, end;  // byte offsets in the data section
  };

  static safetensors_file read(const std::filesystem::path& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) dnft::detail::fail<io_error>("safetensors_file::read", path.string(), "cannot open the file");
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return parse(std::move(bytes), path.string());
  }

  static safetensors_file parse(std::vector<unsigned char> bytes, const std::string& where = "<memory>") {
    constexpr const char* fn = "safetensors_file::read";
    auto bad = [&](const std::string& what) { dnft::detail::fail<io_error>(fn, where, what); };
    if (bytes.size() < 8) bad("truncated: shorter than the 8-byte header length");
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    if (n > bytes.size() - 8) bad("truncated or corrupt: header length " + std::to_string(n) + " exceeds the file");
    safetensors_file out;
    nlohmann::json h;
    try {
      h = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    } catch (const nlohmann::json::exception& e) {
      bad(std::string("corrupt header (not JSON): ") + e.what());
    }
    if (!h.is_object()) bad("corrupt header: not a JSON object");
    const std::size_t data_start = 8 + static_cast<std::size_t>(n);
    const std::size_t data_size = bytes.size() - data_start;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
    try {
      for (auto it = h.begin(); it != h.end(); ++it) {
        if (it.key() == "__metadata__") {
          for (auto m = it->begin(); m != it->end(); ++m) out.meta_[m.key()] = m->get<std::string>();
          continue;
        }
        const auto& e = *it;
        info inf{};
        const std::string ds = e.at("dtype").get<std::string>();
        bool known = false;
        for (dtype d : {dtype::f64, dtype::f32, dtype::i64, dtype::i32, dtype::u64, dtype::u32, dtype::u8})
          if (ds == dtype_name(d)) {
            inf.type = d;
            known = true;
          }
        if (!known) bad("tensor '" + it.key() + "' has unsupported dtype " + ds);
        inf.shape = e.at("shape").get<std::vector<std::int64_t>>();
        const auto offs = e.at("data_offsets").get<std::vector<std::uint64_t>>();
        if (offs.size() != 2 || offs[0] > offs[1] || offs[1] > data_size)
          bad("truncated or corrupt: tensor '" + it.key() + "' lies outside the data section");
        std::uint64_t count = 1;
        for (auto s : inf.shape) {
          if (s < 0) bad("tensor '" + it.key() + "' has a negative extent");
          count *= static_cast<std::uint64_t>(s);
        }
        if (count * dtype_size(inf.type) != offs[1] - offs[0])
          bad("tensor '" + it.key() + "': shape and dtype need " + std::to_string(count * dtype_size(inf.type)) +
              " bytes, offsets give " + std::to_string(offs[1] - offs[0]));
        inf.begin = static_cast<std::size_t>(offs[0]);
        inf.end = static_cast<std::size_t>(offs[1]);
        ranges.emplace_back(inf.begin, inf.end);
        out.tensors_.emplace(it.key(), inf);
      }
    } catch (const nlohmann::json::exception& e) {
      bad(std::string("corrupt header: ") + e.what());
    }
    std::sort(ranges.begin(), ranges.end());
    std::size_t covered = 0;
    for (const auto& [b, e] : ranges) {
      if (b != covered) bad("corrupt: tensor data ranges overlap or leave gaps");
      covered = e;
    }
    if (covered != data_size) bad("corrupt: " + std::to_string(data_size - covered) + " trailing bytes after the data");
    out.data_.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_start), bytes.end());
    if (auto it = out.meta_.find("dnft.checksum"); it != out.meta_.end()) {
      // The checksum covers the tensors in file order (the order of their offsets).
      std::uint64_t sum = 1469598103934665603ull;
      sum = detail::fnv1a64(out.data_.data(), out.data_.size(), sum);
      if (detail::hex64(sum) != it->second)
        bad("corrupt: the data checksum does not match (expected " + it->second + ", got " + detail::hex64(sum) + ")");
    }
    out.where_ = where;
    return out;
  }

  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const std::map<std::string, info>& tensors() const noexcept { return tensors_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return meta_; }

  std::string metadata(const std::string& key) const {
    auto it = meta_.find(key);
    if (it == meta_.end()) dnft::detail::fail<io_error>("safetensors_file::metadata", where_, "no metadata entry '" + key + "'");
    return it->second;
  }

  //! The values of tensor `name`, checked against the expected dtype (T) and shape.
  template <class T>
  std::vector<T> get(const std::string& name, const std::vector<std::int64_t>& expected_shape) const {
    const info& inf = find(name);
    if (inf.type != dtype_of<T>())
      dnft::detail::fail<io_error>("safetensors_file::get", where_,
                                   "tensor '" + name + "' has dtype " + dtype_name(inf.type) + ", expected " +
                                       dtype_name(dtype_of<T>()));
    if (inf.shape != expected_shape)
      dnft::detail::fail<io_error>("safetensors_file::get", where_,
                                   "tensor '" + name + "' has shape " + shape_text(inf.shape) + ", expected " +
                                       shape_text(expected_shape));
    std::vector<T> v((inf.end - inf.begin) / sizeof(T));
    if (!v.empty()) std::memcpy(v.data(), data_.data() + inf.begin, inf.end - inf.begin);
    return v;
  }

  //! Copies tensor `name` into `out` (its size fixes the expected 1-D shape unless `shape` is given).
  template <class T>
  void get_into(const std::string& name, std::span<T> out, const std::vector<std::int64_t>& shape) const {
    auto v = get<T>(name, shape);
    if (v.size() != out.size())
      dnft::detail::fail<io_error>("safetensors_file::get", where_, "tensor '" + name + "' does not fit the destination");
    std::copy(v.begin(), v.end(), out.begin());
  }

 private:
  const info& find(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end())
      dnft::detail::fail<io_error>("safetensors_file::get", where_, "no tensor named '" + name + "'");
    return it->second;
  }
  static std::string shape_text(const std::vector<std::int64_t>& s) {
    std::string t = "[";
    for (std::size_t i = 0; i < s.size(); ++i) t += (i ? ", " : "") + std::to_string(s[i]);
    return t + "]";
  }

  std::map<std::string, info> tensors_;
  std::map<std::string, std::string> meta_;
  std::vector<unsigned char> data_;
  std::string where_;
};

}  // namespace dnft::io
