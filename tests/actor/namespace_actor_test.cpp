#include <catch2/catch.hpp>

#include <random>

#include "actor_fixture.hpp"
#include "actors/errors.hpp"
#include "actors/recovery.hpp"

using namespace ferro;
using ferro::test::actor_fixture;

using ferro::test::make_insert;
using ferro::test::next_reply;

TEST_CASE("an insert becomes visible only once its batch is durable") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "a"));
  f.sched->run(); // the record waits in the storage actor for the batch timer
  auto index = f.directory.index_of({"m", "", ""});
  CHECK((index == nullptr || !index->contains("a")));
  CHECK(f.metrics.wal_batches_total == 0);
  f.settle();
  auto r = next_reply<insert_reply>(self);
  REQUIRE(r.ok());
  CHECK(r->id == "a");
  index = f.directory.index_of({"m", "", ""});
  REQUIRE(index);
  CHECK(index->contains("a"));
  CHECK(f.metrics.inserts_total == 1);
}

TEST_CASE("concurrent inserts share one commit") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  for (int i = 0; i < 10; ++i)
    self->send(ns, insert_atom::value, make_insert({1, float(i), 0, 0}));
  f.settle();
  for (int i = 0; i < 10; ++i)
    REQUIRE(next_reply<insert_reply>(self).ok());
  CHECK(f.metrics.wal_batches_total == 1);
  CHECK(f.metrics.wal_records_total == 10);
  // Each record is a 16-byte key and a sealed value holding a 16-byte
  // embedding and the texts: more than 40 bytes, far less than a page.
  CHECK(f.metrics.wal_record_bytes_total > 10 * 40);
  CHECK(f.metrics.wal_record_bytes_total < 10 * 400);
  CHECK(f.metrics.wal_record_bytes_total == f.store->appended_record_bytes());
}

TEST_CASE("runs of durable inserts applied on several threads keep log order") {
  actor_fixture f;
  f.ns_settings.insert_threads = 3;
  f.ns_settings.apply_batch_inserts = 8;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  std::mt19937_64 rng(5);
  std::normal_distribution<float> g(0, 1);
  auto random_vector = [&] {
    std::vector<float> v(8);
    for (auto& x : v)
      x = g(rng);
    return v;
  };
  auto id = [](int i) {
    std::string s = "e"; // not "e" + to_string(i): a GCC 12 -Wrestrict false positive
    s += std::to_string(i);
    return s;
  };
  // 30 distinct entries, then "dup" twice: the later one must win even when
  // both land in one run.
  for (int i = 0; i < 30; ++i)
    self->send(ns, insert_atom::value, make_insert(random_vector(), id(i)));
  auto first = make_insert(random_vector(), "dup");
  auto last = make_insert(random_vector(), "dup");
  last.response = "the later one";
  self->send(ns, insert_atom::value, first);
  self->send(ns, insert_atom::value, last);
  f.settle();
  for (int i = 0; i < 32; ++i)
    REQUIRE(next_reply<insert_reply>(self).ok());
  auto index = f.directory.index_of({"m", "", ""});
  REQUIRE(index);
  CHECK(index->size() == 31);
  CHECK(f.metrics.inserts_total == 32);
  auto dup = index->get("dup");
  REQUIRE(dup);
  CHECK(dup->response == "the later one");
  for (int i = 0; i < 30; ++i)
    CHECK(index->contains(id(i)));
}

TEST_CASE("a full batch commits without waiting for the timer") {
  actor_fixture f{4};
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  for (int i = 0; i < 4; ++i)
    self->send(ns, insert_atom::value, make_insert({1, float(i), 0, 0}));
  f.sched->run(); // no virtual time passes
  for (int i = 0; i < 4; ++i)
    REQUIRE(next_reply<insert_reply>(self).ok());
  CHECK(f.metrics.wal_batches_total == 1);
}

TEST_CASE("a failed fsync fails the batch and applies nothing") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  f.faults->fail_sync = true;
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "lost"));
  f.settle();
  auto r = next_reply<insert_reply>(self);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::unavailable);
  auto index = f.directory.index_of({"m", "", ""});
  CHECK((index == nullptr || !index->contains("lost")));
  f.faults->fail_sync = false;
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "kept"));
  f.settle();
  REQUIRE(next_reply<insert_reply>(self).ok());
  CHECK(f.directory.index_of({"m", "", ""})->contains("kept"));
}

TEST_CASE("the first insert fixes the dimension of a namespace") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}));
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0, 0}));
  f.settle();
  bool ok_seen = false, mismatch_seen = false;
  for (int i = 0; i < 2; ++i) {
    auto r = next_reply<insert_reply>(self);
    if (r.ok())
      ok_seen = true;
    else
      mismatch_seen = r.err().code == errc::bad_request;
  }
  CHECK(ok_seen);
  CHECK(mismatch_seen);
}

TEST_CASE("entries expire on the actor clock once their ttl has passed") {
  actor_fixture f;
  f.ns_settings.expire_interval = std::chrono::seconds(10);
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "short", 5));
  self->send(ns, insert_atom::value, make_insert({0, 1, 0, 0}, "forever"));
  f.settle();
  REQUIRE(next_reply<insert_reply>(self).ok());
  REQUIRE(next_reply<insert_reply>(self).ok());
  f.now_ms += 6000;
  f.sched->advance_time(std::chrono::seconds(10));
  f.settle();
  auto index = f.directory.index_of({"m", "", ""});
  CHECK_FALSE(index->contains("short"));
  CHECK(index->contains("forever"));
  CHECK(f.metrics.expirations_total == 1);
}

TEST_CASE("the LRU cap evicts the least recently used entry after logging it") {
  actor_fixture f;
  f.ns_settings.max_entries = 2;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "a"));
  f.settle();
  f.now_ms += 1;
  self->send(ns, insert_atom::value, make_insert({0, 1, 0, 0}, "b"));
  f.settle();
  f.now_ms += 1;
  auto index = f.directory.index_of({"m", "", ""});
  std::vector<float> qa{1, 0, 0, 0};
  REQUIRE(index->lookup(qa, "", 0.99, f.now_ms)); // touch a: b is now least recent
  f.now_ms += 1;
  self->send(ns, insert_atom::value, make_insert({0, 0, 1, 0}, "c"));
  f.settle();
  CHECK(index->contains("a"));
  CHECK_FALSE(index->contains("b"));
  CHECK(index->contains("c"));
  CHECK(f.metrics.evictions_total == 1);
}

TEST_CASE("delete and invalidate are logged, applied and reported") {
  actor_fixture f;
  caf::scoped_actor self{*f.sys};
  auto ns = f.directory.actor_for({"m", "", ""});
  self->send(ns, insert_atom::value, make_insert({1, 0, 0, 0}, "a"));
  self->send(ns, insert_atom::value, make_insert({1, 0.05f, 0, 0}, "b"));
  self->send(ns, insert_atom::value, make_insert({0, 0, 1, 0}, "far"));
  f.settle();
  for (int i = 0; i < 3; ++i)
    REQUIRE(next_reply<insert_reply>(self).ok());
  self->send(ns, delete_atom::value, std::string{"nope"});
  f.settle();
  CHECK(next_reply<bool>(self).value() == false);
  self->send(ns, delete_atom::value, std::string{"a"});
  f.settle();
  CHECK(next_reply<bool>(self).value() == true);
  invalidate_request inv;
  inv.ns = {"m", "", ""};
  inv.embedding = {1, 0, 0, 0};
  inv.threshold = 0.9;
  self->send(ns, invalidate_atom::value, inv);
  f.settle();
  auto r = next_reply<invalidate_reply>(self);
  REQUIRE(r.ok());
  CHECK(r->uuids == std::vector<std::string>{"b"});
  auto index = f.directory.index_of({"m", "", ""});
  CHECK(index->size() == 1);
  CHECK(f.metrics.deletions_total == 1);
  CHECK(f.metrics.invalidations_total == 1);
}

TEST_CASE("recovery restores exactly the acknowledged state, snapshot and tail") {
  actor_fixture f;
  {
    caf::scoped_actor self{*f.sys};
    auto ns = f.directory.actor_for({"m", "t", ""});
    auto ins = [&](std::vector<float> v, std::string id) {
      auto r = make_insert(std::move(v), std::move(id));
      r.ns = {"m", "t", ""};
      self->send(ns, insert_atom::value, r);
      f.settle();
      REQUIRE(next_reply<insert_reply>(self).ok());
    };
    ins({1, 0, 0, 0}, "a");
    ins({0, 1, 0, 0}, "b");
    self->send(ns, compact_atom::value);
    f.settle();
    CHECK(next_reply<std::uint64_t>(self).value() == 2);
    ins({0, 0, 1, 0}, "c");
    self->send(ns, delete_atom::value, std::string{"a"});
    f.settle();
    REQUIRE(next_reply<bool>(self).value());
  }
  auto recovered = f.recover_after_stop();
  REQUIRE(recovered.size() == 1);
  auto& ns = recovered.front();
  CHECK(ns.key == namespace_key{"m", "t", ""});
  CHECK_FALSE(ns.index->contains("a"));
  CHECK(ns.index->contains("b"));
  CHECK(ns.index->contains("c"));
  CHECK(ns.applied_ns_seq >= 4);
}

TEST_CASE("a namespace started with a backlog links it step by step and keeps serving") {
  actor_fixture f;
  f.ns_settings.backlog_step_entries = 16;
  f.ns_settings.compact_interval_inserts = 105;
  namespace_key key{"m", "", ""};
  std::mt19937_64 rng(11);
  std::normal_distribution<float> g(0, 1);
  std::vector<cache_entry> entries;
  for (int i = 0; i < 100; ++i) {
    cache_entry e;
    e.uuid = "r";
    e.uuid += std::to_string(i);
    e.embedding.resize(8);
    for (auto& x : e.embedding)
      x = g(rng);
    REQUIRE(normalize(e.embedding));
    e.response = "answer";
    entries.push_back(std::move(e));
  }
  auto index = std::make_shared<namespace_index>(8, f.ns_settings.hnsw);
  for (auto& r : index->upsert_unindexed(entries))
    REQUIRE(r);
  // As recovery hands it over: 100 replayed inserts, all in the backlog.
  auto ns = spawn_namespace_actor(*f.sys, namespace_start{key, index, 0, 100}, f.ns_settings, f.storage,
                                  f.writer, &f.directory);
  f.directory.add(namespace_directory::item{key, ns, index});
  caf::scoped_actor self{*f.sys};
  self->send(ns, delete_atom::value, std::string{"r99"});
  f.settle();
  REQUIRE(next_reply<bool>(self).value());
  CHECK(index->backlog_size() == 0);
  CHECK(f.metrics.backlog_entries == 0); // raised by 100 at start, back down step by step
  CHECK(index->size() == 99);
  CHECK_FALSE(index->contains("r99"));
  for (int i = 0; i < 99; ++i) {
    auto hit = index->lookup(entries[i].embedding, "", 0.999, f.now_ms);
    REQUIRE(hit);
    CHECK(hit->uuid == entries[i].uuid);
  }
  // The replayed inserts count towards the next automatic snapshot.
  for (int i = 0; i < 5; ++i) {
    std::vector<float> v(8, 0.f);
    v[i] = 1;
    self->send(ns, insert_atom::value, make_insert(v));
    f.settle();
    REQUIRE(next_reply<insert_reply>(self).ok());
  }
  f.settle();
  CHECK(f.metrics.compactions == 1);
}

TEST_CASE("automatic snapshots wait for the log tail to reach a fraction of the namespace") {
  // Minimum 10 inserts, fraction 0.5: due at 10 entries (10 >= max(10, 5)),
  // at 20 (10 >= max(10, 10)), then at 40 (20 >= 20), not at 30 (10 < 15).
  // The fixed interval alone would have snapshotted at 10, 20, 30 and 40.
  for (double fraction : {0.0, 0.5}) {
    INFO("compact_tail_fraction " << fraction);
    actor_fixture f;
    f.ns_settings.compact_interval_inserts = 10;
    f.ns_settings.compact_tail_fraction = fraction;
    std::vector<std::uint64_t> compactions_after;
    { // the scoped actor must be gone before the actor system stops
      auto ns = f.directory.actor_for({"m", "", ""});
      caf::scoped_actor self{*f.sys};
      for (int i = 0; i < 40; ++i) {
        std::vector<float> v(8, 0.f);
        v[static_cast<std::size_t>(i % 8)] = 1;
        v[static_cast<std::size_t>((i / 8) % 8)] += 0.5f + 0.01f * static_cast<float>(i);
        self->send(ns, insert_atom::value, make_insert(v));
        f.settle();
        REQUIRE(next_reply<insert_reply>(self).ok());
        if ((i + 1) % 10 == 0)
          compactions_after.push_back(f.metrics.compactions.load());
      }
    }
    if (fraction == 0.0)
      CHECK(compactions_after == std::vector<std::uint64_t>{1, 2, 3, 4});
    else
      CHECK(compactions_after == std::vector<std::uint64_t>{1, 2, 2, 3});
    CHECK(f.metrics.snapshot_bytes_total > 0);
    // Whatever the policy, the entries survive a restart: snapshot + tail.
    auto recovered = f.recover_after_stop();
    REQUIRE(recovered.size() == 1);
    CHECK(recovered.front().index->size() == 40);
  }
}

TEST_CASE("a replica refuses client writes and never expires or evicts on its own") {
  actor_fixture f;
  f.ns_settings.expire_interval = std::chrono::seconds(10);
  f.ns_settings.max_entries = 1;
  namespace_key key{"m", "", ""};
  // Two entries over a cap of one, one of them past its expiry: a primary
  // would log an eviction and an expiry; a replica waits for its primary's.
  auto index = std::make_shared<namespace_index>(4, f.ns_settings.hnsw);
  cache_entry stale;
  stale.uuid = "stale";
  stale.embedding = {1, 0, 0, 0};
  stale.expires_at_ms = f.now_ms - 1;
  cache_entry other;
  other.uuid = "other";
  other.embedding = {0, 1, 0, 0};
  REQUIRE(index->upsert(stale).ok());
  REQUIRE(index->upsert(other).ok());
  namespace_start start{key, index, 2, 0, namespace_role::replica};
  auto replica = spawn_namespace_actor(*f.sys, start, f.ns_settings, f.storage, f.writer, &f.directory);
  f.directory.add(namespace_directory::item{key, replica, index});
  caf::scoped_actor self{*f.sys};
  self->send(replica, insert_atom::value, make_insert({0, 0, 1, 0}, "client"));
  self->send(replica, delete_atom::value, std::string("other"));
  f.settle();
  auto refused = next_reply<insert_reply>(self);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.err().code == errc::not_owner);
  auto refused_delete = next_reply<bool>(self);
  REQUIRE_FALSE(refused_delete.ok());
  CHECK(refused_delete.err().code == errc::not_owner);
  f.now_ms += 60'000;
  for (int i = 0; i < 3; ++i) {
    f.sched->advance_time(std::chrono::seconds(10));
    f.settle();
  }
  CHECK(index->contains("stale"));
  CHECK(index->contains("other"));
  CHECK_FALSE(index->contains("client"));
  CHECK(f.metrics.expirations_total == 0);
  CHECK(f.metrics.evictions_total == 0);
  CHECK(f.metrics.wal_records_total == 0);
}
