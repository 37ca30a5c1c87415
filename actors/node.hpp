#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "service/cache_service.hpp"
#include "actors/namespace_actor.hpp"

namespace ferro {

class io_faults;

/// Everything a node needs; app/ maps its configuration onto this.
struct node_settings {
  std::string node_id = defaults::node_id;
  std::filesystem::path data_dir = defaults::data_dir;
  std::size_t lmdb_map_size_bytes = defaults::lmdb_map_size_bytes;
  std::size_t wal_batch_size = defaults::wal_batch_size;
  std::chrono::milliseconds wal_batch_timeout{defaults::wal_batch_timeout_ms};
  std::size_t max_in_flight = defaults::max_pending_writes;
  std::chrono::milliseconds request_timeout{defaults::request_timeout_ms};
  std::size_t scheduler_threads = 0; ///< 0: one per core
  /// Threads the log replay and runs of live inserts are spread over; 0: as
  /// many as scheduler threads. 1 keeps graph shapes independent of thread
  /// interleaving (deterministic tests, the simulator).
  std::size_t insert_threads = 0;
  /// The storage actor and the snapshot writer on threads of their own (they
  /// block on fsync). Off under CAF's test coordinator, which must see every
  /// actor to drive it.
  bool detached_io = true;
  /// CAF scheduler policy: "stealing" (CAF's default: idle workers poll with
  /// short sleeps) or "sharing" (one queue, idle workers block).
  std::string scheduler_policy = defaults::actor_scheduler;
  // Reported by /cluster/status; single mode keeps one copy whatever they say.
  std::size_t replication_factor = defaults::cluster_replication_factor;
  bool read_repair_enabled = defaults::cluster_read_repair_enabled;
  namespace_settings ns; ///< metrics pointer is filled by the node
  /// Disk-fault seam (storage/io_faults.hpp) for tests and the simulator;
  /// none in production.
  std::shared_ptr<io_faults> storage_faults;
};

/// The actor-system settings every node needs: scheduler policy and
/// threads, CAF's own logger off (we log through spdlog), and the wire types.
/// app/ calls it for production; tests and the simulator call it and then
/// switch the scheduler to CAF's test coordinator.
void configure_actor_system(caf::actor_system_config& cfg, const node_settings& settings);

/// A single FerroCache node on an actor system it is given: storage,
/// recovery, and the `cache_service` the HTTP layer calls. Queries are
/// answered on the calling thread from the published read views; mutations
/// go through the actors. The actor system must outlive the node.
class node final : public cache_service {
public:
  node(node_settings settings, caf::actor_system& sys);
  ~node() override;
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Opens the storage, recovers every namespace and starts the actors.
  /// Blocking; until it returns, health() reports "starting".
  status start();

  /// Snapshots every namespace (so access statistics survive), stops every
  /// actor of the node, then calls `done` (on an actor thread). Never
  /// blocks: under CAF's test coordinator the caller runs the scheduler until
  /// `done` has been called. From then on every request is refused.
  void stop(std::function<void()> done);

  /// stop(), waiting for it: for a threaded scheduler only (main(), the
  /// destructor).
  void shutdown();

  /// Stops every actor of the node at once, wherever its work stands (no
  /// final snapshots; writes and snapshots in flight are abandoned), as
  /// kill -9 would: for the simulator, which then throws the node away and
  /// restarts it on what its disk holds. Every request is refused from here.
  void halt();

  void insert(insert_request req, callback<insert_reply> done) override;
  void query(query_request req, callback<query_reply> done) override;
  void remove(delete_request req, callback<delete_reply> done) override;
  void invalidate(invalidate_request req, callback<invalidate_reply> done) override;
  void compact(callback<compact_reply> done) override;
  void entry_stats(callback<entry_stats_reply> done) override;
  void stats(callback<stats_reply> done) override;
  void feedback(feedback_request req, callback<feedback_reply> done) override;
  health_reply health() override;
  cluster_status_reply cluster_status() override;
  node_metrics& metrics() override;

  // ---- for the cluster layer (cluster/edges), once start() succeeded

  /// The namespace's actor on this node, spawned (in the initial role) on
  /// first use. Null after stop().
  namespace_actor namespace_for(const namespace_key& key);
  /// Namespaces this node holds a copy of.
  std::vector<namespace_key> local_namespaces() const;
  /// Whether local_namespaces() would list `key` (a lookup, not a copy).
  bool has_namespace(const namespace_key& key) const;
  /// Namespaces whose copy here holds an entry with this id.
  std::vector<namespace_key> holders_of(const std::string& uuid) const;
  storage_actor storage_handle() const;
  const node_settings& settings() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ferro
