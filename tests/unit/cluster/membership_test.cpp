#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "cluster/membership.hpp"

using namespace ferro::cluster;
using status = member_status;
using kind = member_event_kind;

namespace {

std::uint64_t test_seed(std::uint64_t fallback) {
  if (const char* s = std::getenv("FERRO_TEST_SEED"))
    return std::strtoull(s, nullptr, 10);
  return fallback;
}

std::string address_of(const std::string& id) {
  std::string a = id;
  a += ":7000";
  return a;
}

member record(const std::string& id, std::uint64_t generation, std::uint64_t heartbeat,
              status s = status::alive) {
  return member{id, address_of(id), generation, heartbeat, s};
}

membership table_of_self() {
  return membership{record("self", 4, 10)};
}

// Fisher-Yates with the generator's raw output, so a seed replays the same
// order whatever the standard library (std::shuffle's use of it is unspecified).
template <class T>
void shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (std::size_t i = v.size(); i > 1; --i)
    std::swap(v[i - 1], v[rng() % i]);
}

} // namespace

TEST_CASE("merging gossip in any order, split or repeated, gives the same table") {
  auto seed = test_seed(20261201);
  std::cout << "membership shuffle seed " << seed << '\n';
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 50; ++round) {
    CAPTURE(seed, round);
    std::vector<member> gossip;
    for (int i = 0; i < 40; ++i) {
      std::string id = "n";
      id += std::to_string(rng() % 6);
      gossip.push_back(record(id, 1 + rng() % 3, rng() % 6, static_cast<status>(rng() % 4)));
    }
    membership in_order = table_of_self();
    in_order.merge(gossip);

    membership shuffled = table_of_self();
    auto copy = gossip;
    shuffle(copy, rng);
    // In batches of random size.
    for (std::size_t i = 0; i < copy.size();) {
      auto n = 1 + rng() % 7;
      std::vector<member> batch;
      for (; i < copy.size() && batch.size() < n; ++i)
        batch.push_back(copy[i]);
      shuffled.merge(batch);
    }

    membership twice = table_of_self();
    shuffle(copy, rng);
    twice.merge(copy);
    twice.merge(gossip);
    twice.merge(in_order.gossip());

    REQUIRE(shuffled.gossip() == in_order.gossip());
    REQUIRE(twice.gossip() == in_order.gossip());
    REQUIRE(shuffled.view()->members == in_order.view()->members);
    // Each node holds the newest of its records: none supersedes it.
    for (const auto& m : in_order.gossip()) {
      if (m.node_id == "self")
        continue;
      for (const auto& g : gossip)
        if (g.node_id == m.node_id)
          REQUIRE_FALSE(supersedes(g, m));
    }
  }
}

TEST_CASE("at one generation the higher heartbeat wins, then the more severe status") {
  membership t = table_of_self();
  t.merge({record("n2", 1, 5, status::alive)});
  CHECK(t.merge({record("n2", 1, 4, status::dead)}).empty());
  CHECK(t.find("n2")->status == status::alive);

  auto events = t.merge({record("n2", 1, 5, status::suspected)});
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == kind::status_changed);
  CHECK(events[0].from == status::alive);
  CHECK(events[0].to == status::suspected);

  CHECK(t.merge({record("n2", 1, 5, status::alive)}).empty());
  CHECK(t.find("n2")->status == status::suspected);
  t.merge({record("n2", 1, 5, status::dead)});
  CHECK(t.find("n2")->status == status::dead);

  // The owner's next heartbeat at the same generation overrides the verdict.
  events = t.merge({record("n2", 1, 6, status::alive)});
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == kind::status_changed);
  CHECK(t.find("n2")->status == status::alive);
  CHECK(t.find("n2")->heartbeat == 6);

  // A heartbeat alone is not an event.
  CHECK(t.merge({record("n2", 1, 7)}).empty());
  CHECK(t.find("n2")->heartbeat == 7);
}

TEST_CASE("a restart with a higher generation overrides a dead record") {
  membership t = table_of_self();
  t.merge({record("n2", 1, 50, status::dead)});
  auto events = t.merge({record("n2", 2, 0, status::alive)});
  REQUIRE(events.size() == 1);
  CHECK(events[0] == member_event{kind::restarted, "n2", status::dead, status::alive, 2, "n2:7000", ""});
  CHECK(*t.find("n2") == record("n2", 2, 0));
  // News of the old generation is stale from now on.
  CHECK(t.merge({record("n2", 1, 99, status::dead)}).empty());
  CHECK(t.find("n2")->status == status::alive);
}

TEST_CASE("left is final for its generation") {
  membership t = table_of_self();
  t.merge({record("n2", 3, 10, status::left)});
  CHECK(t.merge({record("n2", 3, 1000, status::alive), record("n2", 3, 11, status::dead)}).empty());
  CHECK(t.find("n2")->status == status::left);
  auto events = t.merge({record("n2", 4, 0, status::alive)});
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == kind::restarted);
  CHECK(t.find("n2")->status == status::alive);
}

TEST_CASE("a node refutes a rumour about its own death by bumping its heartbeat") {
  for (auto rumour : {status::suspected, status::dead}) {
    CAPTURE(to_string(rumour));
    membership self = table_of_self();
    membership other{record("n2", 1, 0)};
    other.merge(self.gossip());
    other.convict("self");
    REQUIRE(other.find("self")->status == status::dead);
    // The rumour may carry a heartbeat newer than self's own.
    auto gossip = other.gossip();
    for (auto& m : gossip)
      if (m.node_id == "self") {
        m.status = rumour;
        m.heartbeat = 25;
      }

    auto events = self.merge(gossip);
    REQUIRE(events.size() == 2); // n2 joined, self refuted
    CHECK(events[1] == member_event{kind::refuted, "self", rumour, status::alive, 4, "self:7000", ""});
    CHECK(self.self().status == status::alive);
    CHECK(self.self().heartbeat == 26);
    CHECK(self.view()->live_nodes() == std::vector<std::string>{"n2", "self"});

    // The refutation supersedes the rumour wherever it arrives.
    other.merge(self.gossip());
    CHECK(other.find("self")->status == status::alive);
  }
}

TEST_CASE("rumours about an earlier generation of self are ignored") {
  membership t = table_of_self();
  CHECK(t.merge({record("self", 3, 500, status::dead)}).empty());
  CHECK(t.self() == record("self", 4, 10));
}

TEST_CASE("self moves past a record of itself from a later generation or a false leave") {
  membership t = table_of_self();
  auto events = t.merge({record("self", 9, 3, status::dead)});
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == kind::refuted);
  CHECK(t.self().generation == 10);
  CHECK(t.self().status == status::alive);

  events = t.merge({record("self", 10, 1, status::left)});
  REQUIRE(events.size() == 1);
  CHECK(t.self().generation == 11);
  CHECK(supersedes(t.self(), record("self", 10, 1, status::left)));
}

TEST_CASE("a second node claiming a live node's id from another address is a conflict") {
  membership t = table_of_self();
  t.merge({record("n2", 1, 5)});
  member impostor{"n2", "10.9.9.9:7000", 2, 0, status::alive};
  auto events = t.merge({impostor});
  REQUIRE(events.size() == 1);
  CHECK(events[0] == member_event{kind::address_conflict, "n2", status::alive, status::alive, 1, "n2:7000",
                                  "10.9.9.9:7000"});
  CHECK(*t.find("n2") == record("n2", 1, 5));
  // Still a conflict while merely suspected.
  t.suspect("n2", 100);
  CHECK(t.merge({impostor}).at(0).kind == kind::address_conflict);
  // Once the first is convicted, the newer claim takes the id over.
  t.convict("n2");
  events = t.merge({impostor});
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == kind::restarted);
  CHECK(t.find("n2")->address == "10.9.9.9:7000");
  // And the old address's stale records are no conflict.
  CHECK(t.merge({record("n2", 1, 6)}).empty());
}

TEST_CASE("a claim on self's id from another address is a conflict and leaves self alone") {
  membership t = table_of_self();
  auto events = t.merge({member{"self", "10.9.9.9:7000", 4, 99, status::alive}});
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == kind::address_conflict);
  CHECK(events[0].address == "self:7000");
  CHECK(events[0].other_address == "10.9.9.9:7000");
  CHECK(t.self() == record("self", 4, 10));
  // An earlier incarnation at another address is history.
  CHECK(t.merge({member{"self", "10.9.9.9:7000", 3, 99, status::alive}}).empty());
}

TEST_CASE("local verdicts move a peer between alive, suspected and dead") {
  membership t = table_of_self();
  t.merge({record("n2", 1, 5)});
  CHECK_FALSE(t.suspect("self", 1).has_value());
  CHECK_FALSE(t.suspect("nobody", 1).has_value());
  CHECK_FALSE(t.alive("n2").has_value()); // already alive

  auto e = t.suspect("n2", 1234);
  REQUIRE(e.has_value());
  CHECK(e->to == status::suspected);
  CHECK(t.suspected_since("n2") == 1234);
  CHECK_FALSE(t.suspect("n2", 2000).has_value());
  CHECK(t.suspected_since("n2") == 1234);

  REQUIRE(t.alive("n2").has_value());
  CHECK_FALSE(t.suspected_since("n2").has_value());

  t.suspect("n2", 3000);
  e = t.convict("n2");
  REQUIRE(e.has_value());
  CHECK(e->from == status::suspected);
  CHECK(e->to == status::dead);
  CHECK_FALSE(t.suspected_since("n2").has_value());
  // A convicted node returns only through newer news from itself.
  CHECK_FALSE(t.alive("n2").has_value());
  CHECK_FALSE(t.convict("n2").has_value());
  CHECK_FALSE(t.convict("self").has_value());
  CHECK(t.find("n2")->status == status::dead);
}

TEST_CASE("phi maps to suspected at the threshold and to dead at twice the threshold") {
  CHECK(status_for_phi(0.0) == status::alive);
  CHECK(status_for_phi(7.99) == status::alive);
  CHECK(status_for_phi(8.0) == status::suspected);
  CHECK(status_for_phi(15.99) == status::suspected);
  CHECK(status_for_phi(16.0) == status::dead);
  CHECK(status_for_phi(1e300) == status::dead);
  CHECK(status_for_phi(3.0, 2.0) == status::suspected);
  CHECK(status_for_phi(4.0, 2.0) == status::dead);
}

TEST_CASE("the view epoch grows only when the set of live nodes changes") {
  membership t = table_of_self();
  auto epoch = [&] { return t.view()->view_epoch; };
  CHECK(epoch() == 1);
  t.merge({record("n2", 1, 0)});
  CHECK(epoch() == 2);
  auto before = t.view();
  t.merge({record("n2", 1, 1)});
  t.beat();
  CHECK(t.view() == before); // heartbeats publish nothing new
  t.suspect("n2", 10);
  CHECK(epoch() == 2); // suspected still holds data
  CHECK(t.view()->members.at(0).status == status::suspected);
  CHECK(before->members.at(0).status == status::alive); // a published view never changes
  t.alive("n2");
  CHECK(epoch() == 2);
  t.convict("n2");
  CHECK(epoch() == 3);
  t.merge({record("n3", 1, 0, status::dead)});
  CHECK(epoch() == 3);
  t.merge({record("n3", 2, 0)});
  CHECK(epoch() == 4);
  t.merge({record("n2", 2, 0), record("n3", 2, 1, status::left)});
  CHECK(epoch() == 5); // one change of the set, counted once per merge
  t.leave();
  CHECK(epoch() == 6);
  CHECK(t.self().status == status::left);
  CHECK(t.view()->live_nodes() == std::vector<std::string>{"n2"});
}

TEST_CASE("a view lists every node sorted and gives the placement table of its live nodes") {
  membership t{record("m", 1, 0)};
  t.merge({record("z", 1, 0), record("a", 1, 0, status::dead), record("k", 2, 0, status::suspected)});
  auto view = t.view();
  std::vector<std::string> ids;
  for (const auto& m : view->members)
    ids.push_back(m.node_id);
  CHECK(ids == std::vector<std::string>{"a", "k", "m", "z"});
  CHECK(view->members.at(1) == view_member{"k", "k:7000", status::suspected, 2});
  auto table = to_placement_table(*view);
  CHECK(table.epoch == view->view_epoch);
  CHECK(table.nodes == std::vector<std::string>{"k", "m", "z"});
  CHECK(table.vnodes_per_node == ferro::defaults::cluster::vnodes_per_node);
}

TEST_CASE("records without a node id are ignored") {
  membership t = table_of_self();
  CHECK(t.merge({member{"", "x:1", 1, 1, status::alive}}).empty());
  CHECK(t.gossip().size() == 1);
}
