#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/entry.hpp"
#include "common/namespace_key.hpp"
#include "common/snapshot_entries.hpp"
#include "common/status.hpp"

/// The entries file of a snapshot (docs/formats.md, "Snapshot entries file").
namespace ferro::storage {

constexpr const char* entries_file_name = "entries.msgpack";
constexpr const char* graph_file_name = "graph.hnsw";

struct entries_file_info {
  std::uint64_t bytes = 0; ///< whole file
  std::uint32_t crc = 0;   ///< CRC-32C of the payload (also in the header)
};

/// Where entries' embeddings come from when the entries do not carry them:
/// the embedding of entries[i]. A snapshot image keeps embeddings only in its
/// graph copy, which saves a second copy of every vector.
using embedding_source = std::function<std::span<const float>(std::size_t i)>;

/// Writes and fsyncs the entries file. Streams the payload, so memory stays
/// bounded by one chunk whatever the number of entries. With `embedding_of`,
/// embeddings come from it instead of the entries.
result<entries_file_info> write_entries_file(const std::filesystem::path& file, const namespace_key& ns,
                                             std::uint64_t dimension, std::uint64_t covered_ns_seq,
                                             const std::vector<labelled_entry>& entries,
                                             const embedding_source& embedding_of = {});

struct entries_file_contents {
  namespace_key ns;
  std::uint64_t dimension = 0;
  std::uint64_t covered_ns_seq = 0;
  /// Point into the file's bytes, which they keep alive (mapped).
  snapshot_entries entries;
  entries_file_info info;
};

/// Reads and fully verifies an entries file: magic, version, header checksum,
/// length (truncation), payload checksum, every entry's shape and dimension.
/// The file stays mapped while the returned entries live.
result<entries_file_contents> read_entries_file(const std::filesystem::path& file);

/// The checks of read_entries_file on bytes already read from `file` (named
/// in errors): recovery reads through the fault seam (io_faults::after_read).
/// `owner` keeps `bytes` alive; the entries point into them.
result<entries_file_contents> parse_entries_file(const std::filesystem::path& file, std::string_view bytes,
                                                 std::shared_ptr<const void> owner);

} // namespace ferro::storage
