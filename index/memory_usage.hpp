#pragma once

#include <cstddef>
#include <string>

namespace ferro {

/// Where a namespace's memory goes, in bytes as allocated: each heap block
/// is counted at its glibc chunk size (header and rounding included), big
/// blocks at their full size even where pages were never touched (a graph
/// that doubled holds unused slots). What a process's RSS holds beyond the
/// sum is allocator overhead (freed chunks kept in arenas, fragmentation)
/// and everything outside the index. Measured by `ferrocache-bench-memory`
/// (bench/memory_breakdown.cpp); numbers in index/README.md.
struct memory_usage {
  // HNSW graph (hnswlib 0.6.2 layout).
  std::size_t graph_vectors = 0;     ///< vectors of the nodes in use, as stored (hnsw_params::stored_type)
  std::size_t graph_level0 = 0;      ///< level-0 link lists and labels of the nodes in use
  std::size_t graph_free_slots = 0;  ///< level-0 block beyond the nodes in use (capacity doubling)
  std::size_t graph_upper_links = 0; ///< link lists of levels >= 1 (about one node in M)
  std::size_t graph_node_tables = 0; ///< per-slot levels, list pointers, locks, label map, visited list
  // Entry table.
  std::size_t entry_slots = 0;     ///< the entry_slot blocks (counters, LRU links, string headers)
  std::size_t entry_texts = 0;     ///< uuid, response and query text bytes on the heap
  std::size_t entry_index = 0;     ///< uuid hash table, node -> slot vector, backlog list
  std::size_t exact_map = 0;       ///< normalised text -> entries map (keys, lists, buckets)
  std::size_t time_orders = 0;     ///< expiry set (the created-at order lives in the slots)
  std::size_t backlog_vectors = 0; ///< vectors of entries not yet in the graph

  std::size_t total() const {
    return graph_vectors + graph_level0 + graph_free_slots + graph_upper_links + graph_node_tables +
           entry_slots + entry_texts + entry_index + exact_map + time_orders + backlog_vectors;
  }
};

namespace memory_estimate {

/// glibc malloc on 64-bit: 8 bytes of header, 16-byte granules, 32 at least;
/// blocks from 128 KiB on are mmapped whole pages.
inline std::size_t chunk(std::size_t request) {
  if (request >= (std::size_t{128} << 10))
    return (request + 8 + 4095) & ~std::size_t{4095};
  std::size_t c = (request + 8 + 15) & ~std::size_t{15};
  return c < 32 ? 32 : c;
}

/// The heap block of a std::string, 0 while it fits the inline buffer.
inline std::size_t string_heap(const std::string& s) {
  return s.capacity() > 15 ? chunk(s.capacity() + 1) : 0;
}

/// Hash table nodes of a libstdc++ unordered container (next pointer +
/// value + cached hash when the hash is not trivially cheap) and its bucket
/// array.
inline std::size_t hash_table(std::size_t size, std::size_t buckets, std::size_t node_value_bytes,
                              bool cached_hash) {
  return size * chunk(8 + node_value_bytes + (cached_hash ? 8 : 0)) + chunk(buckets * 8);
}

} // namespace memory_estimate

} // namespace ferro
