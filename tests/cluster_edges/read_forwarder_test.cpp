// The direct path of forwarded reads: the first live peer in ring order is
// asked; its answer reaches the caller; everything else (a refusal, no
// answer by the deadline, a broken connection, no peer at all) goes to the
// actor's route, exactly once; a late answer is dropped.

#include <catch2/catch.hpp>

#include <map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>

#include "actors/actors.hpp"
#include "actors/errors.hpp"
#include "cluster/edges/peer_codec.hpp"
#include "cluster/edges/read_forwarder.hpp"

using namespace ferro;
using namespace ferro::cluster;

namespace {

struct recording_link : peer_link {
  bool accept = true;
  std::vector<std::pair<std::string, std::string>> sent;
  void connect(const std::string&) override {}
  bool send(const std::string& node_id, std::string frame) override {
    if (accept)
      sent.emplace_back(node_id, std::move(frame));
    return accept;
  }
  void disconnect(const std::string&) override {}
};

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<cluster_board> board = std::make_shared<cluster_board>();
  recording_link link;
  std::vector<std::function<void()>> timers;
  std::vector<call_msg> fell_back;
  std::vector<reply_msg> answers;
  std::unique_ptr<read_forwarder> fwd;

  fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    register_wire_types(cfg);
    register_peer_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    fwd = std::make_unique<read_forwarder>(*sys, board, "n1", std::chrono::milliseconds{2000});
    fwd->wire(
        &link,
        [this](std::chrono::milliseconds, std::function<void()> fn) { timers.push_back(std::move(fn)); },
        [this](call_msg c, read_forwarder::reply_fn done) {
          fell_back.push_back(c);
          reply_msg r;
          r.message = "via actor";
          done(r);
        });
  }

  void query(const std::string& model) {
    call_msg c;
    c.op = call_op::query;
    c.qry.ns = {model, "t", ""};
    fwd->forward(c, [this](reply_msg r) { answers.push_back(std::move(r)); });
  }

  // The call the peer received, decoded as the peer would.
  call_msg last_call() {
    auto msg = decode_peer_message(*sys, link.sent.back().second);
    REQUIRE(msg);
    REQUIRE(msg.value().match_elements<call_msg>());
    return msg.value().get_as<call_msg>(0);
  }

  bool reply(reply_msg r) { return fwd->try_complete(caf::make_message(std::move(r))); }
};

std::shared_ptr<const hash_ring> ring_of(std::vector<std::string> nodes) {
  placement_table table;
  table.nodes = std::move(nodes);
  return std::make_shared<const hash_ring>(table);
}

std::string first_reader(const std::shared_ptr<cluster_board>& board, const std::string& model) {
  auto readers = board->readers_for(namespace_key{model, "t", ""});
  REQUIRE(!readers.empty());
  return readers.front();
}

} // namespace

TEST_CASE("a forwarded read goes to the first live peer in ring order and its answer comes back") {
  fixture f;
  f.board->publish_ring(ring_of({"n1", "n2", "n3"}), {"n2", "n3"});
  f.query("m");
  REQUIRE(f.link.sent.size() == 1);
  CHECK(f.link.sent[0].first == first_reader(f.board, "m"));
  CHECK(f.link.sent[0].first != "n1");
  auto call = f.last_call();
  CHECK(call.op == call_op::query);
  CHECK((call.rid & read_forwarder::rid_bit) != 0);
  reply_msg r;
  r.rid = call.rid;
  r.qry_reply.hit = true;
  CHECK(f.reply(r));
  REQUIRE(f.answers.size() == 1);
  CHECK(f.answers[0].qry_reply.hit);
  CHECK(f.fell_back.empty());
  // The deadline passes after the answer: nothing happens twice.
  for (auto& t : f.timers)
    t();
  CHECK(f.answers.size() == 1);
  CHECK(f.fell_back.empty());
}

TEST_CASE("replies to the actor's own calls are not taken") {
  fixture f;
  reply_msg r;
  r.rid = 7;
  CHECK_FALSE(f.reply(r));
}

TEST_CASE("a refusal, a deadline or a broken connection falls back to the actor's route once") {
  fixture f;
  f.board->publish_ring(ring_of({"n1", "n2", "n3"}), {"n2", "n3"});
  SECTION("refused: the peer holds no in-sync copy") {
    f.query("m");
    auto call = f.last_call();
    CHECK(f.reply(reply_msg::failure(call.rid, error{errc::not_owner, "no copy"})));
  }
  SECTION("no answer by the deadline; the late answer is dropped") {
    f.query("m");
    auto call = f.last_call();
    REQUIRE(f.timers.size() == 1);
    f.timers[0]();
    reply_msg late;
    late.rid = call.rid;
    CHECK(f.reply(late)); // consumed, not delivered
  }
  SECTION("the connection to the peer breaks") {
    f.query("m");
    f.fwd->peer_down(f.link.sent.back().first);
    f.fwd->peer_down(f.link.sent.back().first);
    for (auto& t : f.timers)
      t();
  }
  SECTION("the link refuses the frame") {
    f.link.accept = false;
    f.query("m");
  }
  REQUIRE(f.fell_back.size() == 1);
  CHECK(f.fell_back[0].rid == 0);
  CHECK(f.fell_back[0].qry.ns.model_id == "m");
  REQUIRE(f.answers.size() == 1);
  CHECK(f.answers[0].message == "via actor");
}

TEST_CASE("an error that is the answer (not a refusal) reaches the caller") {
  fixture f;
  f.board->publish_ring(ring_of({"n1", "n2"}), {"n2"});
  f.query("m");
  auto call = f.last_call();
  CHECK(f.reply(reply_msg::failure(call.rid, error{errc::bad_request, "dimension mismatch"})));
  REQUIRE(f.answers.size() == 1);
  CHECK(f.answers[0].code != 0);
  CHECK(f.fell_back.empty());
}

TEST_CASE("with no live peer, or before the ring is known, the actor routes the read") {
  fixture f;
  f.query("m"); // no ring published yet
  f.board->publish_ring(ring_of({"n1", "n2"}), {});
  f.query("m"); // n2 is not alive
  CHECK(f.link.sent.empty());
  CHECK(f.fell_back.size() == 2);
  CHECK(f.answers.size() == 2);
}

TEST_CASE("readers follow ring order, skip dead peers and never name this node") {
  auto board = std::make_shared<cluster_board>();
  board->publish_ring(ring_of({"n1", "n2", "n3", "n4"}), {"n2", "n3", "n4"});
  placement_table table;
  table.nodes = {"n1", "n2", "n3", "n4"};
  hash_ring ring{table};
  for (int i = 0; i < 50; ++i) {
    std::string model = "m"; // (not "m" + to_string: GCC 12's -Wrestrict false positive)
    model += std::to_string(i);
    namespace_key key{model, "t", ""};
    auto order = ring.replicas_for(placement_key(key), 4);
    std::vector<std::string> expected;
    for (auto& id : order)
      if (id != "n1")
        expected.push_back(id);
    CHECK(board->readers_for(key) == expected);
  }
  board->publish_ring(ring_of({"n1", "n2", "n3", "n4"}), {"n3"});
  CHECK(board->readers_for({"m1", "t", ""}) == std::vector<std::string>{"n3"});
}
