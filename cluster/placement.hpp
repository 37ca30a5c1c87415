#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/defaults.hpp"
#include "common/namespace_key.hpp"

namespace ferro::cluster {

/// What placement is computed from: the nodes that hold data in one epoch.
/// The order of `nodes` does not matter; duplicates count once.
struct placement_table {
  std::uint64_t epoch = 0;
  std::vector<std::string> nodes;
  std::size_t vnodes_per_node = defaults::cluster::vnodes_per_node;
};

/// The bytes that place a namespace: encode_key(key.base()), so that a
/// conversation namespace lives on the same nodes as its base namespace.
std::string placement_key(const namespace_key& key);

/// Position of virtual node `index` of `node_id` on the ring:
/// stable_hash(node_id bytes followed by `index` as 8 little-endian bytes).
/// The index has a fixed width, so distinct (node, index) pairs hash
/// distinct byte strings.
std::uint64_t vnode_point(std::string_view node_id, std::uint32_t index);

/// A consistent-hash ring with virtual nodes, built once per table.
/// Immutable after construction; safe to share between threads.
class hash_ring {
public:
  explicit hash_ring(const placement_table& table);

  /// The first `rf` distinct nodes clockwise from stable_hash(key): the
  /// first is the primary. All nodes (in ring order) when rf >= node count;
  /// empty when rf == 0 or the ring has no nodes.
  std::vector<std::string> replicas_for(std::string_view placement_key, std::size_t rf) const;

  /// replicas_for(key, 1)[0]; empty string for an empty ring.
  std::string primary_for(std::string_view placement_key) const;

  std::uint64_t epoch() const { return epoch_; }
  /// The distinct nodes, sorted.
  const std::vector<std::string>& nodes() const { return nodes_; }

private:
  struct point {
    std::uint64_t position;
    std::uint32_t node; // index into nodes_
  };

  std::uint64_t epoch_;
  std::vector<std::string> nodes_;
  std::vector<point> ring_; // sorted by (position, node id)
};

} // namespace ferro::cluster
