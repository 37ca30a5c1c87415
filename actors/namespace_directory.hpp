#pragma once

#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "actors/actors.hpp"
#include "index/namespace_index.hpp"
#include "quality/calibration.hpp"

namespace ferro {

/// The node's map from namespace keys to their actors and published read
/// views. Thread-safe: I/O threads look up indexes here to serve queries
/// without an actor hop; writers go to the actor. Spawns actors on demand
/// through the factory it was given.
class namespace_directory {
public:
  using factory = std::function<namespace_actor(const namespace_key&)>;

  struct item {
    namespace_key key;
    namespace_actor actor;
    std::shared_ptr<namespace_index> index; ///< null until the first insert
    /// The quality model's read view; null until the actor publishes one.
    std::shared_ptr<quality::model_view> quality{};
  };

  void set_factory(factory f);

  /// The namespace's actor, spawned on first use; null after clear().
  namespace_actor actor_for(const namespace_key& key);

  /// The published read view, or null when the namespace holds no index yet.
  std::shared_ptr<namespace_index> index_of(const namespace_key& key) const;

  /// Called by a namespace actor when it creates (or replaces) its index.
  void publish_index(const namespace_key& key, std::shared_ptr<namespace_index> index);

  /// The published quality model, or null.
  std::shared_ptr<quality::model_view> quality_of(const namespace_key& key) const;
  /// Called by a namespace actor when it starts.
  void publish_quality(const namespace_key& key, std::shared_ptr<quality::model_view> view);

  /// Registers a recovered namespace.
  void add(item it);

  std::vector<item> all() const;
  std::uint64_t total_entries() const;

  /// Forgets every actor handle and the factory (shutdown).
  void clear();

private:
  mutable std::shared_mutex mtx_;
  std::map<namespace_key, item> items_;
  factory factory_;
};

} // namespace ferro
