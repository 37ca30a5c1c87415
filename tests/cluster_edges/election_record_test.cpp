// The on-disk form of a node's election promises (cluster/edges/
// election_record.hpp): what is written reads back the same, and damage is
// noticed rather than read as promises never made.

#include <catch2/catch.hpp>

#include "cluster/edges/election_record.hpp"

using namespace ferro;
using namespace ferro::cluster;

namespace {

election_records sample() {
  election_records r;
  r[namespace_key{"m0", "t1", ""}] = election_record{7, 6, 3, {"n1", "n2"}};
  // Any byte in a key or a node id: spaces, colons, a newline, digits first.
  r[namespace_key{"model with spaces", "a:b", "conv\nwith newline"}] = election_record{2, 0, 0, {}};
  r[namespace_key{"9", "", ""}] = election_record{1, 1, 1, {"12:weird id", "n3"}};
  return r;
}

} // namespace

TEST_CASE("election records read back as written") {
  bool damaged = true;
  auto back = decode_election_records(encode_election_records(sample()), damaged);
  REQUIRE(back.ok());
  CHECK_FALSE(damaged);
  CHECK(back.value() == sample());
}

TEST_CASE("the file is its header and its records' lines in key order") {
  // cluster_persist.cpp builds the file from lines it caches per namespace.
  auto records = sample();
  auto text = election_file_header();
  for (const auto& [key, rec] : records)
    text += encode_election_line(key, rec);
  CHECK(text == encode_election_records(records));
}

TEST_CASE("an empty record set is a file with its header only") {
  bool damaged = true;
  auto text = encode_election_records({});
  CHECK(text == "ferro-elections 1\n");
  auto back = decode_election_records(text, damaged);
  REQUIRE(back.ok());
  CHECK(back.value().empty());
  CHECK_FALSE(damaged);
}

TEST_CASE("a file of another kind is refused, not read as no promises") {
  bool damaged = false;
  CHECK_FALSE(decode_election_records("", damaged).ok());
  CHECK_FALSE(decode_election_records("ferro-elections 2\n", damaged).ok());
  CHECK_FALSE(decode_election_records("garbage", damaged).ok());
}

TEST_CASE("a damaged or torn line ends the reading, keeping the lines before it") {
  auto text = encode_election_records(sample());
  auto first_line_end = text.find('\n', text.find('\n') + 1);
  SECTION("torn in the middle of the second record") {
    bool damaged = false;
    auto back = decode_election_records(text.substr(0, first_line_end + 5), damaged);
    REQUIRE(back.ok());
    CHECK(damaged);
    CHECK(back.value().size() == 1);
  }
  SECTION("a length that runs past the line") {
    bool damaged = false;
    auto broken = text.substr(0, first_line_end + 1) + "99:m0\n";
    auto back = decode_election_records(broken, damaged);
    REQUIRE(back.ok());
    CHECK(damaged);
    CHECK(back.value().size() == 1);
  }
  SECTION("more holders announced than listed") {
    bool damaged = false;
    auto back = decode_election_records("ferro-elections 1\n2:m01:t0: 5 5 1 2 2:n1\n", damaged);
    REQUIRE(back.ok());
    CHECK(damaged);
    CHECK(back.value().empty());
  }
}
