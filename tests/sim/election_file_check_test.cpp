// The simulator's check of the election file (sim/election_file_check.cpp):
// a torn tail, as a power loss leaves it, passes; a line written after a
// torn one fails. And the planted bug `append-after-torn-line` (the real
// election_file, compiled with FERRO_PLANTED_BUGS) makes exactly that
// file, which the real code without the bug does not.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cluster/edges/election_file.hpp"
#include "support/temp_dir.hpp"
#include "sim/planted_bug.hpp"
#include "sim/sim_cluster.hpp"

using namespace ferro;
using namespace ferro::cluster;
using ferro::test::temp_dir;

namespace {

struct planted_here {
  explicit planted_here(const char* name) { REQUIRE(sim::plant_bug(name)); }
  ~planted_here() { sim::unplant_bugs(); }
};

std::string line_of(const char* scope, std::uint64_t epoch) {
  return encode_election_line(namespace_key{"m", scope, ""}, election_record{epoch, epoch, 1, {"s1", "s2"}});
}

std::string half_of(const std::string& line) {
  return line.substr(0, line.size() / 2);
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream all;
  all << in.rdbuf();
  return all.str();
}

// A node's life around a power loss: a save, a torn append, a restart (a
// new election_file on the same path) and its first save.
std::string file_after_restart(const std::filesystem::path& path) {
  {
    election_file before{path};
    auto text = election_file_header();
    text += line_of("a", 1);
    REQUIRE(before.save(line_of("a", 1), text.size(), [&] { return text; }));
  }
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << half_of(line_of("a", 2));
  }
  election_file after{path};
  auto text = election_file_header();
  text += line_of("a", 1);
  text += line_of("b", 3);
  REQUIRE(after.save(line_of("b", 3), text.size(), [&] { return text; }));
  return read_all(path);
}

} // namespace

TEST_CASE("election file check: a torn tail passes, a line after a torn one fails", "[sim][election_file]") {
  auto synced = election_file_header();
  synced += line_of("a", 1);
  CHECK(sim::election_file_damage(synced).empty());

  auto torn = synced;
  torn += half_of(line_of("a", 2));
  CHECK(sim::election_file_damage(torn).empty());

  auto fused = torn;
  fused += line_of("b", 3);
  CHECK_FALSE(sim::election_file_damage(fused).empty());

  CHECK_FALSE(sim::election_file_damage("not an election file\n").empty());
}

TEST_CASE("election file check: append-after-torn-line planted, the first save lands after the torn tail",
          "[sim][election_file]") {
  temp_dir plain_dir{"ferro-election-check"}, broken_dir{"ferro-election-check"};
  CHECK(sim::election_file_damage(file_after_restart(plain_dir.path / "cluster-elections")).empty());
  planted_here bug{"append-after-torn-line"};
  CHECK_FALSE(sim::election_file_damage(file_after_restart(broken_dir.path / "cluster-elections")).empty());
}
