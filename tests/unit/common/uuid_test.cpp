#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include "common/uuid.hpp"

TEST_CASE("generated ids are lowercase hyphenated UUIDv4 and unique") {
  const std::uint64_t seed = 42;
  CAPTURE(seed);
  ferro::uuid_generator gen{seed};
  std::regex v4{"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"};
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = gen.next();
    REQUIRE(std::regex_match(id, v4));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("the same seed gives the same ids") {
  ferro::uuid_generator a{7}, b{7};
  CHECK(a.next() == b.next());
}
