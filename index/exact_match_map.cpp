#include "index/exact_match_map.hpp"

#include <functional>

#include "common/namespace_key.hpp"
#include "index/memory_usage.hpp"

namespace ferro {

namespace {

/// Whether normalize_text(raw) == normalized, without building the string.
bool normalizes_to(std::string_view raw, std::string_view normalized) {
  // Normalising never lengthens a text.
  return raw.size() >= normalized.size() && normalize_text(raw) == normalized;
}

} // namespace

std::uint64_t exact_match_map::hash(std::string_view normalized) {
  return std::hash<std::string_view>{}(normalized);
}

void exact_match_map::add(std::string_view normalized, entry_slot* s) {
  if (normalized.empty())
    return;
  auto& head = map_[hash(normalized)];
  // Newest first. Labels grow with insertion, so this is a push at the head
  // except when a restore adds entries out of order.
  entry_slot** at = &head;
  while (*at && (*at)->label > s->label)
    at = &(*at)->exact_next;
  s->exact_next = *at;
  *at = s;
}

void exact_match_map::erase(std::string_view normalized, entry_slot* s) {
  if (normalized.empty())
    return;
  auto it = map_.find(hash(normalized));
  if (it == map_.end())
    return;
  for (entry_slot** at = &it->second; *at; at = &(*at)->exact_next)
    if (*at == s) {
      *at = s->exact_next;
      s->exact_next = nullptr;
      break;
    }
  if (!it->second)
    map_.erase(it);
}

entry_slot* exact_match_map::find_live(std::string_view normalized, std::int64_t now_ms) const {
  if (normalized.empty())
    return nullptr;
  auto it = map_.find(hash(normalized));
  if (it == map_.end())
    return nullptr;
  for (entry_slot* s = it->second; s; s = s->exact_next)
    if (!s->expired_at(now_ms) && normalizes_to(s->query_text(), normalized))
      return s;
  return nullptr;
}

std::size_t exact_match_map::memory_bytes() const {
  // std::hash<uint64_t> is trivial: libstdc++ caches no hash in the nodes.
  return memory_estimate::hash_table(map_.size(), map_.bucket_count(),
                                     sizeof(std::pair<const std::uint64_t, entry_slot*>), false);
}

} // namespace ferro
