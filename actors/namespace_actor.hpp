#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "index/namespace_index.hpp"
#include "quality/calibration.hpp"

namespace ferro {

class namespace_directory;

/// Settings shared by every namespace actor of a node.
struct namespace_settings {
  hnsw_params hnsw;
  std::optional<std::size_t> max_entries;               ///< LRU cap
  std::optional<std::int64_t> conversation_ttl_seconds; ///< default TTL of conversation entries
  std::chrono::milliseconds expire_interval{defaults::expire_scan_interval_secs * 1000};
  std::uint64_t compact_interval_inserts = defaults::compact_interval_inserts; ///< 0: never
  /// An automatic snapshot also waits until the inserts since the last one
  /// reach this fraction of the namespace's entries (storage/snapshot_policy.hpp).
  double compact_tail_fraction = defaults::compact_tail_fraction;
  wall_clock clock = system_wall_clock();
  node_metrics* metrics = nullptr;
  std::uint64_t seed = 1; ///< uuid generator seed (mixed with the key)
  /// Threads a run of durable inserts is spread over (see apply_next).
  std::size_t insert_threads = 1;
  std::size_t apply_batch_inserts = defaults::apply_batch_inserts;
  /// Recovered backlog entries linked into the graph per step.
  std::size_t backlog_step_entries = defaults::backlog_step_entries;
  /// The quality model's decision tuning (docs/quality.md).
  quality::model_params quality;
  /// `quality.pool_feedback = "model"`: decide with the feedback of every
  /// namespace of the model_id (namespace_directory::publish_feedback).
  bool pool_feedback_by_model = false;
  /// Cluster only: where a primary ships its durable batches (null on a
  /// single node) and the role a namespace starts in.
  replicator_actor replicator{};
  namespace_role initial_role = namespace_role::standalone;
};

/// Where a namespace actor starts from: empty, or a recovered index.
struct namespace_start {
  namespace_key key;
  std::shared_ptr<namespace_index> index; ///< null: no entries yet
  std::uint64_t applied_ns_seq = 0;
  /// Inserts replayed from the log after the last snapshot: they count
  /// towards the next automatic one, which bounds the next replay.
  std::uint64_t replayed_inserts = 0;
  namespace_role role = namespace_role::standalone;
  /// Epoch of the newest recovered log record (0: none or unknown).
  std::uint64_t last_epoch = 0;
  /// Feedback counts as recovered (snapshot + replayed log).
  quality::feedback_counts feedback{};
  /// A copy whose rebuild from an image had not finished (no record or
  /// snapshot of it carries an epoch), or whose snapshot was lost.
  bool partial = false;
  /// Where its own lineage began, if it led with a log of unknown lineage
  /// (as its snapshot recorded; 0: none).
  std::uint64_t lineage_from = 0;
};

/// `writer` writes the namespace's snapshot files off the actor's thread.
namespace_actor spawn_namespace_actor(caf::actor_system& sys, namespace_start start,
                                      const namespace_settings& settings, storage_actor storage,
                                      snapshot_writer_actor writer, namespace_directory* directory);

} // namespace ferro
