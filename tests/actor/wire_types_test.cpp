#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/wire_types.hpp"

using namespace ferro;

namespace {

caf::actor_system_config quiet_config() {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  return cfg;
}

} // namespace

TEST_CASE("every wire type survives CAF's serialiser when it is registered", "[wire]") {
  auto cfg = quiet_config();
  register_wire_types(cfg);
  caf::actor_system sys{cfg};
  auto st = wire_self_test(sys);
  INFO((st ? std::string() : st.err().message));
  CHECK(st.ok());
}

TEST_CASE("the wire self-test fails on a node that forgot to register the wire types", "[wire]") {
  auto cfg = quiet_config();
  caf::actor_system sys{cfg};
  auto st = wire_self_test(sys);
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().message.find("namespace_key") != std::string::npos);
}
