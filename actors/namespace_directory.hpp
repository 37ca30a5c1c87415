#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
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

  /// `quality.pool_feedback = "model"`: queries are decided by one model fit
  /// to the feedback of every namespace of their model_id on this node
  /// (docs/quality.md, "Pooling"). Set once, before any namespace starts.
  void set_feedback_pooling(bool by_model) { pool_by_model_ = by_model; }
  bool feedback_pooling() const { return pool_by_model_; }

  /// Called by a namespace actor after its feedback counts changed (and at
  /// start). With pooling, refits its model_id's pool; otherwise a no-op.
  void publish_feedback(const namespace_key& key, const quality::feedback_counts& counts,
                        const quality::model_params& params);

  /// The model that decides `max_error_rate` queries in this namespace: the
  /// pool of its model_id with pooling, its own otherwise; null when none.
  std::shared_ptr<quality::model_view> decision_model_of(const namespace_key& key) const;

  /// Registers a recovered namespace.
  void add(item it);

  std::vector<item> all() const;
  /// Whether `key` itself (not the key it is filed under) has an item: one
  /// lookup, where all() copies every item.
  bool has(const namespace_key& key) const;
  std::uint64_t total_entries() const;

  /// Forgets every actor handle and the factory (shutdown).
  void clear();

private:
  mutable std::shared_mutex mtx_;
  std::map<namespace_key, item> items_;
  factory factory_;

  bool pool_by_model_ = false;
  /// Serialises pool refits, so that the last one published has seen every
  /// namespace's latest counts; guards pool_counts_.
  std::mutex pool_update_mtx_;
  std::map<namespace_key, quality::feedback_counts> pool_counts_;
  /// Guards pool_views_ only (held briefly by the query threads).
  mutable std::shared_mutex pool_views_mtx_;
  std::map<std::string, std::shared_ptr<quality::model_view>> pool_views_;
};

} // namespace ferro
