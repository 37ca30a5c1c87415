#include "cluster/placement.hpp"

#include <algorithm>

#include "cluster/stable_hash.hpp"

namespace ferro::cluster {

std::string placement_key(const namespace_key& key) {
  return encode_key(key.base());
}

std::uint64_t vnode_point(std::string_view node_id, std::uint32_t index) {
  std::string bytes(node_id);
  for (int shift = 0; shift < 64; shift += 8)
    bytes += static_cast<char>((std::uint64_t{index} >> shift) & 0xff);
  return stable_hash(bytes);
}

hash_ring::hash_ring(const placement_table& table) : epoch_(table.epoch), nodes_(table.nodes) {
  // Sorting first makes the ring independent of the order nodes were listed
  // in, and gives a fixed tie-break when two virtual nodes share a position.
  std::sort(nodes_.begin(), nodes_.end());
  nodes_.erase(std::unique(nodes_.begin(), nodes_.end()), nodes_.end());
  auto vnodes = static_cast<std::uint32_t>(std::max<std::size_t>(table.vnodes_per_node, 1));
  ring_.reserve(nodes_.size() * vnodes);
  for (std::uint32_t n = 0; n < nodes_.size(); ++n)
    for (std::uint32_t v = 0; v < vnodes; ++v)
      ring_.push_back({vnode_point(nodes_[n], v), n});
  std::sort(ring_.begin(), ring_.end(), [](const point& a, const point& b) {
    return a.position != b.position ? a.position < b.position : a.node < b.node;
  });
}

std::vector<std::string> hash_ring::replicas_for(std::string_view placement_key, std::size_t rf) const {
  std::vector<std::string> out;
  if (ring_.empty() || rf == 0)
    return out;
  rf = std::min(rf, nodes_.size());
  out.reserve(rf);
  auto h = stable_hash(placement_key);
  auto start = std::lower_bound(ring_.begin(), ring_.end(), h,
                                [](const point& p, std::uint64_t value) { return p.position < value; });
  auto first = static_cast<std::size_t>(start - ring_.begin());
  std::vector<bool> taken(nodes_.size(), false);
  for (std::size_t i = 0; i < ring_.size() && out.size() < rf; ++i) {
    const auto& p = ring_[(first + i) % ring_.size()];
    if (!taken[p.node]) {
      taken[p.node] = true;
      out.push_back(nodes_[p.node]);
    }
  }
  return out;
}

std::string hash_ring::primary_for(std::string_view placement_key) const {
  auto r = replicas_for(placement_key, 1);
  return r.empty() ? std::string{} : std::move(r.front());
}

} // namespace ferro::cluster
