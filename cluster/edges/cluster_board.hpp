#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cluster/placement.hpp"
#include "common/namespace_key.hpp"
#include "service/messages.hpp"

namespace ferro::cluster {

/// What the cluster actor publishes for the I/O threads: the status that
/// /cluster/status and /metrics show, and which namespaces this node may
/// answer queries for from its own copy (it is their primary, or a replica
/// its primary declared in sync). Written by the actor only.
class cluster_board {
public:
  /// `lease_until_ms` (steady clock): after it, no copy here is served
  /// until the actor publishes again (see read_lease_until).
  /// `behind`: copies held here that do not serve (a read of one asks the
  /// leader to catch it up: read repair).
  void publish(cluster_status_reply status, std::set<namespace_key> servable, std::int64_t lease_until_ms,
               std::set<namespace_key> behind = {}) {
    std::lock_guard lock{mtx_};
    status_ = std::move(status);
    servable_ = std::move(servable);
    lease_until_ms_ = lease_until_ms;
    behind_ = std::move(behind);
  }
  bool behind(const namespace_key& key) const {
    std::lock_guard lock{mtx_};
    return behind_.count(key) > 0;
  }
  cluster_status_reply status() const {
    std::lock_guard lock{mtx_};
    auto out = status_;
    out.replication_timeouts_total = replication_timeouts.load(std::memory_order_relaxed);
    out.failovers_total = failovers.load(std::memory_order_relaxed);
    return out;
  }
  bool servable(const namespace_key& key) const {
    auto now = clock ? clock()
                     : std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count();
    std::lock_guard lock{mtx_};
    return now < lease_until_ms_ && servable_.count(key) > 0;
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
  mutable std::mutex mtx_;
  cluster_status_reply status_;
  std::set<namespace_key> servable_;
  std::set<namespace_key> behind_;
  std::int64_t lease_until_ms_ = 0;
  std::shared_ptr<const hash_ring> ring_;
  std::set<std::string> alive_peers_;
};

} // namespace ferro::cluster
