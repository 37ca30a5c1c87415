#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lmdb.h>

#include "common/status.hpp"

/// RAII wrappers over the LMDB C API. Functions return LMDB's int codes so
/// that callers can react to MDB_MAP_FULL and MDB_NOTFOUND; `lmdb_error`
/// turns a code into a status.
namespace ferro::storage {

/// ENOSPC, EIO, EDQUOT, EROFS, MDB_MAP_FULL and MDB_PANIC -> unavailable (the
/// disk, not the request); everything else -> internal.
error lmdb_error(int rc, std::string_view what);

inline MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view to_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// An open environment.
class lmdb_env {
public:
  /// Opens (creating if needed) the environment in directory `dir`.
  static result<std::unique_ptr<lmdb_env>> open(const std::filesystem::path& dir, std::size_t map_size,
                                                unsigned flags, unsigned max_dbs);
  ~lmdb_env();
  lmdb_env(const lmdb_env&) = delete;
  lmdb_env& operator=(const lmdb_env&) = delete;

  MDB_env* get() const { return env_; }
  std::size_t map_size() const;
  /// Only while this process has no transaction open.
  int set_map_size(std::size_t bytes);
  /// Forced flush of data and meta pages to disk (fdatasync).
  int sync();
  /// Bytes the newest meta page says the data file must hold: pages up to
  /// its last page number. A shorter file was truncated, and reading it
  /// would fault (SIGBUS) on the missing pages, unless every missing page
  /// is free (see only_free_pages_missing).
  std::uint64_t required_file_bytes() const;
  /// Whether a data file of `file_bytes`, shorter than required_file_bytes(),
  /// lacks only free pages. LMDB counts a page it allocated and freed within
  /// one transaction in the last page number without always writing it, so
  /// a sound file may end before it (7-node swarm --crashes seed 269 of the
  /// simulator). The file is grown to its full length first, so that reading
  /// the free list cannot fault on a missing page (a grown page reads as
  /// zeros, which LMDB reports as corruption if the free list points there);
  /// when a missing page is not free, the file is cut back as it was.
  bool only_free_pages_missing(std::uint64_t file_bytes);
  /// Unmaps the data file's pages from this process (madvise DONTNEED on
  /// the read-only shared map): they stay in the page cache, and the next
  /// read maps them again from there. Every page LMDB ever read through the
  /// map (each commit reads the log's last leaf, each trim the leaves it
  /// deletes from) otherwise stays in the process's RSS.
  /// Cheap enough to call after every commit (the map's address is
  /// cached after the first call).
  void drop_mapped_pages() const;

private:
  explicit lmdb_env(MDB_env* env) : env_(env) {}
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> find_map_ranges() const;

  MDB_env* env_;
  std::string data_file_; ///< data.mdb as /proc/self/maps names it (LMDB does not tell where it mapped it)
  mutable std::mutex map_mutex_;                                              ///< guards the two below
  mutable std::vector<std::pair<std::uintptr_t, std::uintptr_t>> map_ranges_; ///< the map in /proc/self/maps
  mutable std::size_t map_ranges_size_ = 0; ///< map_size() when map_ranges_ was read
};

/// A transaction; aborted on destruction unless committed.
class lmdb_txn {
public:
  lmdb_txn() = default;
  lmdb_txn(lmdb_txn&& other) noexcept : txn_(other.txn_) { other.txn_ = nullptr; }
  lmdb_txn& operator=(lmdb_txn&& other) noexcept;
  lmdb_txn(const lmdb_txn&) = delete;
  lmdb_txn& operator=(const lmdb_txn&) = delete;
  ~lmdb_txn() { abort(); }

  int begin(MDB_env* env, bool read_only);
  int commit();
  void abort();
  MDB_txn* get() const { return txn_; }

  int open_db(const char* name, bool create, MDB_dbi& out);
  /// On success `out` points into the map: valid until the txn ends or writes.
  int get(MDB_dbi db, std::string_view key, std::string_view& out);
  int put(MDB_dbi db, std::string_view key, std::string_view value, unsigned flags = 0);
  /// MDB_NOTFOUND when the key is absent.
  int del(MDB_dbi db, std::string_view key);

private:
  MDB_txn* txn_ = nullptr;
};

/// A cursor over one database of a transaction.
class lmdb_cursor {
public:
  lmdb_cursor() = default;
  lmdb_cursor(const lmdb_cursor&) = delete;
  lmdb_cursor& operator=(const lmdb_cursor&) = delete;
  ~lmdb_cursor();

  int open(lmdb_txn& txn, MDB_dbi db);
  /// Positions with `op` (MDB_FIRST, MDB_NEXT, MDB_SET_RANGE with `key` as
  /// input, ...) and reads the current key and value.
  int get(std::string_view& key, std::string_view& value, MDB_cursor_op op);
  int del();

private:
  MDB_cursor* cur_ = nullptr;
};

} // namespace ferro::storage
