#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/intrusive/set.hpp>

#include "common/entry.hpp"
#include "common/snapshot_entries.hpp"
#include "common/status.hpp"
#include "index/entry_slot.hpp"
#include "index/exact_match_map.hpp"
#include "index/index_types.hpp"
#include "index/lru_list.hpp"
#include "index/memory_usage.hpp"
#include "index/namespace_image.hpp"
#include "index/rw_mutex.hpp"
#include "index/slot_table.hpp"
#include "index/vector_math.hpp"

namespace ferro {

class hnsw_graph;

/// One namespace's entries: the HNSW graph over their unit embeddings, the
/// exact-match map over their normalised query texts, the entry table, and
/// the LRU and expiry orders.
///
/// Threading: reads run concurrently with each other under a shared lock
/// (a hit's access bookkeeping uses atomics and a small LRU mutex); writes
/// take the lock exclusively and are serialised among themselves.
///
/// Labels: every upsert gets a fresh graph label, one more than any label
/// the index has seen; labels are never reused and survive graph rebuilds,
/// snapshots and restores, so a larger label always means a later insert.
class namespace_index {
public:
  /// An empty index. Throws std::bad_alloc if the graph cannot be allocated.
  namespace_index(std::size_t dimension, hnsw_params params);
  ~namespace_index();
  namespace_index(const namespace_index&) = delete;
  namespace_index& operator=(const namespace_index&) = delete;

  std::size_t dimension() const { return dimension_; }
  /// Entries held (expired-but-not-yet-removed included).
  std::size_t size() const;

  // ---- reads: any thread, concurrently with each other and with a writer

  /// Step 1: if normalized_text is non-empty and a live (not expired at
  /// now_ms) entry has the same normalised query_text, a hit with similarity
  /// 1.0 and exact_match true (the most recently inserted such entry wins).
  /// Entries with blank query_text never match this way.
  /// Step 2: the nearest live entry by cosine; a hit iff similarity >=
  /// threshold. Expired entries are skipped (the search goes deeper).
  /// A hit records an access (access_count, last_accessed_ms = now_ms, most
  /// recently used). A query of the wrong dimension is a miss.
  std::optional<search_hit> lookup(std::span<const float> unit_query, std::string_view normalized_text,
                                   double threshold, std::int64_t now_ms);
  /// The same, except that `accept` sees the candidate (exact or nearest,
  /// with the entry's query_text, without its response) first; a refused candidate is no hit and
  /// records no access. Called under the index's shared lock: it must not
  /// call back into the index.
  std::optional<search_hit> lookup(std::span<const float> unit_query, std::string_view normalized_text,
                                   double threshold, std::int64_t now_ms,
                                   const std::function<bool(const search_hit&)>& accept);

  /// Exact (brute force over the stored vectors): uuids of every live entry
  /// with cosine >= threshold to the unit probe, most similar first.
  std::vector<std::string> within_radius(std::span<const float> unit_probe, double threshold,
                                         std::int64_t now_ms) const;

  bool contains(std::string_view uuid) const;
  std::optional<cache_entry> get(std::string_view uuid) const;
  index_stats stats() const;
  /// Most accessed first (ties: most recently accessed, then latest insert).
  std::vector<entry_usage> top_entries(std::size_t n) const;

  // ---- writes: one writer at a time (the namespace actor)

  /// Inserts e, replacing an entry with the same uuid. e.embedding must have
  /// dimension() finite values of unit length (the caller normalised it);
  /// access_count and last_accessed_ms are kept as given. Errors: wrong
  /// dimension or non-finite value (bad_request), graph allocation failure
  /// (internal); the index is unchanged then.
  status upsert(cache_entry e);
  /// The same as upsert() on each entry in order (one status per entry),
  /// with the graph insertions spread over `threads` threads: for replaying
  /// a log at start-up. Lookups wait while the batch is inserted.
  std::vector<status> upsert_many(std::vector<cache_entry> entries, std::size_t threads);
  /// The same as upsert_many(), except that the entries do not go into the
  /// graph yet: they wait in the backlog, where lookups and within_radius()
  /// compare against each of them directly (exact, and cheap for a few
  /// thousand), until index_backlog() links them. For recovery: a node
  /// serves as soon as its log tail is read, and the tail's HNSW inserts,
  /// the slowest part of a restart, happen while it serves.
  std::vector<status> upsert_unindexed(std::vector<cache_entry> entries);
  /// Links up to `max_entries` of the oldest backlog entries into the graph,
  /// on up to `threads` threads; lookups wait meanwhile, so callers keep
  /// the chunks small. Returns how many entries remain in the backlog. An
  /// error (internal: the graph could not grow) leaves the entries it names
  /// in the backlog, still searchable, for a later call.
  result<std::size_t> index_backlog(std::size_t max_entries, std::size_t threads);
  /// Entries waiting in the backlog.
  std::size_t backlog_size() const;
  bool remove(std::string_view uuid);
  /// uuids with expires_at_ms != 0 && <= now_ms, soonest expiry first.
  std::vector<std::string> expired(std::int64_t now_ms) const;
  /// The size() - max_entries least recently used entries, oldest first;
  /// recency is max(created_at, last access), so never-accessed entries go
  /// by created_at; equal times keep event order. Empty if size() <=
  /// max_entries.
  std::vector<std::string> lru_victims(std::size_t max_entries) const;

  // ---- snapshots (storage/ writes the entries, the index only its graph)

  /// Every entry with its graph label, in label order.
  std::vector<labelled_entry> export_entries() const;
  /// Graph and entries as of one moment, copied under one hold of the shared
  /// lock (lookups go on meanwhile; the writer waits): mostly memcpy, so it
  /// stays short even for large namespaces. Later writes are not in it.
  /// Errors (internal) only when the copy cannot be allocated.
  result<namespace_image> snapshot_image() const;
  /// Writes the graph: hnswlib's file format plus a checksum trailer, via
  /// `file.tmp` + fsync + rename.
  status save_graph(const std::filesystem::path& file) const;

  /// Where restore gets its graph: called once, after the work that needs
  /// no graph is done (recovery waits here for the thread loading it).
  using graph_source = std::function<result<std::unique_ptr<hnsw_graph>>()>;

  /// Rebuilds from a saved graph plus the exported entries (matched by
  /// label). Graph nodes without an entry are treated as deleted; entries
  /// without a graph node go to the backlog (see upsert_unindexed); of
  /// several entries with one uuid the largest label wins. Errors, never
  /// exceptions, on a missing, truncated or corrupt file, a dimension or M
  /// mismatch, duplicate labels, or an entry whose vector differs from its
  /// graph node: callers then fall back to `rebuild`. Only reads `entries`;
  /// copies their texts into the slots and an embedding only for an entry
  /// without a graph node. `timings`, if given, receives where the time went.
  static result<std::unique_ptr<namespace_index>> restore(std::size_t dimension, hnsw_params params,
                                                          const graph_source& graph,
                                                          const snapshot_entries& entries,
                                                          restore_timings* timings = nullptr);
  /// The same with the graph loaded from `graph_file`.
  static result<std::unique_ptr<namespace_index>> restore(std::size_t dimension, hnsw_params params,
                                                          const std::filesystem::path& graph_file,
                                                          const std::vector<labelled_entry>& entries);
  /// The same with a graph already loaded (hnsw_graph::load with `params`
  /// and `dimension`).
  static result<std::unique_ptr<namespace_index>> restore(std::size_t dimension, hnsw_params params,
                                                          std::unique_ptr<hnsw_graph> graph,
                                                          const std::vector<labelled_entry>& entries);

  /// Builds from entries only, inserting them into a fresh graph in label
  /// order. Labels are kept if they are distinct, otherwise every entry is
  /// relabelled 0..n-1 in (label, position) order. Of several entries with
  /// one uuid the last in that order wins; entries of the wrong dimension are
  /// skipped.
  static std::unique_ptr<namespace_index> rebuild(std::size_t dimension, hnsw_params params,
                                                  std::vector<labelled_entry> entries);

  // ---- introspection (tests, metrics)

  std::size_t graph_capacity() const;   ///< node slots allocated
  std::size_t graph_deleted() const;    ///< deleted nodes still in the graph
  std::uint64_t graph_rebuilds() const; ///< internal rebuilds so far
  const hnsw_params& params() const { return params_; }
  /// Where this namespace's memory goes (index/memory_usage.hpp); walks
  /// every entry under the shared lock, so it is for tools, not hot paths.
  memory_usage memory() const;

private:
  struct by_expiry {
    bool operator()(const entry_slot* a, const entry_slot* b) const {
      return a->expires_at_ms != b->expires_at_ms ? a->expires_at_ms < b->expires_at_ms : a->label < b->label;
    }
  };
  struct by_created {
    bool operator()(const entry_slot& a, const entry_slot& b) const {
      return a.created_at_ms < b.created_at_ms;
    }
  };
  // Intrusive: the tree's links are in the slots (entry_slot::created_hook).
  // Slots must leave it before they are freed (detach); its destructor does
  // not touch them.
  using created_order = boost::intrusive::multiset<
      entry_slot,
      boost::intrusive::member_hook<entry_slot, entry_slot::created_hook_type, &entry_slot::created_hook>,
      boost::intrusive::compare<by_created>, boost::intrusive::constant_time_size<false>>;

  namespace_index(std::size_t dimension, const hnsw_params& params, std::unique_ptr<hnsw_graph> graph);

  struct match {
    entry_slot* slot = nullptr; ///< null: none
    double similarity = 0;
  };

  status check_insertable(const cache_entry& e) const;
  /// Labels for a batch of upserts, handed out in entry order to the valid
  /// ones (out[i] holds why entries[i] is not); returns the indices that
  /// take effect: the last valid entry of each uuid, in order.
  std::vector<std::size_t> plan_upserts(const std::vector<cache_entry>& entries, std::vector<status>& out,
                                        std::vector<std::uint64_t>& labels);
  /// The nearest live graph entry at or above `threshold`, if any.
  match nearest_in_graph(std::span<const float> unit_query, double threshold, std::int64_t now_ms) const;
  /// The nearest live backlog entry at or above `threshold`, if any.
  match nearest_in_backlog(std::span<const float> unit_query, double threshold, std::int64_t now_ms) const;
  /// s's vector as float32 (decoded from the graph, or the backlog's copy).
  void copy_vector(const entry_slot& s, float* out) const;
  search_hit record_hit(entry_slot& s, double similarity, bool exact, std::int64_t now_ms);
  /// Adds s to every table, at graph node `node` or, for
  /// entry_slot::no_node, to the backlog (s->unindexed_vector holds its
  /// embedding then); bulk loads pass link_lru = false and call
  /// link_lru_sorted once at the end.
  void attach(entry_slot::ptr s, std::uint32_t node, bool link_lru = true);
  void place(entry_slot* s, std::uint32_t node);
  void link_lru_sorted();
  void detach(slot_table::iterator it);
  void maybe_rebuild_graph();
  std::vector<entry_slot*> slots_by_label() const;
  /// Without embeddings, entries carry empty vectors and `nodes` (if given)
  /// receives each entry's graph node.
  std::vector<labelled_entry> export_entries_locked(bool with_embeddings = true,
                                                    std::vector<std::uint32_t>* nodes = nullptr) const;

  const std::size_t dimension_;
  const hnsw_params params_;

  mutable rw_mutex mutex_; ///< everything below except where noted; writer-preferring
  std::mutex write_mutex_; ///< serialises writers across a graph rebuild
  std::unique_ptr<hnsw_graph> graph_;
  slot_table by_uuid_;               ///< owns the slots, keyed by their uuid
  std::vector<entry_slot*> by_node_; ///< graph node -> live slot, null if deleted
  std::vector<entry_slot*> backlog_; ///< live slots without a graph node, in label order
  exact_match_map exact_;
  std::set<const entry_slot*, by_expiry> expiry_; ///< slots with a TTL
  created_order created_;                         ///< every slot, by created_at (stats' oldest and newest)
  std::uint64_t next_label_ = 0;
  std::uint64_t graph_rebuilds_ = 0;

  mutable std::mutex lru_mutex_;
  lru_list<entry_slot> lru_; ///< guarded by lru_mutex_

  std::atomic<std::uint64_t> total_accesses_{0};
};

} // namespace ferro
