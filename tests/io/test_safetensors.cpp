// SPDX-License-Identifier: Apache-2.0
// safetensors I/O: byte layout against the format's specification, round trips, atomic writes,
// and refusal of truncated, corrupted and mismatched files.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dnft/io/safetensors.hpp"

namespace fs = std::filesystem;

namespace {

fs::path temp_dir() {
  fs::path p = fs::temp_directory_path() / ("dnft_test_io_" + std::to_string(::getpid()));
  fs::create_directories(p);
  return p;
}

std::vector<unsigned char> slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void spit(const fs::path& p, const std::vector<unsigned char>& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

template <class F>
std::string io_message(F&& f) {
  try {
    f();
  } catch (const dnft::io_error& e) {
    return e.what();
  }
  return "no io_error";
}

dnft::io::safetensors_writer sample_writer() {
  dnft::io::safetensors_writer w;
  std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f};
  std::vector<double> b{0.1, 0.2};
  std::vector<std::int64_t> c{-7, 42, 1ll << 40};
  w.add("layer.weight", a, {2, 3});
  w.add("layer.bias", b, {2});
  w.add("step", c, {3});
  w.metadata("format", "pt");
  return w;
}

}  // namespace

TEST_SUITE("io") {
  TEST_CASE("safetensors layout follows the specification") {
    const auto bytes = sample_writer().serialize();
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);  // little-endian u64 header size
    REQUIRE(8 + n <= bytes.size());
    CHECK(n % 8 == 0);
    const auto h = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(n));
    CHECK(h["layer.weight"]["dtype"] == "F32");
    CHECK(h["layer.weight"]["shape"] == nlohmann::json::array({2, 3}));
    CHECK(h["layer.weight"]["data_offsets"] == nlohmann::json::array({0, 24}));
    CHECK(h["layer.bias"]["dtype"] == "F64");
    CHECK(h["layer.bias"]["data_offsets"] == nlohmann::json::array({24, 40}));
    CHECK(h["step"]["dtype"] == "I64");
    CHECK(h["step"]["data_offsets"] == nlohmann::json::array({40, 64}));
    CHECK(h["__metadata__"]["format"] == "pt");
    CHECK(bytes.size() == 8 + n + 64);
    float w0;
    std::memcpy(&w0, bytes.data() + 8 + n + 4, 4);
    CHECK(w0 == -2.0f);
  }

  TEST_CASE("safetensors round trip through a file, written atomically") {
    const fs::path dir = temp_dir();
    const fs::path p = dir / "ckpt.safetensors";
    sample_writer().write(p);
    for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
    const auto f = dnft::io::safetensors_file::read(p);
    CHECK(f.get<float>("layer.weight", {2, 3}) == std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 5.0f, 6.0f});
    CHECK(f.get<double>("layer.bias", {2}) == std::vector<double>{0.1, 0.2});
    CHECK(f.get<std::int64_t>("step", {3}) == std::vector<std::int64_t>{-7, 42, 1ll << 40});
    CHECK(f.metadata("format") == "pt");
    fs::remove_all(dir);
  }

  TEST_CASE("safetensors refuses truncated files") {
    const auto bytes = sample_writer().serialize();
    for (std::size_t keep : {std::size_t(0), std::size_t(5), std::size_t(20), bytes.size() - 1}) {
      std::vector<unsigned char> cut(bytes.begin(), bytes.begin() + std::ptrdiff_t(keep));
      const auto msg = io_message([&] { dnft::io::safetensors_file::parse(cut, "x.safetensors"); });
      CAPTURE(keep);
      CAPTURE(msg);
      CHECK(msg.find("dnft::safetensors_file::read: x.safetensors:") == 0);
      CHECK((msg.find("truncated") != std::string::npos || msg.find("corrupt") != std::string::npos));
    }
  }

  TEST_CASE("safetensors refuses corrupted data and headers") {
    auto bytes = sample_writer().serialize();
    auto flipped = bytes;
    flipped.back() ^= 0x01;
    CHECK(io_message([&] { dnft::io::safetensors_file::parse(flipped); }).find("checksum does not match") !=
          std::string::npos);
    auto garbled = bytes;
    garbled[9] = '#';
    CHECK(io_message([&] { dnft::io::safetensors_file::parse(garbled); }).find("corrupt header") != std::string::npos);
    auto longer = bytes;
    longer.push_back(0);
    CHECK(io_message([&] { dnft::io::safetensors_file::parse(longer); }).find("trailing bytes") != std::string::npos);
  }

  TEST_CASE("safetensors refuses a tensor of the wrong dtype, shape or name") {
    const auto f = dnft::io::safetensors_file::parse(sample_writer().serialize(), "c.safetensors");
    CHECK(io_message([&] { (void)f.get<double>("layer.weight", {2, 3}); }).find("has dtype F32, expected F64") !=
          std::string::npos);
    CHECK(io_message([&] { (void)f.get<float>("layer.weight", {3, 2}); })
              .find("has shape [2, 3], expected [3, 2]") != std::string::npos);
    CHECK(io_message([&] { (void)f.get<float>("missing", {1}); }).find("no tensor named 'missing'") != std::string::npos);
  }

  TEST_CASE("a failed write leaves the existing file untouched and no temporary behind") {
    const fs::path dir = temp_dir();
    const fs::path good = dir / "good.safetensors";
    sample_writer().write(good);
    const auto before = slurp(good);
    // Writing into a folder that does not exist fails before anything is renamed.
    CHECK_THROWS_AS(sample_writer().write(dir / "no_such_dir" / "x.safetensors"), dnft::io_error);
    // Renaming onto a non-empty directory fails: the target survives, the temporary is removed.
    fs::create_directories(dir / "occupied" / "child");
    CHECK_THROWS_AS(sample_writer().write(dir / "occupied"), dnft::io_error);
    CHECK(fs::is_directory(dir / "occupied" / "child"));
    for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
    CHECK(slurp(good) == before);
    spit(dir / "junk.safetensors", {1, 2, 3});
    CHECK_THROWS_AS(dnft::io::safetensors_file::read(dir / "junk.safetensors"), dnft::io_error);
    CHECK_THROWS_AS(dnft::io::safetensors_file::read(dir / "absent.safetensors"), dnft::io_error);
    fs::remove_all(dir);
  }
}
