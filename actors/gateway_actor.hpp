#pragma once

#include <chrono>

#include <caf/fwd.hpp>

#include "actors/actors.hpp"
#include "common/metrics.hpp"

namespace ferro {

class namespace_directory;

struct gateway_settings {
  std::size_t max_in_flight = defaults::max_pending_writes; ///< beyond: 429
  std::chrono::milliseconds request_timeout{defaults::request_timeout_ms};
  node_metrics* metrics = nullptr;
};

gateway_actor spawn_gateway_actor(caf::actor_system& sys, namespace_directory* directory,
                                  storage_actor storage, gateway_settings settings);

} // namespace ferro
