#include "index/exact_match_map.hpp"

#include <algorithm>

#include "index/memory_usage.hpp"

namespace ferro {

void exact_match_map::add(std::string normalized, entry_slot* s) {
  if (normalized.empty())
    return;
  auto& slots = map_[std::move(normalized)];
  // Labels grow with insertion, so this is an append except when a restore
  // adds entries out of order.
  auto pos = std::upper_bound(slots.begin(), slots.end(), s->label,
                              [](std::uint64_t label, const entry_slot* x) { return label < x->label; });
  slots.insert(pos, s);
}

void exact_match_map::erase(std::string_view normalized, const entry_slot* s) {
  auto it = map_.find(normalized);
  if (it == map_.end())
    return;
  auto& slots = it->second;
  slots.erase(std::remove(slots.begin(), slots.end(), s), slots.end());
  if (slots.empty())
    map_.erase(it);
}

entry_slot* exact_match_map::find_live(std::string_view normalized, std::int64_t now_ms) const {
  if (normalized.empty())
    return nullptr;
  auto it = map_.find(normalized);
  if (it == map_.end())
    return nullptr;
  for (auto s = it->second.rbegin(); s != it->second.rend(); ++s)
    if (!(*s)->expired_at(now_ms))
      return *s;
  return nullptr;
}

std::size_t exact_match_map::memory_bytes() const {
  namespace est = memory_estimate;
  // string_hash is not a trivial hash: libstdc++ caches it in each node.
  std::size_t bytes = est::hash_table(map_.size(), map_.bucket_count(),
                                      sizeof(std::pair<const std::string, std::vector<entry_slot*>>), true);
  for (const auto& [key, list] : map_)
    bytes +=
        est::string_heap(key) + (list.capacity() ? est::chunk(list.capacity() * sizeof(entry_slot*)) : 0);
  return bytes;
}

} // namespace ferro
