#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "index/entry_slot.hpp"
#include "index/string_hash.hpp"

namespace ferro {

/// Normalised query text -> the entries inserted with it, oldest first (by
/// label). Blank texts are never added. Not synchronised.
class exact_match_map {
public:
  /// Adds s under `normalized` (ignored when empty).
  void add(std::string normalized, entry_slot* s);

  /// Removes s from under `normalized`.
  void erase(std::string_view normalized, const entry_slot* s);

  /// The most recently inserted entry with this text that is not expired at
  /// now_ms, or null.
  entry_slot* find_live(std::string_view normalized, std::int64_t now_ms) const;

  std::size_t key_count() const { return map_.size(); }
  /// Bytes as allocated: nodes (key string, entry list, cached hash), keys'
  /// and lists' heap blocks, buckets (index/memory_usage.hpp).
  std::size_t memory_bytes() const;

private:
  std::unordered_map<std::string, std::vector<entry_slot*>, string_hash, std::equal_to<>> map_;
};

} // namespace ferro
