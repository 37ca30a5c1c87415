#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cluster/placement.hpp"
#include "common/namespace_key.hpp"
#include "service/messages.hpp"

namespace ferro::cluster {

/// One namespace's line on the board.
struct board_entry {
  std::string name;              ///< display name (the status is keyed by it)
  namespace_cluster_state shown; ///< `serving` is filled in when read (it depends on the lease)
  bool serves = false;           ///< its role lets this copy answer reads (lease aside)
  bool behind = false;           ///< a copy held here that does not serve (a read asks for repair)
  bool leads = false;            ///< this node leads it and is ready
  bool under_replicated = false; ///< led here with fewer in-sync copies than wanted
};

/// What the cluster actor publishes for the I/O threads: the status that
/// /cluster/status and /metrics show, and which namespaces this node may
/// answer queries for from its own copy (it is their primary, or a replica
/// its primary declared in sync). Written by the actor only.
///
/// A namespace's line is replaced on its own when that namespace changes
/// (publish_entry), so an event that concerns one namespace costs the
/// actor one line, not the whole board: at 2,000 namespaces rebuilding
/// every line on every event kept the actor too busy to send its
/// heartbeats on time (docs/benchmarks.md, "Cluster").
class cluster_board {
public:
  /// Everything: the node-wide part (members, counters; its `namespaces`
  /// is ignored), the read lease and the lines of `entries`, in one step.
  /// `lease_until_ms` (the actor's clock): after it, no copy here is served
  /// until the actor publishes again (see read_lease_until).
  void publish_all(cluster_status_reply header, std::int64_t lease_until_ms,
                   std::vector<std::pair<namespace_key, board_entry>> entries) {
    header.namespaces.clear();
    std::lock_guard lock{mtx_};
    header_ = std::move(header);
    lease_until_ms_ = lease_until_ms;
    for (auto& [key, e] : entries)
      entries_[key] = std::move(e);
  }
  void publish_lease(std::int64_t lease_until_ms) {
    std::lock_guard lock{mtx_};
    lease_until_ms_ = lease_until_ms;
  }
  void publish_entry(const namespace_key& key, board_entry entry) {
    std::lock_guard lock{mtx_};
    entries_[key] = std::move(entry);
  }
  bool behind(const namespace_key& key) const {
    std::lock_guard lock{mtx_};
    auto it = entries_.find(key);
    return it != entries_.end() && it->second.behind;
  }
  /// Assembled when asked (a status page, a metrics scrape): the per-line
  /// flags are counted here, not on every event.
  cluster_status_reply status() const {
    auto now = now_ms();
    std::lock_guard lock{mtx_};
    auto out = header_;
    out.read_lease = now < lease_until_ms_;
    for (const auto& [key, e] : entries_) {
      auto& line = out.namespaces[e.name];
      line = e.shown;
      line.serving = out.read_lease && e.serves;
      out.primary_namespaces += e.leads ? 1 : 0;
      out.under_replicated_namespaces += e.under_replicated ? 1 : 0;
    }
    out.replication_timeouts_total = replication_timeouts.load(std::memory_order_relaxed);
    out.failovers_total = failovers.load(std::memory_order_relaxed);
    return out;
  }
  bool servable(const namespace_key& key) const {
    auto now = now_ms();
    std::lock_guard lock{mtx_};
    if (now >= lease_until_ms_)
      return false;
    auto it = entries_.find(key);
    return it != entries_.end() && it->second.serves;
  }

  /// The ring the actor routes by (every node it knows, itself included;
  /// the actor's own, shared: it is immutable) and the peers it holds alive.
  void publish_ring(std::shared_ptr<const hash_ring> ring, std::set<std::string> alive_peers) {
    std::lock_guard lock{mtx_};
    ring_ = std::move(ring);
    alive_peers_ = std::move(alive_peers);
  }
  /// The live peers that may answer a read of `key`, in the order the actor
  /// would ask them (ring order; never this node).
  std::vector<std::string> readers_for(const namespace_key& key) const {
    std::shared_ptr<const hash_ring> ring;
    std::set<std::string> alive;
    {
      std::lock_guard lock{mtx_};
      ring = ring_;
      alive = alive_peers_;
    }
    std::vector<std::string> out;
    if (!ring)
      return out;
    for (auto& id : ring->replicas_for(placement_key(key), ring->nodes().size()))
      if (alive.count(id) > 0)
        out.push_back(id);
    return out;
  }

  /// The actor clock in ms, when it is not steady_clock (a simulation's
  /// virtual time); set before the cluster actor starts.
  std::function<std::int64_t()> clock;
  std::atomic<std::uint64_t> replication_timeouts{0};
  std::atomic<std::uint64_t> failovers{0};

private:
  std::int64_t now_ms() const {
    return clock ? clock()
                 : std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  }

  mutable std::mutex mtx_;
  cluster_status_reply header_;
  std::map<namespace_key, board_entry> entries_;
  std::int64_t lease_until_ms_ = 0;
  std::shared_ptr<const hash_ring> ring_;
  std::set<std::string> alive_peers_;
};

} // namespace ferro::cluster
