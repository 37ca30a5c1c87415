// The election file on a real disk: saves append the changed lines, the
// last line of a namespace wins, a torn tail is never written after, and
// the file is rewritten once the appends outgrow the live lines.

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include "cluster/edges/election_file.hpp"
#include "support/temp_dir.hpp"

using namespace ferro;
using namespace ferro::cluster;
using ferro::test::temp_dir;

namespace {

namespace_key key_of(int i) {
  namespace_key key{"m", "t", ""};
  key.cache_scope += std::to_string(i);
  return key;
}

std::string line_of(int i, std::uint64_t epoch) {
  return encode_election_line(key_of(i), election_record{epoch, epoch, 1, {"n1", "n2"}});
}

// A whole file's text: the header and these lines (appended one by one:
// gcc 12 warns falsely on chains of string operator+).
std::string text_of(std::initializer_list<std::string> lines) {
  std::string out = election_file_header();
  for (const auto& l : lines)
    out += l;
  return out;
}

std::string joined(const std::string& a, const std::string& b) {
  std::string out = a;
  out += b;
  return out;
}

// A file's records by the same reading a restart does.
election_records reread(const std::filesystem::path& path, bool& damaged) {
  election_file f{path};
  bool exists = false;
  auto r = f.load(exists, damaged);
  REQUIRE(exists);
  REQUIRE(r.ok());
  return r.value();
}

} // namespace

TEST_CASE("election file: saves append, the last line of a namespace wins", "[election_file]") {
  temp_dir dir{"ferro-election-file"};
  auto path = dir.path / "cluster-elections";
  election_file f{path};
  bool exists = true, damaged = true;
  CHECK(f.load(exists, damaged).value().empty());
  CHECK_FALSE(exists);

  auto all = text_of({line_of(1, 3), line_of(2, 3)});
  REQUIRE(f.save(joined(line_of(1, 3), line_of(2, 3)), all.size(), [&] { return all; })); // first: whole
  auto size_after_first = f.size();
  CHECK(std::filesystem::file_size(path) == size_after_first);
  REQUIRE(f.save(line_of(2, 4), all.size(), [&]() -> std::string {
    FAIL("rewrote");
    return {};
  }));
  CHECK(std::filesystem::file_size(path) == size_after_first + line_of(2, 4).size()); // appended

  auto records = reread(path, damaged);
  CHECK_FALSE(damaged);
  CHECK(records.size() == 2);
  CHECK(records.at(key_of(1)).epoch == 3);
  CHECK(records.at(key_of(2)).epoch == 4);
}

TEST_CASE("election file: after a torn append the next save rewrites the file", "[election_file]") {
  temp_dir dir{"ferro-election-file"};
  auto path = dir.path / "cluster-elections";
  {
    election_file f{path};
    auto all = text_of({line_of(1, 1)});
    REQUIRE(f.save(line_of(1, 1), all.size(), [&] { return all; }));
    REQUIRE(f.save(line_of(1, 2), all.size(), [&] { return all; }));
  }
  // The crash: half of a line reached the disk.
  auto torn = line_of(1, 3);
  {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << torn.substr(0, torn.size() / 2);
  }
  bool damaged = false;
  CHECK(reread(path, damaged).at(key_of(1)).epoch == 2);
  CHECK(damaged);

  // The restarted node opens the file anew: its first save must not land
  // after the torn half, where a reading would never find it.
  election_file f{path};
  bool exists = false;
  REQUIRE(f.load(exists, damaged).ok());
  auto all = text_of({line_of(1, 2), line_of(7, 5)});
  REQUIRE(f.save(line_of(7, 5), all.size(), [&] { return all; }));
  auto records = reread(path, damaged);
  CHECK_FALSE(damaged);
  CHECK(records.at(key_of(7)).epoch == 5);
  CHECK(records.at(key_of(1)).epoch == 2);
}

TEST_CASE("election file: appends that outgrow the live lines are compacted", "[election_file]") {
  temp_dir dir{"ferro-election-file"};
  auto path = dir.path / "cluster-elections";
  constexpr std::size_t slack = 256;
  election_file f{path, slack};
  auto all = text_of({line_of(1, 1)});
  int rewrites = 0;
  auto whole = [&] {
    ++rewrites;
    return all;
  };
  REQUIRE(f.save(line_of(1, 1), all.size(), whole));
  std::uint64_t epoch = 1;
  while (rewrites < 2) {
    ++epoch;
    all = text_of({line_of(1, epoch)});
    REQUIRE(f.save(line_of(1, epoch), all.size(), whole));
    REQUIRE(f.size() <= 3 * all.size() + slack);
    REQUIRE(epoch < 1000);
  }
  CHECK(std::filesystem::file_size(path) == all.size()); // rewritten: one line left
  bool damaged = false;
  CHECK(reread(path, damaged).at(key_of(1)).epoch == epoch);
}
