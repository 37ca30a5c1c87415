#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "cluster/transport/transport_types.hpp"
#include "common/defaults.hpp"

namespace ferro::cluster {

/// A clustered node's settings; app/ maps `cluster.*` onto these
/// (docs/cluster.md lists the keys and what each one trades).
struct cluster_settings {
  std::string node_id;
  std::string advertise;          ///< host:port peers dial to reach this node
  std::vector<std::string> seeds; ///< host:port of other nodes (this node's own is ignored)
  std::size_t replication_factor = defaults::cluster_replication_factor;
  /// How often a node tells every peer it is alive; phi accrual judges the
  /// silences against the intervals it has seen.
  std::chrono::milliseconds heartbeat_interval{defaults::cluster::heartbeat_interval_ms};
  /// suspected at phi_threshold, dead at twice that.
  double phi_threshold = defaults::cluster_phi_threshold;
  /// A replica that has not made a batch durable within this time leaves
  /// the in-sync set (after the primary has confirmed with a majority that
  /// it still leads), and the write is acknowledged without it.
  std::chrono::milliseconds replication_timeout{defaults::cluster::replication_timeout_ms};
  /// A dead node leaves the replica sets of its namespaces, so that the
  /// cluster restores R copies on the others (true); or it keeps its place
  /// and its namespaces run with fewer copies until it returns, which moves
  /// no data for a short outage such as a rolling restart (false). Either
  /// way it stays a member: it counts towards majorities.
  bool dead_node_removal = true;
  /// Catch-ups this node runs at once; the rest wait, a new term's replicas
  /// ahead of re-replication (cluster_replication.cpp).
  std::size_t max_catch_ups = defaults::cluster::max_concurrent_catch_ups;
  /// Forwarded client requests (to a primary, a replica) give up after this.
  std::chrono::milliseconds request_timeout{defaults::request_timeout_ms};
  transport::transport_options transport; ///< node_id/advertise filled from above
  /// Seeds the election back-off (random per process in production, fixed
  /// in deterministic runs).
  std::uint64_t seed = 1;
};

} // namespace ferro::cluster
