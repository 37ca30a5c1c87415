// The storage actor's side of catch-up: read_after (what a replica behind
// by that much needs) and drop (a replica starting over).

#include <catch2/catch.hpp>

#include "actor_fixture.hpp"
#include "actors/errors.hpp"

using namespace ferro;
using ferro::test::actor_fixture;
using ferro::test::make_insert;
using ferro::test::next_reply;

namespace {

const namespace_key key{"m", "", ""};

result<log_batch> read_after(actor_fixture& f, caf::scoped_actor& self, const namespace_key& ns,
                             std::uint64_t after, std::uint64_t max) {
  self->send(f.storage, read_after_atom::value, ns, after, max);
  f.settle();
  return next_reply<log_batch>(self);
}

} // namespace

TEST_CASE("read_after returns the logged records after a sequence number, in order, up to max") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for(key);
  self->send(ns, role_atom::value, namespace_role::primary, std::uint64_t{7});
  f.settle();
  REQUIRE(next_reply<ns_position>(self).ok());
  const char* ids[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; ++i) {
    std::vector<float> v(4, 0.f);
    v[static_cast<std::size_t>(i)] = 1;
    self->send(ns, insert_atom::value, make_insert(v, ids[i]));
  }
  f.settle();
  for (int i = 0; i < 4; ++i)
    REQUIRE(next_reply<insert_reply>(self).ok());
  self->send(ns, delete_atom::value, std::string{"a"});
  f.settle();
  REQUIRE(next_reply<bool>(self).value());
  auto last = f.store->last_ns_seq(key);
  REQUIRE(last >= 5);

  auto all = read_after(f, self, key, last - 5, 100);
  INFO((all.ok() ? std::string{} : all.err().message));
  CAPTURE(last);
  REQUIRE(all.ok());
  REQUIRE(all->records.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(all->records[i].ns == key);
    CHECK(all->records[i].ns_seq == last - 4 + i);
    CHECK(all->records[i].epoch == 7);
  }
  CHECK(all->records[0].entry.uuid == "a");
  CHECK(all->records[0].entry.response == "answer");
  CHECK(all->records[4].op == log_op::remove);
  CHECK(all->records[4].uuid == "a");

  auto two = read_after(f, self, key, last - 4, 2);
  REQUIRE(two.ok());
  REQUIRE(two->records.size() == 2);
  CHECK(two->records[0].ns_seq == last - 3);
  CHECK(two->records[1].ns_seq == last - 2);

  auto none = read_after(f, self, key, last, 10);
  REQUIRE(none.ok());
  CHECK(none->records.empty());

  auto unknown = read_after(f, self, namespace_key{"m", "nobody", ""}, 0, 10);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.err().code == errc::not_found);
}

TEST_CASE("read_after sees appends still waiting for their group commit") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for(key);
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "pending"));
  f.sched->run(); // the append waits in the storage actor for the batch timer
  self->send(f.storage, read_after_atom::value, key, std::uint64_t{0}, std::uint64_t{10});
  f.sched->run();
  auto r = next_reply<log_batch>(self);
  REQUIRE(r.ok());
  REQUIRE(r->records.size() == 1);
  CHECK(r->records[0].entry.uuid == "pending");
  f.settle();
  REQUIRE(next_reply<insert_reply>(self).ok());
}

TEST_CASE("after a snapshot, read_after refuses what the snapshot dropped and serves what followed") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for(key);
  for (int i = 0; i < 3; ++i) {
    std::vector<float> v(4, 0.f);
    v[static_cast<std::size_t>(i)] = 1;
    self->send(ns, insert_atom::value, make_insert(v));
  }
  f.settle();
  for (int i = 0; i < 3; ++i)
    REQUIRE(next_reply<insert_reply>(self).ok());
  auto covered = f.store->last_ns_seq(key);
  self->send(ns, compact_atom::value);
  f.settle();
  REQUIRE(next_reply<std::uint64_t>(self).value() == 3);
  auto gone = read_after(f, self, key, covered - 2, 10);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.err().code == errc::not_found);
  self->send(ns, insert_atom::value, make_insert({0, 0, 0, 1}, "after"));
  f.settle();
  REQUIRE(next_reply<insert_reply>(self).ok());
  auto tail = read_after(f, self, key, covered, 10);
  REQUIRE(tail.ok());
  REQUIRE(tail->records.size() == 1);
  CHECK(tail->records[0].ns_seq == covered + 1);
  CHECK(tail->records[0].entry.uuid == "after");
}

TEST_CASE("drop forgets a namespace's log and snapshot") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for(key);
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "a"));
  f.settle();
  REQUIRE(next_reply<insert_reply>(self).ok());
  self->send(ns, compact_atom::value);
  f.settle();
  REQUIRE(next_reply<std::uint64_t>(self).value() == 1);
  self->send(ns, insert_atom::value, make_insert({0, 1, 0, 0}, "b"));
  f.settle();
  REQUIRE(next_reply<insert_reply>(self).ok());
  REQUIRE(f.store->last_ns_seq(key) >= 2);
  self->send(f.storage, drop_atom::value, key);
  f.settle();
  auto dropped = next_reply<bool>(self);
  REQUIRE(dropped.ok());
  CHECK(dropped.value());
  auto r = read_after(f, self, key, 0, 10);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::not_found);
  CHECK(f.store->last_ns_seq(key) == 0);
  // Dropping an unknown namespace is fine.
  self->send(f.storage, drop_atom::value, namespace_key{"m", "nobody", ""});
  f.settle();
  CHECK(next_reply<bool>(self).value());
}
