// SPDX-License-Identifier: Apache-2.0
// dnft: per-iteration metrics to CSV or JSON-lines files (one row per iteration, flushed).
#pragma once

#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "dnft/error.hpp"

namespace dnft::io {

// `detail::fail` below is dnft::detail's, also where dnft::io::detail exists (io/safetensors.hpp
// included first: unqualified, `detail` would then name dnft::io::detail).
namespace detail {
using dnft::detail::fail;
}  // namespace detail

//! A row of named values, in column order.
using metric_row = std::vector<std::pair<std::string, double>>;

enum class metrics_format { csv, jsonl };

//! Picks the format from the file extension: ".csv" is CSV, anything else JSON lines.
inline metrics_format format_of(const std::filesystem::path& p) {
  return p.extension() == ".csv" ? metrics_format::csv : metrics_format::jsonl;
}

//! @brief Appends metric rows to a CSV file (header from the first row, every later row must have
//! the same columns) or a JSON-lines file (one object per row). Each row is flushed, so a crash
//! loses at most the row being written.
class metrics_writer {
 public:
  metrics_writer() = default;
  //! @param append  keep existing rows (for a resumed run) instead of truncating
  explicit metrics_writer(const std::filesystem::path& path, bool append = false)
      : path_(path), format_(format_of(path)) {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    const bool had_rows = append && std::filesystem::exists(path) && std::filesystem::file_size(path) > 0;
    out_.open(path, append ? std::ios::app : std::ios::trunc);
    if (!out_) detail::fail<io_error>("metrics_writer", path.string(), "cannot open for writing");
    header_written_ = had_rows && format_ == metrics_format::csv;
    if (header_written_) {  // recover the column order of the existing file
      std::ifstream in(path);
      std::string line;
      std::getline(in, line);
      std::size_t b = 0;
      while (b <= line.size()) {
        const std::size_t e = line.find(',', b);
        columns_.push_back(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
        if (e == std::string::npos) break;
        b = e + 1;
      }
    }
  }

  bool is_open() const noexcept { return out_.is_open(); }
  const std::filesystem::path& path() const noexcept { return path_; }

  void write(const metric_row& row) {
    if (!out_.is_open()) return;
    if (format_ == metrics_format::jsonl) {
      nlohmann::ordered_json j = nlohmann::ordered_json::object();
      for (const auto& [k, v] : row) j[k] = v;
      out_ << j.dump() << '\n';
    } else {
      if (!header_written_) {
        for (std::size_t i = 0; i < row.size(); ++i) {
          columns_.push_back(row[i].first);
          out_ << (i ? "," : "") << row[i].first;
        }
        out_ << '\n';
        header_written_ = true;
      }
      if (row.size() != columns_.size())
        detail::fail<value_error>("metrics_writer::write", path_.string(),
                                  "a CSV row must have the " + std::to_string(columns_.size()) + " columns of the header, got " +
                                      std::to_string(row.size()));
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (row[i].first != columns_[i])
          detail::fail<value_error>("metrics_writer::write", path_.string(),
                                    "column " + std::to_string(i) + " is '" + row[i].first + "', the header says '" +
                                        columns_[i] + "'");
        // the shortest text that reads back as the same double (as the JSON lines do)
        char buf[32];
        const auto r = std::to_chars(buf, buf + sizeof buf, row[i].second);
        out_ << (i ? "," : "") << std::string_view(buf, std::size_t(r.ptr - buf));
      }
      out_ << '\n';
    }
    out_.flush();
    if (!out_) detail::fail<io_error>("metrics_writer::write", path_.string(), "write failed");
  }

 private:
  std::filesystem::path path_;
  metrics_format format_ = metrics_format::jsonl;
  std::ofstream out_;
  bool header_written_ = false;
  std::vector<std::string> columns_;
};

}  // namespace dnft::io
