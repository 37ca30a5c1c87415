#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/defaults.hpp"
#include "index/vector_type.hpp"

namespace ferro {

/// Tuning of one namespace's HNSW graph (API.md, "Configuration").
struct hnsw_params {
  std::size_t max_nb_connection = defaults::hnsw_max_nb_connection; ///< M
  std::size_t ef_construction = defaults::hnsw_ef_construction;
  std::size_t ef_search = defaults::hnsw_ef_search;
  std::size_t initial_capacity = defaults::hnsw_initial_capacity; ///< graph slots; grows by doubling
  std::uint64_t seed = defaults::hnsw_seed;
  /// The graph is rebuilt from its live nodes once deleted slots outnumber
  /// live ones and reach this count (small graphs are not worth it).
  std::size_t min_deleted_for_rebuild = 1024;
  /// How the graph stores vectors (`hnsw.vector_type`); queries, entries and
  /// the log stay float32.
  vector_type stored_type = vector_type::float32;
};

/// The answer to a query.
struct search_hit {
  std::string uuid;
  std::string response;
  double similarity = 0;
  bool exact_match = false;
  std::string query_text{}; ///< the entry's query_text, as inserted
};

/// Where a restore's time went (seconds), for recovery's log line: the
/// work before it asked for the graph (slots and tables, overlapping the
/// graph's load on another thread), waiting for the graph, and matching the
/// entries with its nodes plus the rest after it.
struct restore_timings {
  double before_graph = 0;
  double graph_wait = 0;
  double after_graph = 0;
};

/// Per-namespace figures for /stats.
struct index_stats {
  std::uint64_t entry_count = 0;
  std::size_t dimension = 0;
  std::int64_t oldest_entry_ms = 0; ///< smallest created_at; 0 when empty
  std::int64_t newest_entry_ms = 0; ///< largest created_at; 0 when empty
  std::uint64_t total_accesses = 0;
};

/// One row of /admin/entry-stats.
struct entry_usage {
  std::string uuid;
  std::uint64_t access_count = 0;
  std::int64_t last_accessed_ms = 0;
  std::string query_text;
};

} // namespace ferro
