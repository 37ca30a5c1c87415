#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/defaults.hpp"
#include "common/entry.hpp"
#include "common/namespace_key.hpp"
#include "common/status.hpp"
#include "storage/file_io.hpp"
#include "storage/io_faults.hpp"
#include "storage/lmdb_env.hpp"
#include "storage/record_codec.hpp"
#include "storage/snapshot_files.hpp"
#include "common/log_record.hpp"

namespace ferro {

/// How a commit is made durable (docs/formats.md, "Durability").
enum class sync_mode {
  /// LMDB fsyncs the data pages inside the commit, then the store fsyncs the
  /// meta page (through io_faults::before_sync). Two fsyncs per commit;
  /// survives process crashes and power loss; a failed final fsync leaves
  /// the store consistent and writable.
  ordered,
  /// MDB_NOSYNC plus one fsync per commit through the seam. Survives process
  /// crashes (kill -9); a power loss while that fsync runs can corrupt the
  /// whole environment (LMDB may find the new meta page on disk before the
  /// pages it points to). A failed fsync refuses further writes until the
  /// store is reopened, because later commits could build on lost pages.
  single,
};

struct storage_options {
  std::filesystem::path data_dir;
  /// Initial LMDB map size; doubles on MDB_MAP_FULL up to max_map_size_bytes.
  std::size_t map_size_bytes = defaults::lmdb_map_size_bytes;
  std::size_t max_map_size_bytes = std::size_t{1} << 40;
  sync_mode sync = sync_mode::ordered;
  /// Optional seam for disk-fault tests.
  std::shared_ptr<io_faults> faults;
};

/// Counters for metrics and benchmarks.
struct storage_stats {
  std::uint64_t commits = 0;     ///< LMDB write transactions committed
  std::uint64_t syncs = 0;       ///< explicit fsyncs of the environment
  std::uint64_t map_resizes = 0; ///< MDB_MAP_FULL growths
  std::size_t map_size = 0;
};

/// A snapshot whose files are written and fsynced in its temp dir but not
/// published yet (wal_store::write_snapshot_files -> publish_snapshot).
struct prepared_snapshot {
  namespace_key ns;
  std::filesystem::path tmp_dir;
  std::uint64_t covered_ns_seq = 0;
  std::uint64_t dimension = 0;
  std::uint64_t entry_count = 0;
  storage::entries_file_info entries;
  std::optional<storage::file_digest> graph; ///< absent: no graph file
  std::string quality_state;                 ///< feedback counts, opaque here (manifest)
  std::uint64_t epoch = 0;                   ///< lineage of the state (manifest, F4)
  bool whole = true;
  std::uint64_t lineage_from = 0;
};

/// The node's write-ahead log, per-namespace sequence numbers and snapshot
/// manifest, in one LMDB environment under `data_dir`.
///
/// Threading: LMDB allows one writer. Every member function except
/// wal_sequence() and write_snapshot_files() is called from one thread at a
/// time (the storage actor, which should be detached: append() blocks on
/// fsync). Call recover() once
/// after open() and before the first write.
class wal_store {
public:
  /// Opens or creates the store; takes an exclusive lock on data_dir (a
  /// second open, from this or another process, fails while it is held);
  /// removes temp and orphaned snapshot dirs left by a crash.
  static result<std::unique_ptr<wal_store>> open(storage_options opts);
  ~wal_store();

  /// Durably appends the whole batch: one write transaction, one commit, one
  /// durable sync. Assigns ns_seq and writes it back into the records.
  /// All or nothing: on error nothing of the batch is acknowledged. When the
  /// commit itself fails, nothing was written and no counter moved. When the
  /// commit succeeded but the final fsync failed, the batch's sequence
  /// numbers are burnt (never handed out again) and the store overwrites its
  /// records with void placeholders (ordered mode), so that a restart does
  /// not replay them; only if that also fails, or the node dies in between,
  /// may the batch reappear after a restart.
  /// Inserts must carry a uuid and an embedding of the namespace's dimension
  /// (fixed by its first insert); removes a uuid and a valid reason; a batch
  /// breaking this is refused whole (errc::internal: a caller bug).
  /// A record with ns_seq != 0 is logged at that sequence number (a
  /// replica logging its primary's stream): it must be the namespace's next
  /// one (or, for a namespace this store does not know, any number: the
  /// namespace starts there), else the batch is refused (errc::internal).
  status append(std::vector<log_record>& batch);

  /// Up to `max_records` logged records of `ns` with ns_seq > `after`, in
  /// order (void ones included, so the stream stays dense): what a replica
  /// that applied `after` needs next. errc::not_found when records after
  /// `after` were already dropped by a snapshot (the replica needs the
  /// snapshot instead) or the namespace is unknown.
  result<std::vector<log_record>> read_after(const namespace_key& ns, std::uint64_t after,
                                             std::size_t max_records) const;

  /// Drops the logged records of `ns` with ns_seq > `seq`, durably: a
  /// replica discarding the tail its old primary never committed, before it
  /// follows the new one. The only way a sequence number is ever used
  /// twice, and only for records that were never acknowledged. Refused
  /// (errc::internal) below the namespace's snapshot.
  status truncate_after(const namespace_key& ns, std::uint64_t seq);

  /// Total records ever appended on this node (monotonic across restarts);
  /// any thread.
  std::uint64_t wal_sequence() const { return wal_sequence_.load(std::memory_order_relaxed); }
  /// Bytes of WAL records (key + sealed value) committed by append() since
  /// this store was opened: what the log holds per record, before LMDB's
  /// page overhead (the benchmark's write amplification is relative to it).
  std::uint64_t appended_record_bytes() const { return appended_bytes_.load(std::memory_order_relaxed); }
  /// Highest ns_seq handed out in the namespace's current incarnation (0 if
  /// unknown). After a drop, a reappearing namespace continues above every
  /// sequence number it ever had.
  std::uint64_t last_ns_seq(const namespace_key& ns) const;

  // ---- snapshots

  /// A fresh empty temp dir under data_dir; the caller writes "graph.hnsw"
  /// (optional) into it, then calls commit_snapshot or abandon_snapshot.
  result<std::filesystem::path> begin_snapshot(const namespace_key& ns);

  /// Writes the entries file into the temp dir, fsyncs the files and the
  /// dir, publishes it (rename, then manifest update in LMDB) as the
  /// namespace's snapshot covering ns_seq <= covered_ns_seq, drops that
  /// namespace's WAL records up to covered_ns_seq in the same transaction,
  /// then removes the previous snapshot dir. A crash at any point leaves the
  /// old or the new snapshot fully valid plus the WAL tail, never a mix.
  /// covered_ns_seq may equal the current snapshot's (re-snapshot to keep
  /// access statistics) but not go below it or above last_ns_seq(ns).
  /// Errors: errc::not_found for an unknown namespace, errc::internal for
  /// arguments that break these rules (a caller bug), errc::unavailable for
  /// the disk. The temp dir is consumed (removed) on every outcome except a
  /// temp dir that was not handed out for `ns`, which is left alone.
  /// The same as write_snapshot_files followed by publish_snapshot (and
  /// abandon_snapshot if the files fail).
  status commit_snapshot(const namespace_key& ns, const std::filesystem::path& tmp_dir,
                         std::uint64_t covered_ns_seq, std::size_t dimension,
                         const std::vector<labelled_entry>& entries);

  /// Step 1 of commit_snapshot, the slow part: writes the entries file,
  /// fsyncs it and the graph file (if the caller wrote one) and the temp dir,
  /// and returns what the manifest needs. Thread-safe: may run on any thread
  /// while the store's thread goes on appending (it touches no store state
  /// except the temp dir bookkeeping, under a mutex). Pass `graph_digest`
  /// when the caller wrote and fsynced `graph.hnsw` itself and digested it
  /// meanwhile; otherwise the file is read back for its CRC and fsynced.
  /// With `embedding_of`, the entries' embeddings come from it (see
  /// storage::embedding_source) and the entries need not carry them.
  /// Checks only what needs no store state (the temp dir belongs to `ns`,
  /// every embedding has `dimension` values); publish_snapshot checks the
  /// rest. On error nothing is consumed: the caller abandons the temp dir.
  result<prepared_snapshot>
  write_snapshot_files(const namespace_key& ns, const std::filesystem::path& tmp_dir,
                       std::uint64_t covered_ns_seq, std::size_t dimension,
                       const std::vector<labelled_entry>& entries,
                       std::optional<storage::file_digest> graph_digest = std::nullopt,
                       const storage::embedding_source& embedding_of = {}) const;

  /// Step 2 of commit_snapshot, short, on the store's thread: checks the
  /// covered sequence and dimension against the namespace, renames the temp
  /// dir to its published name, commits manifest and WAL truncation in one
  /// transaction, syncs, removes the previous snapshot dir. Refuses (and
  /// removes the dir) if the namespace was dropped since begin_snapshot.
  /// Consumes the temp dir like commit_snapshot.
  status publish_snapshot(const prepared_snapshot& snap);

  /// Removes a temp dir from begin_snapshot that will not be committed.
  status abandon_snapshot(const std::filesystem::path& tmp_dir);

  /// Forgets a namespace whose last entry is gone: its snapshot, its WAL
  /// records and its bookkeeping. Unknown namespaces are fine (no-op).
  status drop_namespace(const namespace_key& ns);

  // ---- recovery

  struct recovered_namespace {
    namespace_key ns;
    std::size_t dimension = 0; ///< 0 if unknown
    /// Set only if it verified (recover(true)) or is to be checked by the
    /// caller (recover(false)).
    std::optional<std::filesystem::path> graph_file;
    /// Point into the snapshot's entries file, which stays mapped while
    /// they live (clear them once restored).
    ferro::snapshot_entries snapshot_entries;
    std::uint64_t snapshot_ns_seq = 0;
    /// The snapshot's feedback counts (opaque; empty: none).
    std::string quality_state{};
    /// The snapshot's lineage (format note F4): epoch of its newest record
    /// (0: unknown) and whether the copy was whole when it was taken.
    std::uint64_t snapshot_epoch = 0;
    bool snapshot_whole = true;
    std::uint64_t snapshot_lineage_from = 0;
    /// Records with ns_seq > snapshot_ns_seq, in ns_seq order, only those
    /// that verify and are safe to apply (see the corruption policy).
    std::vector<log_record> tail;
    /// The snapshot existed but failed verification (its entries are gone).
    bool snapshot_lost = false;
    /// A record of the log did not verify or was missing: what the snapshot
    /// and the records before it held is withheld, so this is no longer the
    /// whole copy, and the epoch of its newest record says nothing about it.
    bool damaged = false;
    /// The highest ns_seq the log accounts for. After replaying the tail the
    /// namespace is at this point even when the last records were void or
    /// withheld: use it as the applied sequence, so that the next snapshot
    /// covers (and drops) them.
    std::uint64_t last_ns_seq = 0;
  };

  struct recovery_report {
    std::vector<recovered_namespace> namespaces; ///< in creation order
    /// Records that failed verification, were missing from their sequence,
    /// or could not be attributed to a namespace; never applied.
    std::uint64_t corrupt_records = 0;
    std::uint64_t replayable_records = 0;
    /// Verified records and snapshot entries withheld because a corrupt
    /// record later in their namespace might have removed them.
    std::uint64_t discarded_records = 0;
    std::uint64_t discarded_snapshot_entries = 0;
    std::vector<std::string> messages; ///< problems found; the caller logs them
  };

  /// A published snapshot's graph file as its manifest names it: not read,
  /// not checked.
  struct snapshot_graph {
    namespace_key ns;
    std::size_t dimension = 0;
    std::filesystem::path file;
    std::uint64_t bytes = 0; ///< the manifest's size of the file
    std::uint32_t crc = 0;   ///< the manifest's CRC-32C of the file
  };
  /// The graph files of the published snapshots, so that a caller can load
  /// them on another thread while `recover` reads the entries files and the
  /// log (recover(false) then leaves checking them to the caller).
  std::vector<snapshot_graph> snapshot_graphs() const;
  /// Whether reads go through a fault seam (the simulator's disks).
  bool injects_faults() const { return opts_.faults != nullptr; }

  /// Reads every namespace's snapshot and WAL tail and verifies them.
  /// Read-only on disk. Corruption policy (docs/formats.md): in a namespace
  /// whose log has a corrupt or missing record at ns_seq k, everything older
  /// than k (snapshot entries included) is withheld and only verified
  /// records after k are returned, because k might have been a remove and
  /// applying what it removed would resurrect a deleted entry. Other
  /// namespaces are unaffected. Errors only when LMDB itself fails.
  /// With `check_graphs` false, `graph_file` names the snapshot's graph file
  /// without reading it: the caller must check it against snapshot_graphs()
  /// (size and CRC-32C) before it trusts it, as recover() does otherwise.
  result<recovery_report> recover(bool check_graphs = true);

  storage_stats stats() const;
  const std::filesystem::path& data_dir() const { return opts_.data_dir; }

private:
  struct ns_state {
    std::uint64_t id = 0;
    storage::codec::namespace_meta meta;
  };
  struct manifest_slot {
    std::optional<storage::codec::snapshot_manifest> manifest;
    std::string problem; ///< set when the stored manifest does not verify
  };
  struct recovery_work;
  struct pending_snapshot {
    std::string key;      ///< encode_key(ns)
    std::uint64_t id = 0; ///< the namespace's id at begin_snapshot, 0 if it had none
  };

  explicit wal_store(storage_options opts);
  status init();
  status load_state();
  void remove_leftover_dirs();
  status writable() const;
  template <class Fill>
  status write_txn(std::string_view what, Fill&& fill);
  status grow_map();
  status sync_env(std::string_view what);
  void void_batch(const std::vector<std::pair<std::string, std::string>>& puts);
  status remove_dir(const std::filesystem::path& dir);
  /// Deletes namespace id's log records with seq <= upto, at most `limit`
  /// of them (counted in `deleted`); 0 or an LMDB error.
  int delete_wal_range(storage::lmdb_txn& txn, std::uint64_t id, std::uint64_t upto, std::uint64_t& deleted,
                       std::uint64_t limit = UINT64_MAX);
  int delete_wal_above(storage::lmdb_txn& txn, std::uint64_t id, std::uint64_t above);
  std::uint64_t snapshot_floor(std::uint64_t id) const;
  std::string sealed_namespace(std::uint64_t id, const storage::codec::namespace_meta& m) const;
  std::string sealed_meta_u64(std::string_view key, std::uint64_t v) const;
  std::filesystem::path snapshots_dir() const { return opts_.data_dir / "snapshots"; }
  void load_snapshot(recovery_work& w, recovery_report& rep, bool check_graph);
  result<storage::entries_file_contents> read_snapshot_entries(const std::filesystem::path& file);
  result<storage::file_digest> digest_snapshot_graph(const std::filesystem::path& file);

  storage_options opts_;
  storage::unique_fd lock_fd_;
  std::unique_ptr<storage::lmdb_env> env_;
  MDB_dbi db_meta_ = 0;
  MDB_dbi db_ns_ = 0;
  MDB_dbi db_wal_ = 0;
  MDB_dbi db_snap_ = 0;

  std::map<std::string, ns_state> by_key_;              ///< encode_key(ns) -> state
  std::map<std::uint64_t, std::string> key_by_id_;      ///< id -> encode_key(ns)
  std::map<std::uint64_t, std::string> unreadable_ids_; ///< id -> why its record is bad
  std::map<std::uint64_t, manifest_slot> manifests_;    ///< id -> published snapshot
  /// Guards pending_tmp_ only: write_snapshot_files runs on other threads.
  mutable std::mutex pending_mutex_;
  std::map<std::filesystem::path, pending_snapshot> pending_tmp_; ///< temp dirs handed out
  std::atomic<std::uint64_t> wal_sequence_{0};
  std::atomic<std::uint64_t> appended_bytes_{0};
  std::uint64_t next_ns_id_ = 1;
  std::uint64_t next_tmp_ = 1;
  std::vector<std::string> open_messages_;
  std::optional<std::string> poisoned_; ///< why writes are refused (single mode)
  storage_stats stats_;
};

} // namespace ferro
