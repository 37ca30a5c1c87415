#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/entry.hpp"
#include "common/namespace_key.hpp"
#include "common/status.hpp"
#include "common/log_record.hpp"

/// Byte layouts of everything the store keeps in LMDB (docs/formats.md).
/// Decoders never throw: bad bytes give an error value.
namespace ferro::storage::codec {

/// Version byte of every sealed LMDB value.
constexpr std::uint8_t value_format_v1 = 1;
/// Bytes of the seal header: version (1) + CRC-32C (4, big-endian).
constexpr std::size_t seal_header_bytes = 5;

/// Wraps a payload for LMDB: [version][crc32c(key ‖ payload)][payload]. The
/// key is covered so that a value that ends up under another key (a
/// misdirected write) does not verify either.
std::string seal(std::string_view key, std::string_view payload);
/// The payload of a sealed value, or why it does not verify.
result<std::string_view> unseal(std::string_view key, std::string_view value);

// Keys. Integers are big-endian so that LMDB's byte order is numeric order.
std::string u64_key(std::uint64_t v);
bool parse_u64_key(std::string_view key, std::uint64_t& out);
/// WAL key: namespace id then ns_seq, 16 bytes.
std::string wal_key(std::uint64_t ns_id, std::uint64_t ns_seq);
bool parse_wal_key(std::string_view key, std::uint64_t& ns_id, std::uint64_t& ns_seq);

/// A u64 meta value (msgpack positive integer).
std::string encode_u64(std::uint64_t v);
result<std::uint64_t> decode_u64(std::string_view payload);

/// WAL payload: op and body; the namespace and ns_seq live in the key.
std::string encode_wal_payload(const log_record& rec);
/// A placeholder for a record whose batch failed after its commit (the
/// final fsync): keeps the namespace's sequence dense, applies nothing.
std::string encode_void_payload();
/// Fills op, entry / uuid + reason; leaves ns and ns_seq alone. Sets
/// `is_void` (and fills nothing) for a void placeholder.
status decode_wal_payload(std::string_view payload, log_record& out, bool& is_void);

/// Per-namespace bookkeeping (`namespaces` DB).
struct namespace_meta {
  namespace_key key;
  std::uint64_t dimension = 0;
  /// ns_seq before this incarnation's first record (see wal_store.cpp).
  std::uint64_t base_ns_seq = 0;
  std::uint64_t last_ns_seq = 0;
};
std::string encode_namespace(const namespace_meta& m);
result<namespace_meta> decode_namespace(std::string_view payload);

/// The published snapshot of one namespace (`snapshots` DB).
struct snapshot_manifest {
  std::string dir_name;
  std::uint64_t generation = 0;
  std::uint64_t covered_ns_seq = 0;
  std::uint64_t dimension = 0;
  std::uint64_t entry_count = 0;
  std::uint64_t entries_bytes = 0;
  std::uint32_t entries_crc = 0;
  bool has_graph = false;
  std::uint64_t graph_bytes = 0;
  std::uint32_t graph_crc = 0;
  /// The namespace's feedback counts (quality::feedback_counts::serialize),
  /// empty when it has none; absent from manifests written before F2.
  std::string quality_state{};
  /// Cluster lineage of the state the snapshot holds (format note F4;
  /// absent before it: epoch 0, whole): the epoch of its newest record (0:
  /// unknown), and whether the copy was whole (not a rebuild under way).
  std::uint64_t epoch = 0;
  bool whole = true;
  /// Where the copy's own lineage began, if it led with a log of unknown
  /// lineage (0: none).
  std::uint64_t lineage_from = 0;
};
std::string encode_manifest(const snapshot_manifest& m);
result<snapshot_manifest> decode_manifest(std::string_view payload);

} // namespace ferro::storage::codec
