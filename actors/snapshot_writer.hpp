#pragma once

#include <memory>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"

namespace ferro {

/// The slow half of a snapshot, as a plain function: writes the job's graph
/// image to `graph.hnsw` (digesting it on the way), then the entries file,
/// fsyncs both and the temp dir (wal_store::write_snapshot_files). Frees the
/// image as soon as it is written. Thread-safe with respect to the store's
/// own thread. On error the temp dir is left for the caller to abandon.
result<prepared_snapshot> write_snapshot(wal_store& store, snapshot_job& job);

/// Spawns the node's snapshot writer. Production runs it detached (it blocks
/// on disk writes for seconds); tests on the deterministic coordinator run it
/// like any other actor.
snapshot_writer_actor spawn_snapshot_writer(caf::actor_system& sys, std::shared_ptr<wal_store> store,
                                            bool detached = true);

} // namespace ferro
