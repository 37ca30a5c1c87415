#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>

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
  void publish(cluster_status_reply status, std::set<namespace_key> servable, std::int64_t lease_until_ms) {
    std::lock_guard lock{mtx_};
    status_ = std::move(status);
    servable_ = std::move(servable);
    lease_until_ms_ = lease_until_ms;
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

  /// The actor clock in ms, when it is not steady_clock (a simulation's
  /// virtual time); set before the cluster actor starts.
  std::function<std::int64_t()> clock;
  std::atomic<std::uint64_t> replication_timeouts{0};
  std::atomic<std::uint64_t> failovers{0};

private:
  mutable std::mutex mtx_;
  cluster_status_reply status_;
  std::set<namespace_key> servable_;
  std::int64_t lease_until_ms_ = 0;
};

} // namespace ferro::cluster
