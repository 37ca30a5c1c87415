#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>

#include "actors/actors.hpp"
#include "cluster/edges/peer_codec.hpp"
#include "cluster/edges/peer_messages.hpp"

using namespace ferro;
using namespace ferro::cluster;

namespace {

/// An actor system with the wire types and, if asked, the peer messages.
struct peer_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  explicit peer_system(bool wire_types, bool peer_types) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    if (wire_types)
      register_wire_types(cfg);
    if (peer_types)
      register_peer_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

heartbeat_msg sample_heartbeat() {
  // A new term of two namespaces: the heartbeat tells it (take_term_notices).
  return heartbeat_msg{"n1",
                       3,
                       {"n1@10.0.0.1:4000", "n2@10.0.0.2:4000", "n3@10.0.0.3:4000"},
                       {"n4"},
                       41,
                       {"n2:17", "n3:40"},
                       {namespace_key{"m", "t", ""}, namespace_key{"m", "t2", "c"}},
                       {7, 9}};
}

} // namespace

TEST_CASE("the peer self-test passes on a system with the peer messages registered") {
  peer_system w{true, true};
  auto st = peer_self_test(*w.sys);
  INFO((st.ok() ? std::string{} : st.err().message));
  CHECK(st.ok());
}

TEST_CASE("the peer self-test fails on a system without register_peer_types") {
  SECTION("wire types only") {
    peer_system w{true, false};
    auto st = peer_self_test(*w.sys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().code == errc::internal);
    // The first sample it sends is the heartbeat: the error names it.
    CHECK(st.err().message.find("heartbeat") != std::string::npos);
  }
  SECTION("nothing registered") {
    peer_system w{false, false};
    CHECK_FALSE(peer_self_test(*w.sys).ok());
  }
}

TEST_CASE("a heartbeat, a call and a reply cross the wire whole") {
  peer_system w{true, true};
  auto hb = sample_heartbeat();
  auto frame = encode_peer_message(*w.sys, caf::make_message(hb));
  REQUIRE_FALSE(frame.empty());
  auto back = decode_peer_message(*w.sys, frame);
  REQUIRE(back.ok());
  REQUIRE(back->match_elements<heartbeat_msg>());
  CHECK(back->get_as<heartbeat_msg>(0) == hb);

  call_msg call;
  call.rid = 77;
  call.from = "n3";
  call.op = call_op::reset;
  call.ns = {"model::8", "tenant", ""};
  call.epoch = 9;
  call.seq = 1234;
  frame = encode_peer_message(*w.sys, caf::make_message(call));
  back = decode_peer_message(*w.sys, frame);
  REQUIRE(back.ok());
  REQUIRE(back->match_elements<call_msg>());
  CHECK(back->get_as<call_msg>(0) == call);
  CHECK(back->get_as<call_msg>(0).op == call_op::reset);

  reply_msg reply;
  reply.rid = 77;
  reply.pos = ns_position{true, 1234, 9, 9, 17};
  reply.keys = {call.ns, namespace_key{"model::8", "tenant", "conversation"}};
  frame = encode_peer_message(*w.sys, caf::make_message(reply));
  back = decode_peer_message(*w.sys, frame);
  REQUIRE(back.ok());
  REQUIRE(back->match_elements<reply_msg>());
  auto& got = back->get_as<reply_msg>(0);
  CHECK(got == reply);
  CHECK(got.ok());
  CHECK(got.pos.last_seq == 1234);
  CHECK(got.keys.size() == 2);
}

TEST_CASE("reply_msg::failure and err() round-trip the error classes by their wire codes") {
  peer_system w{true, true};
  for (auto code : {errc::fenced, errc::stale_replica, errc::not_owner, errc::timeout}) {
    CAPTURE(static_cast<int>(code));
    auto r = reply_msg::failure(12, error{code, "why it failed"});
    CHECK(r.rid == 12);
    CHECK_FALSE(r.ok());
    CHECK(r.code == wire_code(code));
    CHECK(r.err().code == code);
    CHECK(r.err().message == "why it failed");
    // And the same after a trip through a peer frame.
    auto back = decode_peer_message(*w.sys, encode_peer_message(*w.sys, caf::make_message(r)));
    REQUIRE(back.ok());
    REQUIRE(back->match_elements<reply_msg>());
    auto& got = back->get_as<reply_msg>(0);
    CHECK_FALSE(got.ok());
    CHECK(got.rid == 12);
    CHECK(got.err().code == code);
    CHECK(got.err().message == "why it failed");
  }
  // The wire numbers are the protocol: they never move.
  CHECK(reply_msg::failure(1, error{errc::not_owner, ""}).code == 8);
  CHECK(reply_msg::failure(1, error{errc::fenced, ""}).code == 9);
  CHECK(reply_msg::failure(1, error{errc::stale_replica, ""}).code == 10);
  CHECK(reply_msg::failure(1, error{errc::timeout, ""}).code == 6);
}

TEST_CASE("a reply code this node does not know is an internal error") {
  reply_msg r;
  r.rid = 5;
  r.message = "from a newer peer";
  for (std::uint16_t code : {std::uint16_t{11}, std::uint16_t{200}, std::uint16_t{255},
                             std::uint16_t{256 + 9}, std::uint16_t{512 + 8}}) {
    CAPTURE(code);
    r.code = code;
    CHECK_FALSE(r.ok());
    CHECK(r.err().code == errc::internal);
    CHECK(r.err().message == "from a newer peer");
  }
}

TEST_CASE("a truncated heartbeat frame is refused") {
  peer_system w{true, true};
  auto frame = encode_peer_message(*w.sys, caf::make_message(sample_heartbeat()));
  REQUIRE(frame.size() > 8);
  REQUIRE(decode_peer_message(*w.sys, frame).ok());
  for (std::size_t cut = 0; cut < frame.size(); ++cut) {
    CAPTURE(cut);
    auto r = decode_peer_message(*w.sys, std::string_view(frame).substr(0, cut));
    REQUIRE_FALSE(r.ok());
    CHECK(r.err().code == errc::bad_request);
  }
}

TEST_CASE("a heartbeat frame reaching a node without the peer messages is refused") {
  peer_system sender{true, true};
  peer_system receiver{true, false};
  auto frame = encode_peer_message(*sender.sys, caf::make_message(sample_heartbeat()));
  REQUIRE_FALSE(frame.empty());
  auto r = decode_peer_message(*receiver.sys, frame);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::bad_request);
}
