// The namespace log as a stream: what a replica reads to catch up, and the
// truncation a replica needs after its primary changed.

#include <algorithm>

#include "storage/wal_store_internal.hpp"

namespace ferro {

namespace codec = storage::codec;
using storage::lmdb_cursor;
using storage::lmdb_error;
using storage::lmdb_txn;
using namespace storage::detail;

// Records at or below this sequence number are gone from the log: before
// the namespace's first record, or covered (and dropped) by its snapshot.
std::uint64_t wal_store::snapshot_floor(std::uint64_t id) const {
  std::uint64_t floor = 0;
  if (auto m = manifests_.find(id); m != manifests_.end() && m->second.manifest)
    floor = m->second.manifest->covered_ns_seq;
  return floor;
}

result<std::vector<log_record>> wal_store::read_after(const namespace_key& ns, std::uint64_t after,
                                                      std::size_t max_records) const {
  auto it = by_key_.find(encode_key(ns));
  if (it == by_key_.end())
    return error{errc::not_found, "read_after: unknown namespace " + display_name(ns)};
  const auto id = it->second.id;
  const auto& meta = it->second.meta;
  auto floor = std::max(meta.base_ns_seq, snapshot_floor(id));
  if (after < floor)
    return error{errc::not_found, "read_after: records " + std::to_string(after + 1) + ".." +
                                      std::to_string(floor) + " of " + display_name(ns) +
                                      " are in its snapshot, no longer in the log"};
  std::vector<log_record> out;
  lmdb_txn t;
  if (int rc = t.begin(env_->get(), true); rc != 0)
    return lmdb_error(rc, "read_after");
  lmdb_cursor c;
  if (int rc = c.open(t, db_wal_); rc != 0)
    return lmdb_error(rc, "read_after");
  auto start = codec::wal_key(id, after + 1);
  std::string_view k = start, v;
  int rc = c.get(k, v, MDB_SET_RANGE);
  auto expected = after + 1;
  std::string scratch; // a record's bytes as the fault seam returns them
  for (; rc == 0 && out.size() < max_records; rc = c.get(k, v, MDB_NEXT)) {
    std::uint64_t kid = 0, seq = 0;
    if (!codec::parse_wal_key(k, kid, seq) || kid != id)
      break;
    // A hole or a record that does not verify cannot be shipped: the
    // replica could miss a removal. It takes the snapshot path instead.
    if (seq != expected)
      return error{errc::not_found, "read_after: record " + std::to_string(expected) + " of " +
                                        display_name(ns) + " is missing from the log"};
    log_record rec;
    bool is_void = false;
    auto payload = codec::unseal(k, as_read(opts_.faults.get(), id, seq, v, scratch));
    auto decoded = payload ? codec::decode_wal_payload(*payload, rec, is_void) : status{payload.err()};
    if (!decoded)
      return error{errc::not_found, "read_after: record " + std::to_string(seq) + " of " + display_name(ns) +
                                        " does not verify (" + decoded.err().message + ")"};
    rec.ns = ns;
    rec.ns_seq = seq;
    out.push_back(std::move(rec));
    ++expected;
  }
  if (rc != 0 && rc != MDB_NOTFOUND)
    return lmdb_error(rc, "read_after");
  return out;
}

int wal_store::delete_wal_above(lmdb_txn& txn, std::uint64_t id, std::uint64_t above) {
  lmdb_cursor c;
  if (int rc = c.open(txn, db_wal_); rc != 0)
    return rc;
  auto start = codec::wal_key(id, above + 1);
  std::string_view k = start, v;
  int rc = c.get(k, v, MDB_SET_RANGE);
  while (rc == 0) {
    std::uint64_t kid = 0, seq = 0;
    if (!codec::parse_wal_key(k, kid, seq) || kid != id)
      break;
    if ((rc = c.del()) != 0)
      return rc;
    rc = c.get(k, v, MDB_NEXT); // LMDB steps to the record after the deleted one
  }
  return rc == MDB_NOTFOUND ? 0 : rc;
}

status wal_store::truncate_after(const namespace_key& ns, std::uint64_t seq) {
  auto enc = encode_key(ns);
  auto it = by_key_.find(enc);
  if (it == by_key_.end())
    return {};
  if (auto st = writable(); !st)
    return st;
  const auto id = it->second.id;
  auto meta = it->second.meta;
  if (seq >= meta.last_ns_seq)
    return {};
  if (seq < snapshot_floor(id))
    return error{errc::internal, "truncate_after " + std::to_string(seq) + ": namespace " + display_name(ns) +
                                     " has a snapshot up to " + std::to_string(snapshot_floor(id))};
  meta.last_ns_seq = std::max(seq, meta.base_ns_seq);
  auto st = write_txn("truncate_after " + display_name(ns), [&](lmdb_txn& t) -> int {
    if (int rc = delete_wal_above(t, id, seq); rc != 0)
      return rc;
    return t.put(db_ns_, codec::u64_key(id), sealed_namespace(id, meta));
  });
  if (!st)
    return st;
  it->second.meta = meta;
  return sync_env("truncate_after " + display_name(ns));
}

} // namespace ferro
