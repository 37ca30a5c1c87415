#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>

#include "index/entry_slot.hpp"

namespace ferro {

/// Normalised query text -> the entries inserted with it, newest first (by
/// label). Blank texts are never added. Not synchronised.
///
/// Keyed by a 64-bit hash of the normalised text, not by a copy of it: the
/// entries themselves hold their texts, so a lookup checks each candidate's
/// text (entries whose texts share a hash share a chain). The chain runs
/// through `entry_slot::exact_next`: a map node per distinct text and no
/// per-entry allocation.
class exact_match_map {
public:
  /// Adds s under `normalized` (ignored when empty), which must be
  /// normalize_text(s->query_text()).
  void add(std::string_view normalized, entry_slot* s);

  /// Removes s from under `normalized` (normalize_text(s->query_text())).
  void erase(std::string_view normalized, entry_slot* s);

  /// The most recently inserted entry with this normalised text that is not
  /// expired at now_ms, or null.
  entry_slot* find_live(std::string_view normalized, std::int64_t now_ms) const;

  /// Room for n distinct texts without rehashing (a restore knows n).
  void reserve(std::size_t n) { map_.reserve(n); }
  std::size_t key_count() const { return map_.size(); }
  /// Bytes as allocated: nodes and buckets (index/memory_usage.hpp); the
  /// chain links are in the entry slots.
  std::size_t memory_bytes() const;

private:
  static std::uint64_t hash(std::string_view normalized);
  std::unordered_map<std::uint64_t, entry_slot*> map_; ///< chain head: the newest entry
};

} // namespace ferro
