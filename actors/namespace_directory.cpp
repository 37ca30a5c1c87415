#include "actors/namespace_directory.hpp"

#include <mutex>

#include "common/planted_bug.hpp"

namespace ferro {

namespace {

// The key a namespace is filed under: itself, except under the simulator's
// planted `ignore-scope` bug, where the tenants of a model share one.
namespace_key filed_under(const namespace_key& key) {
  if (!planted(planted_bug::ignore_scope))
    return key;
  auto shared = key;
  shared.cache_scope.clear();
  return shared;
}

} // namespace

void namespace_directory::set_factory(factory f) {
  std::unique_lock lock{mtx_};
  factory_ = std::move(f);
}

namespace_actor namespace_directory::actor_for(const namespace_key& asked) {
  auto key = filed_under(asked);
  {
    std::shared_lock lock{mtx_};
    if (auto i = items_.find(key); i != items_.end())
      return i->second.actor;
  }
  std::unique_lock lock{mtx_};
  // Re-check: another thread may have spawned it between the two locks.
  if (auto i = items_.find(key); i != items_.end())
    return i->second.actor;
  if (!factory_)
    return {}; // shutting down
  auto actor = factory_(key);
  items_.emplace(key, item{key, actor, nullptr});
  return actor;
}

std::shared_ptr<namespace_index> namespace_directory::index_of(const namespace_key& asked) const {
  auto key = filed_under(asked);
  std::shared_lock lock{mtx_};
  auto i = items_.find(key);
  return i == items_.end() ? nullptr : i->second.index;
}

void namespace_directory::publish_index(const namespace_key& asked, std::shared_ptr<namespace_index> index) {
  auto key = filed_under(asked);
  std::unique_lock lock{mtx_};
  items_[key].key = key;
  items_[key].index = std::move(index);
}

void namespace_directory::add(item it) {
  std::unique_lock lock{mtx_};
  auto key = it.key;
  // The actor may have published its quality view already.
  if (!it.quality)
    if (auto i = items_.find(key); i != items_.end())
      it.quality = i->second.quality;
  items_[key] = std::move(it);
}

std::shared_ptr<quality::model_view> namespace_directory::quality_of(const namespace_key& key) const {
  std::shared_lock lock{mtx_};
  auto i = items_.find(key);
  return i == items_.end() ? nullptr : i->second.quality;
}

void namespace_directory::publish_quality(const namespace_key& key,
                                          std::shared_ptr<quality::model_view> view) {
  std::unique_lock lock{mtx_};
  items_[key].key = key;
  items_[key].quality = std::move(view);
}

void namespace_directory::publish_feedback(const namespace_key& key, const quality::feedback_counts& counts,
                                           const quality::model_params& params) {
  if (!pool_by_model_)
    return;
  std::lock_guard update{pool_update_mtx_};
  if (counts.total() == 0) {
    // Most namespaces never get feedback: keep them out of the pool (and do
    // not refit for each of them at start-up).
    if (pool_counts_.erase(key) == 0)
      return;
  } else {
    pool_counts_[key] = counts;
  }
  // Every namespace of the model, conversations included: the map is ordered
  // by model_id first, so they are one range.
  quality::feedback_counts sum;
  for (auto i = pool_counts_.lower_bound(namespace_key{key.model_id, {}, {}});
       i != pool_counts_.end() && i->first.model_id == key.model_id; ++i)
    sum.merge(i->second);
  auto fit = sum.fit(params);
  std::shared_ptr<quality::model_view> view;
  {
    std::unique_lock lock{pool_views_mtx_};
    auto& v = pool_views_[key.model_id];
    if (!v)
      v = std::make_shared<quality::model_view>();
    view = v;
  }
  view->publish(std::move(fit));
}

std::shared_ptr<quality::model_view> namespace_directory::decision_model_of(const namespace_key& key) const {
  if (!pool_by_model_)
    return quality_of(key);
  std::shared_lock lock{pool_views_mtx_};
  auto i = pool_views_.find(key.model_id);
  return i == pool_views_.end() ? nullptr : i->second;
}

std::vector<namespace_directory::item> namespace_directory::all() const {
  std::shared_lock lock{mtx_};
  std::vector<item> out;
  out.reserve(items_.size());
  for (auto& [_, it] : items_)
    out.push_back(it);
  return out;
}

bool namespace_directory::has(const namespace_key& key) const {
  std::shared_lock lock{mtx_};
  return items_.find(key) != items_.end();
}

std::uint64_t namespace_directory::total_entries() const {
  std::shared_lock lock{mtx_};
  std::uint64_t n = 0;
  for (auto& [_, it] : items_)
    if (it.index)
      n += it.index->size();
  return n;
}

void namespace_directory::clear() {
  std::unique_lock lock{mtx_};
  items_.clear();
  // The factory holds a handle to the storage actor; a detached actor's
  // thread is only joined once every handle is gone.
  factory_ = nullptr;
}

} // namespace ferro
