#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace ferro {

/// One entry as the index holds it. Its vector lives only in the graph (at
/// `node`), so each embedding is stored once; an entry still waiting for its
/// graph node (the index's backlog, see namespace_index::index_backlog)
/// holds it in `unindexed_vector` instead.
///
/// Immutable while in the tables, except: `node` (changed under the
/// exclusive lock when the graph is rebuilt), the access counters (atomics,
/// bumped by readers), and the LRU links (guarded by the LRU mutex).
struct entry_slot {
  static constexpr std::uint32_t no_node = std::numeric_limits<std::uint32_t>::max();

  std::uint64_t label = 0;             ///< never reused; larger = inserted later
  std::uint32_t node = no_node;        ///< graph node id; no_node while in the backlog
  std::vector<float> unindexed_vector; ///< the embedding while node == no_node
  std::string uuid;
  std::string response;
  std::string query_text; ///< as sent
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0; ///< 0 = never

  std::atomic<std::uint64_t> access_count{0};
  std::atomic<std::int64_t> last_accessed_ms{0};

  // LRU list links: see lru_list.
  entry_slot* lru_prev = nullptr;
  entry_slot* lru_next = nullptr;
  std::int64_t lru_key = 0; ///< max(created_at_ms, last_accessed_ms)

  bool indexed() const { return node != no_node; }
  bool expired_at(std::int64_t now_ms) const { return expires_at_ms != 0 && expires_at_ms <= now_ms; }

  /// Raises last_accessed_ms to at least now_ms (concurrent hits may arrive
  /// out of order) and returns the value it holds afterwards.
  std::int64_t touch(std::int64_t now_ms) {
    auto seen = last_accessed_ms.load(std::memory_order_relaxed);
    while (seen < now_ms && !last_accessed_ms.compare_exchange_weak(seen, now_ms, std::memory_order_relaxed))
      ;
    return seen < now_ms ? now_ms : seen;
  }
};

} // namespace ferro
