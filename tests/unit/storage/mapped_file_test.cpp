#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "storage/mapped_file.hpp"

using namespace ferro;

namespace {

std::filesystem::path temp_file(const std::string& bytes) {
  auto p = std::filesystem::temp_directory_path() / ("ferro-map-" + std::to_string(std::random_device{}()));
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

} // namespace

TEST_CASE("a mapped file shows the file's bytes, and an empty file maps to nothing") {
  std::string bytes(3 * 4096 + 17, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(i * 31);
  auto p = temp_file(bytes);
  {
    auto m = storage::mapped_file::open(p);
    REQUIRE(m.ok());
    CHECK(m->bytes() == bytes);
    auto moved = std::move(m.value());
    CHECK(moved.bytes() == bytes); // the map moves with its owner
  }
  std::filesystem::remove(p);
  auto empty = temp_file("");
  auto m = storage::mapped_file::open(empty);
  REQUIRE(m.ok());
  CHECK(m->bytes().empty());
  std::filesystem::remove(empty);
}

TEST_CASE("mapping a missing file is an error, not a crash") {
  auto m = storage::mapped_file::open(std::filesystem::temp_directory_path() / "ferro-map-does-not-exist");
  CHECK_FALSE(m.ok());
}
