#include <catch2/catch.hpp>

#include <random>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>

#include "actors/actors.hpp"
#include "cluster/edges/peer_codec.hpp"

using namespace ferro;
using namespace ferro::cluster;

namespace {

struct wire_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  wire_system() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    register_wire_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

log_batch sample_batch() {
  log_batch b;
  const char* uuids[] = {"u0", "u1", "u2"};
  for (int i = 0; i < 3; ++i) {
    log_record r;
    r.op = i == 1 ? log_op::remove : log_op::insert;
    r.ns = {"model::4", "tenant", i == 2 ? "conv" : ""};
    r.ns_seq = 100 + static_cast<std::uint64_t>(i);
    r.epoch = 3;
    r.entry.uuid = uuids[i];
    r.entry.embedding = {0.5f, 0.5f, 0.5f, 0.5f};
    r.entry.response = "response";
    r.uuid = "removed";
    b.records.push_back(std::move(r));
  }
  return b;
}

} // namespace

TEST_CASE("a peer message arrives as the same typed values") {
  wire_system w;
  auto frame = encode_peer_message(*w.sys, caf::make_message(append_atom::value, sample_batch()));
  REQUIRE_FALSE(frame.empty());
  auto back = decode_peer_message(*w.sys, frame);
  REQUIRE(back.ok());
  REQUIRE(back->match_elements<append_atom, log_batch>());
  CHECK(back->get_as<log_batch>(1) == sample_batch());
}

TEST_CASE("garbage, truncated and padded frames are refused with a reason") {
  wire_system w;
  auto frame = encode_peer_message(*w.sys, caf::make_message(append_atom::value, sample_batch()));
  CHECK_FALSE(decode_peer_message(*w.sys, "").ok());
  CHECK_FALSE(decode_peer_message(*w.sys, "\xff\xff\xff\xff garbage").ok());
  for (std::size_t cut : {std::size_t{1}, frame.size() / 2, frame.size() - 1}) {
    auto r = decode_peer_message(*w.sys, std::string_view(frame).substr(0, cut));
    CAPTURE(cut);
    CHECK_FALSE(r.ok());
  }
  auto padded = decode_peer_message(*w.sys, frame + "x");
  REQUIRE_FALSE(padded.ok());
  CHECK(padded.err().code == errc::bad_request);
  CHECK(padded.err().message.find("after its message") != std::string::npos);
}

TEST_CASE("a message of a type this node never registered is refused") {
  // The sender registered the wire types; this receiver did not.
  wire_system sender;
  auto frame = encode_peer_message(*sender.sys, caf::make_message(sample_batch()));
  caf::actor_system_config bare;
  bare.set("scheduler.policy", caf::atom("testing"));
  bare.set("logger.file-verbosity", caf::atom("quiet"));
  bare.set("logger.console-verbosity", caf::atom("quiet"));
  caf::actor_system receiver{bare};
  CHECK_FALSE(decode_peer_message(receiver, frame).ok());
}

TEST_CASE("mutated frames never crash the decoder") {
  wire_system w;
  auto seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  auto frame = encode_peer_message(*w.sys, caf::make_message(append_atom::value, sample_batch()));
  std::size_t refused = 0;
  for (int round = 0; round < 3000; ++round) {
    auto bad = frame;
    auto edits = 1 + rng() % 4;
    for (std::size_t e = 0; e < edits; ++e) {
      switch (rng() % 3) {
        case 0: // flip a byte
          bad[rng() % bad.size()] = static_cast<char>(rng());
          break;
        case 1: // cut the tail
          bad.resize(rng() % bad.size() + 1);
          break;
        default: // splice in random bytes
          bad.insert(rng() % bad.size(), std::string(1 + rng() % 8, static_cast<char>(rng())));
      }
    }
    auto r = decode_peer_message(*w.sys, bad);
    refused += r.ok() ? 0 : 1;
  }
  // Most mutations break the frame; the rest decode to some well-formed
  // message, which the receiving actor then judges by its content.
  CHECK(refused > 1500);
}
