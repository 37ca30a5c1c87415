#include <catch2/catch.hpp>

#include "common/status.hpp"

using namespace ferro;

TEST_CASE("error classes keep their wire numbers", "[status]") {
  // These numbers cross nodes: changing one breaks mixed-version clusters.
  CHECK(wire_code(errc::bad_request) == 1);
  CHECK(wire_code(errc::unprocessable) == 2);
  CHECK(wire_code(errc::not_found) == 3);
  CHECK(wire_code(errc::overloaded) == 4);
  CHECK(wire_code(errc::unavailable) == 5);
  CHECK(wire_code(errc::timeout) == 6);
  CHECK(wire_code(errc::internal) == 7);
  CHECK(wire_code(errc::not_owner) == 8);
  CHECK(wire_code(errc::fenced) == 9);
  CHECK(wire_code(errc::stale_replica) == 10);
}

TEST_CASE("every error class survives the trip through its wire number", "[status]") {
  for (std::uint8_t n = 1; n <= 10; ++n)
    CHECK(wire_code(errc_from_wire(n)) == n);
}

TEST_CASE("a wire number this node does not know reads as an internal error", "[status]") {
  CHECK(errc_from_wire(0) == errc::internal);
  CHECK(errc_from_wire(11) == errc::internal);
  CHECK(errc_from_wire(255) == errc::internal);
}
