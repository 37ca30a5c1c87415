#pragma once

// A node's actors on CAF's deterministic test coordinator: virtual time, no
// threads, a real LMDB store in a temporary folder, and a wall clock the test
// moves by hand.

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <atomic>
#include <filesystem>
#include <optional>
#include <random>

#include "actors/errors.hpp"
#include "actors/namespace_actor.hpp"
#include "actors/namespace_directory.hpp"
#include "actors/recovery.hpp"
#include "actors/snapshot_writer.hpp"
#include "actors/storage_actor.hpp"
#include "storage/io_faults.hpp"
#include "storage/wal_store.hpp"

namespace ferro::test {

/// An insert into namespace {"m", "", ""}, the one the actor tests use.
inline insert_request make_insert(std::vector<float> v, std::string uuid = {},
                                  std::optional<std::int64_t> ttl = {}) {
  insert_request r;
  r.ns = namespace_key{"m", "", ""};
  r.embedding = std::move(v);
  r.response = "answer";
  r.query_text = "question";
  r.uuid = std::move(uuid);
  r.ttl_seconds = ttl;
  return r;
}

/// Takes the next reply from the scoped actor's mailbox (already delivered
/// by settle()); fails the test if there is none.
template <class T>
result<T> next_reply(caf::scoped_actor& self) {
  std::optional<result<T>> out;
  self->receive([&](T& v) { out.emplace(std::move(v)); },
                [&](caf::error& e) { out.emplace(from_caf_error(e)); },
                caf::after(std::chrono::milliseconds(100)) >> [&] {});
  REQUIRE(out.has_value());
  return std::move(*out);
}

/// Fails fsyncs on demand.
struct switchable_faults : io_faults {
  std::atomic<bool> fail_sync{false};
  status before_sync() override {
    if (fail_sync)
      return error{errc::unavailable, "injected fsync failure"};
    return {};
  }
};

struct actor_fixture {
  std::filesystem::path dir;
  std::int64_t now_ms = 1'700'000'000'000;
  node_metrics metrics;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<switchable_faults> faults = std::make_shared<switchable_faults>();
  namespace_directory directory;
  std::shared_ptr<wal_store> store;
  storage_actor storage;
  /// The real writer by default; a test may swap in its own before the first
  /// namespace actor is spawned.
  snapshot_writer_actor writer;
  namespace_settings ns_settings;
  std::chrono::milliseconds batch_timeout{1};

  explicit actor_fixture(std::size_t batch_size = 256)
      : actor_fixture(std::filesystem::temp_directory_path() /
                          ("ferro-actor-" + std::to_string(std::random_device{}())),
                      batch_size) {}

  /// On the data dir of another fixture whose actors were stopped (a
  /// restart): the store is opened but not recovered; the test calls
  /// recover_namespaces itself. The dir is removed by whichever fixture ends
  /// first.
  actor_fixture(std::filesystem::path data_dir, std::size_t batch_size) : dir(std::move(data_dir)) {
    std::filesystem::create_directories(dir);
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    register_wire_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    ns_settings.clock = [this] { return now_ms; };
    ns_settings.metrics = &metrics;
    ns_settings.seed = 7;
    ns_settings.hnsw.initial_capacity = 16;
    start_storage(batch_size);
  }

  ~actor_fixture() {
    stop_actors();
    std::filesystem::remove_all(dir);
  }

  /// Stops every actor and the system (the store is closed afterwards).
  void stop_actors() {
    if (!sys)
      return;
    for (auto& it : directory.all())
      caf::anon_send_exit(it.actor, caf::exit_reason::user_shutdown);
    if (writer)
      caf::anon_send_exit(writer, caf::exit_reason::user_shutdown);
    if (storage)
      caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
    sched->run();
    directory.clear();
    writer = nullptr;
    storage = nullptr;
    store.reset();
    sys.reset();
  }

  /// Stops every actor, then recovers the namespaces from the data folder
  /// the way a restarted node does.
  std::vector<namespace_start> recover_after_stop() {
    auto folder = dir;
    stop_actors();
    storage_options opts;
    opts.data_dir = folder;
    auto reopened = wal_store::open(opts);
    REQUIRE(reopened.ok());
    node_metrics m;
    auto recovered = recover_namespaces(**reopened, hnsw_params{}, m, 2);
    REQUIRE(recovered.ok());
    return std::move(recovered.value());
  }

  void start_storage(std::size_t batch_size) {
    storage_options opts;
    opts.data_dir = dir;
    opts.faults = faults;
    auto opened = wal_store::open(opts);
    REQUIRE(opened.ok());
    store = std::move(opened.value());
    storage =
        spawn_storage_actor(*sys, store, storage_actor_settings{batch_size, batch_timeout, &metrics, false});
    writer = spawn_snapshot_writer(*sys, store, false);
    directory.set_factory([this](const namespace_key& key) {
      return spawn_namespace_actor(*sys, namespace_start{key, nullptr, 0}, ns_settings, storage, writer,
                                   &directory);
    });
  }

  /// Runs every job; each round moves virtual time by one batch timeout so
  /// that group-commit timers fire. Bounded: periodic timers never starve it.
  void settle() {
    for (int round = 0; round < 50; ++round) {
      sched->run();
      sched->advance_time(batch_timeout);
      if (!sched->has_job())
        return;
    }
  }
};

} // namespace ferro::test
