#pragma once

// The typed actor interfaces of a FerroCache node, in one place. Only
// actors/*.cpp include this (CAF headers are expensive); http/ talks to the
// node through service/cache_service.hpp.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "service/messages.hpp"
#include "common/status.hpp"
#include "actors/wire_types.hpp"
#include "index/namespace_image.hpp"
#include "storage/wal_store.hpp"

namespace ferro {

// Atoms (at most 10 characters each).
using append_atom = caf::atom_constant<caf::atom("append")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using snap_begin_atom = caf::atom_constant<caf::atom("snapbegin")>;
using snap_publish_atom = caf::atom_constant<caf::atom("snappub")>;
using snap_abandon_atom = caf::atom_constant<caf::atom("snapabandn")>;
using snap_write_atom = caf::atom_constant<caf::atom("snapwrite")>;
using wal_seq_atom = caf::atom_constant<caf::atom("walseq")>;
using last_seq_atom = caf::atom_constant<caf::atom("lastseq")>;
using insert_atom = caf::atom_constant<caf::atom("insert")>;
using delete_atom = caf::atom_constant<caf::atom("delete")>;
using invalidate_atom = caf::atom_constant<caf::atom("invalidat")>;
using compact_atom = caf::atom_constant<caf::atom("compact")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using backlog_atom = caf::atom_constant<caf::atom("backlog")>;
using feedback_atom = caf::atom_constant<caf::atom("feedback")>;
// Cluster roles and replication (cluster/edges drives these).
using read_after_atom = caf::atom_constant<caf::atom("readafter")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using role_atom = caf::atom_constant<caf::atom("role")>;
using position_atom = caf::atom_constant<caf::atom("position")>;
using follow_atom = caf::atom_constant<caf::atom("follow")>;
using reset_atom = caf::atom_constant<caf::atom("reset")>;
using image_atom = caf::atom_constant<caf::atom("image")>;
using ship_atom = caf::atom_constant<caf::atom("ship")>;
using resign_atom = caf::atom_constant<caf::atom("resign")>;
using ship_now_atom = caf::atom_constant<caf::atom("shipnow")>;

/// What a namespace actor may decide on its own.
enum class namespace_role : std::uint8_t {
  /// A single node: takes writes, decides expiry and LRU eviction.
  standalone,
  /// A cluster's primary of the namespace: as standalone, and ships every
  /// record (its expiries and evictions included) to the replicas.
  primary,
  /// A copy kept up to date by its primary's records only: refuses client
  /// writes (errc::not_owner) and never expires or evicts by itself, since
  /// a removal decided here would diverge from the primary.
  replica,
};

/// Whether a namespace in `role` takes client writes and decides removals.
constexpr bool decides_writes(namespace_role role) {
  return role != namespace_role::replica;
}

/// A namespace snapshot on its way to the snapshot writer: the image the
/// namespace actor took and the temp dir its files go to. The image is
/// shared only so that the message stays copyable; the writer is its last
/// owner and frees it as soon as the files are written.
struct snapshot_job {
  namespace_key ns;
  std::string tmp_dir;
  std::uint64_t covered_ns_seq = 0; ///< the namespace's applied ns_seq when the image was taken
  std::shared_ptr<namespace_image> image;
  std::string quality_state{};    ///< feedback counts as of covered_ns_seq
  std::uint64_t epoch = 0;        ///< lineage as of covered_ns_seq: its newest record's epoch (0: unknown)
  bool whole = true;              ///< false while the copy is being rebuilt from an image
  std::uint64_t lineage_from = 0; ///< where its own lineage began (namespace_start::lineage_from)
};

/// Owns the node's LMDB environment. Appends are group-committed: one
/// transaction and one fsync per batch of up to `wal_batch_size` records or
/// `wal_batch_timeout_ms`; every caller is answered once its batch is durable.
using storage_actor = caf::typed_actor<
    // Make the records durable; replies with their ns_seq values, in order.
    caf::replies_to<append_atom, log_batch>::with<std::vector<std::uint64_t>>,
    // Timer: commit whatever is pending.
    caf::reacts_to<flush_atom>,
    // Hand out a fresh temporary folder for a namespace snapshot.
    caf::replies_to<snap_begin_atom, namespace_key>::with<std::string>,
    // Publish a written snapshot atomically and drop the log it covers;
    // replies with its number of entries.
    caf::replies_to<snap_publish_atom, prepared_snapshot>::with<std::uint64_t>,
    // Remove a temp folder whose snapshot will not be published.
    caf::reacts_to<snap_abandon_atom, std::string>,
    // Total records ever appended on this node.
    caf::replies_to<wal_seq_atom>::with<std::uint64_t>,
    // The last sequence number the log accounts for in a namespace (void
    // records of failed batches included), after the appends before it.
    caf::replies_to<last_seq_atom, namespace_key>::with<std::uint64_t>,
    // Up to `max` logged records of the namespace after a sequence number
    // (what a replica behind by that much needs); not_found when a snapshot
    // already dropped them.
    caf::replies_to<read_after_atom, namespace_key, std::uint64_t, std::uint64_t>::with<log_batch>,
    // Forget a namespace's log and snapshot (a replica starting over).
    caf::replies_to<drop_atom, namespace_key>::with<bool>>;

/// The cluster's side of a primary's writes: a namespace actor in primary
/// role sends every batch here (as it goes to its own log, or once durable
/// there) and answers its client only once the replicas in sync have it
/// too. Implemented in cluster/edges; absent (null) on a single node.
using replicator_actor = caf::typed_actor<
    // The batch (with sequence numbers and epoch); replies once every
    // replica in sync has it durable, or with an error.
    caf::replies_to<ship_atom, log_batch>::with<bool>,
    // The primary of the namespace at this epoch could not log a batch it
    // had already shipped: it no longer leads (docs/cluster.md, "Writes").
    caf::reacts_to<resign_atom, namespace_key, std::uint64_t>>;

/// One per node, detached: writes snapshot files off the hot threads (the
/// namespace actors keep applying mutations, the storage actor keeps
/// committing), one snapshot at a time.
using snapshot_writer_actor = caf::typed_actor<
    // Write the image's graph and entries files into the temp folder and
    // fsync them; replies with what the storage actor needs to publish.
    caf::replies_to<snap_write_atom, snapshot_job>::with<prepared_snapshot>>;

/// One per namespace: the only writer of its index. Every mutation is logged
/// through the storage actor and applied only after it is durable.
using namespace_actor = caf::typed_actor<
    // Insert or replace an entry; replies once durable and visible.
    caf::replies_to<insert_atom, insert_request>::with<insert_reply>,
    // Remove the entry with this uuid; false when this namespace has none.
    caf::replies_to<delete_atom, std::string>::with<bool>,
    // Remove every live entry within the radius; replies with their uuids.
    caf::replies_to<invalidate_atom, invalidate_request>::with<invalidate_reply>,
    // Snapshot the namespace; replies with the number of entries written.
    caf::replies_to<compact_atom>::with<std::uint64_t>,
    // Log feedback on a served hit, then update the quality model.
    caf::replies_to<feedback_atom, feedback_request>::with<feedback_reply>,
    // Timer: log and drop expired entries.
    caf::reacts_to<expire_atom>,
    // Cluster: become primary at an epoch (or replica, or refuse an older
    // epoch); replies with the copy's position. Epoch 0 only asks.
    caf::replies_to<role_atom, namespace_role, std::uint64_t>::with<ns_position>,
    caf::replies_to<position_atom>::with<ns_position>,
    // Replica: log and apply the primary's records at its sequence numbers;
    // records already held are acknowledged again. stale_replica on a gap,
    // fenced for an epoch older than this copy's.
    caf::replies_to<follow_atom, std::uint64_t, log_batch>::with<ns_position>,
    // Replica: drop everything and continue at `next_seq` (a full resync;
    // the primary's image follows as insert records).
    caf::replies_to<reset_atom, std::uint64_t, std::uint64_t>::with<ns_position>,
    // The live entries as insert records numbered to end at the applied
    // sequence (void records fill the rest), for a full resync.
    caf::replies_to<image_atom>::with<log_batch>,
    // To itself: apply the next durable mutation.
    caf::reacts_to<apply_atom>,
    // To itself: link the next few recovered entries into the graph.
    caf::reacts_to<backlog_atom>,
    // To itself: ship the records gathered since the last ship, as one batch.
    caf::reacts_to<ship_now_atom>>;

/// A callback from the HTTP layer, carried inside a local-only message.
template <class T>
struct completion {
  std::function<void(result<T>)> fn;
  void operator()(result<T> r) const { fn(std::move(r)); }
};

/// Turns requests from I/O threads into actor requests and completes them
/// through their callbacks. Bounds the number of requests in flight.
using gateway_actor =
    caf::typed_actor<caf::reacts_to<insert_atom, insert_request, completion<insert_reply>>,
                     caf::reacts_to<delete_atom, delete_request, completion<delete_reply>>,
                     caf::reacts_to<invalidate_atom, invalidate_request, completion<invalidate_reply>>,
                     caf::reacts_to<feedback_atom, feedback_request, completion<feedback_reply>>,
                     caf::reacts_to<compact_atom, completion<compact_reply>>>;

} // namespace ferro

// Local-only message types: they never leave their node (they hold a
// pointer, a path or a callback). Wire types have inspect() overloads in
// actors/wire_types.hpp instead.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::snapshot_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::prepared_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::completion<ferro::insert_reply>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::completion<ferro::delete_reply>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::completion<ferro::invalidate_reply>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::completion<ferro::compact_reply>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::completion<ferro::feedback_reply>)
