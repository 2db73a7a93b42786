// SPDX-License-Identifier: Apache-2.0
// dnft::train and dnft::metrics_log: the callback sees every iteration's statistics in order,
// a callback returning false stops the run, and the metrics files hold exactly the rows the
// trainer returned (read back independently: CSV split by hand, JSON lines by nlohmann-json).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "dnft/policies/mlp.hpp"
#include "dnft/solvers/solvers.hpp"
#include "dnft/tasks/toy_geneval.hpp"
#include "dnft/train/nft_trainer.hpp"

namespace fs = std::filesystem;

namespace {

//! The least a trainer needs for train(): step() returning statistics with row().
struct counting_trainer {
  struct stats {
    std::int64_t iteration = 0;
    dnft::io::metric_row row() const { return {{"iteration", double(iteration)}}; }
  };
  std::int64_t n = 0;
  stats step() { return {++n}; }
};

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) out.push_back(cell);
  return out;
}

}  // namespace

TEST_SUITE("train") {
  TEST_CASE("train() calls back once per iteration, in order, and stops when the callback returns false") {
    counting_trainer t;
    std::vector<std::int64_t> seen;
    CHECK(dnft::train(t, 5, [&](const counting_trainer::stats& s) { seen.push_back(s.iteration); }) == 5);
    CHECK(seen == std::vector<std::int64_t>{1, 2, 3, 4, 5});

    seen.clear();
    const auto ran = dnft::train(t, 10, [&](const counting_trainer::stats& s) {
      seen.push_back(s.iteration);
      return s.iteration < 8;  // the iteration that returns false is the last one run
    });
    CHECK(ran == 3);
    CHECK(seen == std::vector<std::int64_t>{6, 7, 8});
    CHECK(t.n == 8);

    CHECK(dnft::train(t, 0, [](const counting_trainer::stats&) { FAIL("no iteration expected"); }) == 0);
    CHECK_THROWS_WITH_AS(dnft::train(t, -1, [](const counting_trainer::stats&) {}),
                         "dnft::train: iterations: expected >= 0, got -1", dnft::value_error);
  }

  TEST_CASE("metrics_log writes exactly the statistics nft_trainer returned, to CSV and JSON lines") {
    dnft::toy::geneval_config tc;
    tc.modes = 4;
    const dnft::toy::geneval_task task(tc);
    dnft::mlp_config mc;
    mc.dim = 2;
    mc.num_conditions = 4;
    mc.width = 16;
    mc.depth = 1;
    mc.cond_dim = 8;
    mc.time_frequencies = 4;
    dnft::nft_config cfg;
    cfg.prompts_per_iteration = 2;
    cfg.group_size = 4;
    cfg.sampling_steps = 4;
    dnft::nft_trainer tr(dnft::mlp_policy<float>(mc), dnft::euler_solver<>{}, dnft::toy::distance_reward{&task},
                         [](std::uint64_t it, std::span<int> out) {
                           for (std::size_t g = 0; g < out.size(); ++g) out[g] = int((it + g) % 4);
                         },
                         cfg);

    const fs::path dir = fs::temp_directory_path() / ("dnft_test_train_loop_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    std::vector<dnft::io::metric_row> returned;
    {
      dnft::metrics_log log{dir / "m.csv", dir / "m.jsonl"};
      dnft::train(tr, 3, [&](const dnft::nft_iteration_stats& s) {
        log(s);
        returned.push_back(s.row());
      });
    }
    REQUIRE(returned.size() == 3);

    std::ifstream csv(dir / "m.csv");
    std::string line;
    REQUIRE(std::getline(csv, line));
    const auto header = split(line);
    REQUIRE(header.size() == returned[0].size());
    for (std::size_t c = 0; c < header.size(); ++c) CHECK(header[c] == returned[0][c].first);
    for (const auto& row : returned) {
      REQUIRE(std::getline(csv, line));
      const auto cells = split(line);
      REQUIRE(cells.size() == row.size());
      for (std::size_t c = 0; c < row.size(); ++c) {
        CAPTURE(row[c].first);
        if (std::isnan(row[c].second))
          CHECK(std::isnan(std::stod(cells[c])));
        else
          CHECK(std::stod(cells[c]) == doctest::Approx(row[c].second).epsilon(1e-12));
      }
    }
    CHECK_FALSE(std::getline(csv, line));

    std::ifstream jl(dir / "m.jsonl");
    std::size_t n = 0;
    while (std::getline(jl, line)) {
      REQUIRE(n < returned.size());
      const auto j = nlohmann::json::parse(line);
      for (const auto& [name, v] : returned[n])
        if (!std::isnan(v)) CHECK(j.at(name).get<double>() == doctest::Approx(v).epsilon(1e-12));
      ++n;
    }
    CHECK(n == 3);
    CHECK(returned[2][0] == std::pair<std::string, double>{"iteration", 3.0});
    fs::remove_all(dir);
  }
}
