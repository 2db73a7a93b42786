// SPDX-License-Identifier: Apache-2.0
// metrics_writer: CSV and JSON-lines output, append for resumed runs, column checks.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dnft/io/metrics.hpp"

namespace fs = std::filesystem;

namespace {
std::string read_all(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
fs::path tmp(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("dnft_test_metrics_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}
}  // namespace

TEST_SUITE("io") {
  TEST_CASE("CSV metrics: header once, rows in order, append keeps columns") {
    const auto p = tmp("m.csv");
    {
      dnft::io::metrics_writer w(p);
      w.write({{"iteration", 1}, {"loss", 0.5}});
      w.write({{"iteration", 2}, {"loss", 0.25}});
    }
    CHECK(read_all(p) == "iteration,loss\n1,0.5\n2,0.25\n");
    {
      dnft::io::metrics_writer w(p, /*append=*/true);
      w.write({{"iteration", 3}, {"loss", 0.125}});
      CHECK_THROWS_WITH_AS(w.write({{"iteration", 4}}), doctest::Contains("must have the 2 columns"), dnft::value_error);
      CHECK_THROWS_WITH_AS(w.write({{"step", 4}, {"loss", 1}}), doctest::Contains("column 0 is 'step', the header says 'iteration'"),
                           dnft::value_error);
    }
    CHECK(read_all(p) == "iteration,loss\n1,0.5\n2,0.25\n3,0.125\n");
    fs::remove_all(p.parent_path());
  }

  TEST_CASE("JSON-lines metrics: one object per line") {
    const auto p = tmp("m.jsonl");
    {
      dnft::io::metrics_writer w(p);
      w.write({{"iteration", 1}, {"accuracy", 0.75}});
      w.write({{"iteration", 2}, {"accuracy", 0.875}, {"extra", -1}});
    }
    std::ifstream f(p);
    std::string line;
    std::getline(f, line);
    auto j = nlohmann::json::parse(line);
    CHECK(j["iteration"] == 1);
    CHECK(j["accuracy"] == 0.75);
    std::getline(f, line);
    j = nlohmann::json::parse(line);
    CHECK(j["extra"] == -1);
    fs::remove_all(p.parent_path());
  }
}
