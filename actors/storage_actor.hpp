#pragma once

#include <chrono>
#include <memory>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "common/metrics.hpp"

namespace ferro {

struct storage_actor_settings {
  std::size_t batch_size = defaults::wal_batch_size;
  std::chrono::milliseconds batch_timeout{defaults::wal_batch_timeout_ms};
  node_metrics* metrics = nullptr;
  /// Production runs the actor on its own thread (fsync blocks); tests on
  /// the deterministic coordinator run it like any other actor.
  bool detached = true;
};

/// Spawns the node's storage actor, which takes ownership of the store.
storage_actor spawn_storage_actor(caf::actor_system& sys, std::shared_ptr<wal_store> store,
                                  storage_actor_settings settings);

} // namespace ferro
