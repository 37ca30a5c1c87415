// Snapshots through the actors: the namespace actor takes an image and goes
// on; the snapshot writer writes the files; the storage actor publishes.

#include <catch2/catch.hpp>

#include <utility>

#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actor_fixture.hpp"
#include "actors/errors.hpp"

using namespace ferro;
using ferro::test::actor_fixture;
using ferro::test::make_insert;
using ferro::test::next_reply;

namespace {

const namespace_key key{"m", "", ""};

/// A snapshot writer that holds every job until the test releases it (a
/// `flush` message carrying whether the write succeeds): the test decides
/// when "the files are written", and can act meanwhile. Promises must be
/// delivered from inside the actor, hence a message rather than a call.
struct held_state {
  std::vector<std::pair<snapshot_job, caf::response_promise>> jobs;
};

caf::behavior held_writer(caf::stateful_actor<held_state>* self, std::shared_ptr<wal_store> store) {
  return {
      [=](snap_write_atom, snapshot_job& job) {
        auto promise = self->make_response_promise();
        self->state.jobs.emplace_back(std::move(job), promise);
        return promise;
      },
      [=](flush_atom, bool succeed) {
        for (auto& [job, promise] : std::exchange(self->state.jobs, {})) {
          if (!succeed) {
            promise.deliver(to_caf_error(errc::unavailable, "injected snapshot write failure"));
            continue;
          }
          auto written = write_snapshot(*store, job);
          if (written)
            promise.deliver(std::move(written.value()));
          else
            promise.deliver(to_caf_error(written.err()));
        }
      },
      [=](caf::get_atom) { return static_cast<std::uint64_t>(self->state.jobs.size()); },
  };
}

struct held_fixture : actor_fixture {
  caf::actor held;
  caf::scoped_actor self{*sys};
  namespace_actor ns;

  held_fixture() {
    caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    held = sys->spawn(held_writer, store);
    writer = caf::actor_cast<snapshot_writer_actor>(held);
    ns = directory.actor_for(key);
  }

  void insert(std::vector<float> v, std::string uuid) {
    self->send(ns, insert_atom::value, make_insert(std::move(v), std::move(uuid)));
    settle();
    REQUIRE(next_reply<insert_reply>(self).ok());
  }

  /// Snapshot jobs the writer holds.
  std::uint64_t pending() {
    self->send(held, caf::get_atom::value);
    settle();
    return next_reply<std::uint64_t>(self).value();
  }

  void release(bool succeed = true) {
    caf::anon_send(held, flush_atom::value, succeed);
    settle();
  }

  std::vector<std::string> temp_dirs() const {
    std::vector<std::string> out;
    for (const auto& d : std::filesystem::directory_iterator(dir / "snapshots"))
      if (d.path().filename().string().rfind("tmp-", 0) == 0)
        out.push_back(d.path().filename().string());
    return out;
  }
};

} // namespace

TEST_CASE("inserts are applied while a snapshot's files are being written, and are not in that snapshot") {
  held_fixture f;
  f.insert({1, 0, 0, 0}, "a");
  f.insert({0, 1, 0, 0}, "b");
  f.self->send(f.ns, compact_atom::value);
  f.settle();
  REQUIRE(f.pending() == 1); // the image is taken; its files are pending

  f.insert({0, 0, 1, 0}, "c");
  f.insert({0, 0, 0, 1}, "d");
  auto index = f.directory.index_of(key);
  REQUIRE(index);
  CHECK(index->contains("c"));
  CHECK(index->contains("d"));
  // One snapshot in flight per namespace: a second compact waits for it.
  f.self->send(f.ns, compact_atom::value);
  f.settle();
  CHECK(f.pending() == 1);

  f.release();
  CHECK(next_reply<std::uint64_t>(f.self).value() == 2); // a and b only
  // The waiting compact gets a snapshot of its own, which sees c and d.
  REQUIRE(f.pending() == 1);
  f.release();
  CHECK(next_reply<std::uint64_t>(f.self).value() == 4);
  CHECK(f.temp_dirs().empty());

  // What a restart would find (recover() only reads; the actors are idle).
  auto rep = f.store->recover();
  REQUIRE(rep.ok());
  REQUIRE(rep->namespaces.size() == 1);
  auto& ns = rep->namespaces.front();
  CHECK(ns.snapshot_ns_seq == 4);
  CHECK(ns.snapshot_entries.size() == 4);
  CHECK(ns.graph_file.has_value());
  CHECK(ns.tail.empty());
}

TEST_CASE("a failed snapshot write reaches the compact caller and abandons its temp dir") {
  held_fixture f;
  f.insert({1, 0, 0, 0}, "a");
  f.self->send(f.ns, compact_atom::value);
  f.settle();
  REQUIRE(f.pending() == 1);
  CHECK(f.temp_dirs().size() == 1);
  f.release(false);
  auto r = next_reply<std::uint64_t>(f.self);
  REQUIRE_FALSE(r.ok());
  CHECK(r.err().code == errc::unavailable);
  CHECK(f.temp_dirs().empty());
  // The namespace is not stuck: inserts go on and the next snapshot works.
  f.insert({0, 1, 0, 0}, "b");
  f.self->send(f.ns, compact_atom::value);
  f.settle();
  f.release();
  CHECK(next_reply<std::uint64_t>(f.self).value() == 2);
}
