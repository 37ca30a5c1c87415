#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "common/entry.hpp"

namespace ferro {

/// One entry of a snapshot, read in place: its texts and embedding point
/// into bytes that a snapshot_entries keeps alive (the mapped entries file).
/// Restoring 1M x 384 entries copied every embedding into a fresh 1.5 KB
/// heap block only to compare it with the graph's copy and free it again:
/// 1.5 GB of page zeroing, copying and malloc at the peak of a restart.
/// Now an entry's bytes are copied once, into its index slot, and its
/// embedding only when the index has no graph node for it.
struct entry_ref {
  std::uint64_t label = 0;
  std::string_view uuid;
  std::string_view response;
  std::string_view query_text;
  /// `embedding_values` float32 values in the host's byte order, not
  /// necessarily aligned for float: read them with copy_embedding.
  const void* embedding = nullptr;
  std::uint32_t embedding_values = 0;
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;
  std::uint64_t access_count = 0;
  std::int64_t last_accessed_ms = 0;
};

/// Copies e's embedding (e.embedding_values floats) to `out`.
void copy_embedding(const entry_ref& e, float* out);
/// e as an entry with its own copies of everything (embedding included).
labelled_entry to_labelled_entry(const entry_ref& e);

/// A snapshot's entries as read from its file: entry_refs plus the bytes
/// they point into. Movable; copies share the bytes. Read-only after
/// construction.
class snapshot_entries {
public:
  snapshot_entries() = default;
  /// `refs` point into memory that `owner` keeps alive.
  snapshot_entries(std::shared_ptr<const void> owner, std::vector<entry_ref> refs)
      : owner_(std::move(owner)), refs_(std::move(refs)) {}
  /// Refs into `entries`, which the caller keeps alive and unchanged while
  /// the result is used (restoring from entries held in memory, tests).
  static snapshot_entries borrow(const std::vector<labelled_entry>& entries);

  std::size_t size() const { return refs_.size(); }
  bool empty() const { return refs_.empty(); }
  const entry_ref& operator[](std::size_t i) const { return refs_[i]; }
  auto begin() const { return refs_.begin(); }
  auto end() const { return refs_.end(); }
  /// Forgets the entries and releases the bytes (unmaps the file).
  void clear() {
    refs_.clear();
    refs_.shrink_to_fit();
    owner_.reset();
  }
  /// Every entry with its own copies: for a rebuild of the graph.
  std::vector<labelled_entry> copy_all() const;

private:
  std::shared_ptr<const void> owner_;
  std::vector<entry_ref> refs_;
};

} // namespace ferro
