#pragma once

#include <vector>

#include "actors/namespace_actor.hpp"
#include "common/metrics.hpp"
#include "common/status.hpp"

namespace ferro {

class wal_store;

/// Rebuilds every namespace from its snapshot (graph + entries; the graph is
/// loaded, not rebuilt, when it is intact) and the log tail after it. Corrupt
/// records were already left out by the store; they are counted in
/// `metrics` and logged. Runs before any actor touches the store. The
/// graph files load on a second thread while the store reads the rest
/// (graph_prefetch). Every logged insert of the tail is left in the
/// index's backlog for the namespace actor to link on `threads` threads.
result<std::vector<namespace_start>> recover_namespaces(wal_store& store, const hnsw_params& params,
                                                        node_metrics& metrics, std::size_t threads);

} // namespace ferro
