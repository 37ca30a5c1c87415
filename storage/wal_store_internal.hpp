#pragma once

// Internal to storage/: helpers shared by the wal_store translation units
// (wal_store.cpp, wal_store_snapshots.cpp, wal_store_recovery.cpp).

#include <charconv>
#include <string>

#include "storage/wal_store.hpp"

namespace ferro::storage::detail {

/// Recovery lists at most this many problems per namespace, then a count.
constexpr std::size_t messages_per_namespace = 10;
/// Log records a snapshot deletes per write transaction (publish_snapshot):
/// ~2,000 leaf pages of ~1.9 KB records, which LMDB keeps for reuse after
/// the commit (8 MiB), against one fsync per step.
constexpr std::uint64_t log_trim_step_records = 4096;

inline std::string ns_label(const namespace_key& key, std::uint64_t id) {
  return "namespace '" + display_name(key) + "' (id " + std::to_string(id) + ")";
}

// Published snapshot dirs are "s-<id>-<generation>" (decimal).
inline std::string snapshot_dir_name(std::uint64_t id, std::uint64_t generation) {
  return "s-" + std::to_string(id) + "-" + std::to_string(generation);
}

inline bool parse_snapshot_dir_name(const std::string& name, std::uint64_t& id) {
  if (name.size() < 5 || name.compare(0, 2, "s-") != 0)
    return false;
  auto dash = name.find('-', 2);
  if (dash == std::string::npos)
    return false;
  std::uint64_t gen = 0;
  auto r1 = std::from_chars(name.data() + 2, name.data() + dash, id);
  auto r2 = std::from_chars(name.data() + dash + 1, name.data() + name.size(), gen);
  return r1.ec == std::errc{} && r1.ptr == name.data() + dash && r2.ec == std::errc{} &&
         r2.ptr == name.data() + name.size();
}

/// A log record's value as the disk returned it: `v` itself without a fault
/// seam, else a copy in `scratch` that the seam may have damaged.
inline std::string_view as_read(io_faults* faults, std::uint64_t id, std::uint64_t seq, std::string_view v,
                                std::string& scratch) {
  if (faults == nullptr)
    return v;
  scratch.assign(v);
  faults->after_read("wal " + std::to_string(id) + "/" + std::to_string(seq), scratch);
  return scratch;
}

inline error with_context(std::string_view what, const error& e) {
  return error{e.code, std::string{what} + ": " + e.message};
}

} // namespace ferro::storage::detail

namespace ferro {

// One LMDB write transaction: `fill` does the puts and returns an LMDB code.
// On MDB_MAP_FULL the whole transaction is retried after growing the map, so
// callers must make `fill` repeatable (it only reads prepared data).
template <class Fill>
status wal_store::write_txn(std::string_view what, Fill&& fill) {
  int resized_retries = 0;
  for (;;) {
    storage::lmdb_txn t;
    int rc = t.begin(env_->get(), false);
    if (rc == MDB_MAP_RESIZED && resized_retries++ < 3) {
      // Another process grew the map: adopt its size.
      env_->set_map_size(0);
      continue;
    }
    if (rc != 0)
      return storage::lmdb_error(rc, what);
    rc = fill(t);
    if (rc == 0) {
      if (opts_.faults) {
        if (auto st = opts_.faults->before_commit(); !st)
          return storage::detail::with_context(what, st.err());
      }
      rc = t.commit();
      if (rc == 0)
        ++stats_.commits;
    }
    if (rc == MDB_MAP_FULL) {
      t.abort();
      if (auto st = grow_map(); !st)
        return storage::detail::with_context(what, st.err());
      continue;
    }
    if (rc != 0)
      return storage::lmdb_error(rc, what);
    return {};
  }
}

} // namespace ferro
