#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ferro {

/// One cached answer as it is stored, logged and snapshotted.
struct cache_entry {
  std::string uuid;
  std::vector<float> embedding; ///< unit length (normalised on insert)
  std::string response;
  std::string query_text;         ///< as sent; normalised on demand
  std::int64_t created_at_ms = 0; ///< wall clock, ms since the epoch
  std::int64_t expires_at_ms = 0; ///< 0 = never expires
  std::uint64_t access_count = 0;
  std::int64_t last_accessed_ms = 0; ///< 0 = never accessed

  bool expired_at(std::int64_t now_ms) const { return expires_at_ms != 0 && expires_at_ms <= now_ms; }

  friend bool operator==(const cache_entry&, const cache_entry&) = default;
};

/// An entry with the HNSW label it holds in its namespace's graph; the unit
/// of snapshots (the graph file refers to entries by label).
struct labelled_entry {
  std::uint64_t label = 0;
  cache_entry entry;
};

/// Why an entry left the cache; logged with every removal.
enum class removal_reason : std::uint8_t {
  deleted = 1,
  invalidated = 2,
  expired = 3,
  evicted = 4,
};

} // namespace ferro
