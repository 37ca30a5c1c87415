#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/member.hpp"
#include "cluster/placement.hpp"

namespace ferro::cluster {

struct view_member {
  std::string node_id;
  std::string address;
  member_status status = member_status::alive;
  std::uint64_t generation = 0;

  friend bool operator==(const view_member&, const view_member&) = default;
};

/// An immutable snapshot of the member table, published by `membership`.
struct cluster_view {
  /// Grows by one whenever the set of live (alive or suspected) nodes
  /// changes; heartbeats and alive <-> suspected flips leave it alone. A
  /// local counter: two nodes with the same live set may hold different
  /// epochs.
  std::uint64_t view_epoch = 0;
  /// Every known node, self included, sorted by node_id.
  std::vector<view_member> members;

  /// The live nodes' ids, sorted.
  std::vector<std::string> live_nodes() const;
};

/// The placement table of a view: its live nodes at its epoch.
placement_table to_placement_table(const cluster_view& view,
                                   std::size_t vnodes_per_node = defaults::cluster::vnodes_per_node);

} // namespace ferro::cluster
