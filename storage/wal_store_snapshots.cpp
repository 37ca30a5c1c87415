#include <system_error>

#include "storage/snapshot_files.hpp"
#include "storage/wal_store_internal.hpp"

namespace ferro {

namespace codec = storage::codec;
using storage::lmdb_cursor;
using storage::lmdb_error;
using storage::lmdb_txn;
using namespace storage::detail;

// ---------------------------------------------------------------- snapshots

result<std::filesystem::path> wal_store::begin_snapshot(const namespace_key& ns) {
  auto dir = snapshots_dir() / ("tmp-" + std::to_string(next_tmp_++));
  // A leftover of this name can only be from a failed removal (open()
  // removes those of earlier processes); start empty either way.
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (auto st = remove_dir(dir); !st)
      return with_context("begin_snapshot", st.err());
  }
  std::filesystem::create_directory(dir, ec);
  if (ec)
    return error{errc::unavailable, "begin_snapshot: cannot create " + dir.string() + ": " + ec.message()};
  pending_tmp_[dir] = encode_key(ns);
  return dir;
}

status wal_store::abandon_snapshot(const std::filesystem::path& tmp_dir) {
  auto it = pending_tmp_.find(tmp_dir);
  if (it == pending_tmp_.end())
    return error{errc::internal,
                 "abandon_snapshot: " + tmp_dir.string() + " was not handed out by begin_snapshot"};
  pending_tmp_.erase(it);
  return remove_dir(tmp_dir);
}

status wal_store::commit_snapshot(const namespace_key& ns, const std::filesystem::path& tmp_dir,
                                  std::uint64_t covered_ns_seq, std::size_t dimension,
                                  const std::vector<labelled_entry>& entries) {
  namespace fs = std::filesystem;
  auto enc = encode_key(ns);
  auto pending = pending_tmp_.find(tmp_dir);
  if (pending == pending_tmp_.end() || pending->second != enc)
    return error{errc::internal, "commit_snapshot: " + tmp_dir.string() +
                                     " was not handed out by begin_snapshot for this namespace"};
  // From here on the temp dir is consumed, whatever happens.
  pending_tmp_.erase(pending);
  auto fail = [&](const fs::path& dir, error e) -> status {
    remove_dir(dir); // best effort; open() removes what is left
    return with_context("commit_snapshot " + display_name(ns), e);
  };
  if (auto st = writable(); !st)
    return fail(tmp_dir, st.err());
  auto it = by_key_.find(enc);
  if (it == by_key_.end())
    return fail(tmp_dir, {errc::not_found, "unknown namespace"});
  const auto id = it->second.id;
  const auto& meta = it->second.meta;
  std::optional<codec::snapshot_manifest> old;
  if (auto m = manifests_.find(id); m != manifests_.end())
    old = m->second.manifest;
  // Below base_ns_seq is fine (it covers none of this incarnation's
  // records); below the published snapshot would go back in time.
  auto floor = old ? old->covered_ns_seq : 0;
  if (covered_ns_seq > meta.last_ns_seq || covered_ns_seq < floor)
    return fail(tmp_dir,
                {errc::internal, "covered_ns_seq " + std::to_string(covered_ns_seq) + " outside [" +
                                     std::to_string(floor) + ", " + std::to_string(meta.last_ns_seq) + "]"});
  if (meta.dimension != 0 && dimension != meta.dimension)
    return fail(tmp_dir,
                {errc::internal, "dimension " + std::to_string(dimension) + " differs from the namespace's " +
                                     std::to_string(meta.dimension)});
  for (const auto& le : entries)
    if (le.entry.embedding.size() != dimension)
      return fail(tmp_dir, {errc::internal, "entry '" + le.entry.uuid + "' has dimension " +
                                                std::to_string(le.entry.embedding.size())});

  // 1. Files, each fsynced, then the temp dir.
  codec::snapshot_manifest m;
  m.generation = (old ? old->generation : 0) + 1;
  m.dir_name = snapshot_dir_name(id, m.generation);
  m.covered_ns_seq = covered_ns_seq;
  m.dimension = dimension;
  m.entry_count = entries.size();
  auto entries_path = tmp_dir / storage::entries_file_name;
  if (opts_.faults) {
    if (auto st = opts_.faults->on_snapshot_file_write(entries_path); !st)
      return fail(tmp_dir, st.err());
  }
  auto written = storage::write_entries_file(entries_path, ns, dimension, covered_ns_seq, entries);
  if (!written)
    return fail(tmp_dir, written.err());
  m.entries_bytes = written->bytes;
  m.entries_crc = written->crc;
  auto graph_path = tmp_dir / storage::graph_file_name;
  std::error_code ec;
  if (fs::exists(graph_path, ec)) {
    if (opts_.faults) {
      if (auto st = opts_.faults->on_snapshot_file_write(graph_path); !st)
        return fail(tmp_dir, st.err());
    }
    auto d = storage::digest_file(graph_path, true);
    if (!d)
      return fail(tmp_dir, d.err());
    m.has_graph = true;
    m.graph_bytes = d->bytes;
    m.graph_crc = d->crc;
  }
  if (auto st = storage::sync_dir(tmp_dir); !st)
    return fail(tmp_dir, st.err());

  // 2. Publish the dir under its final name; durable before the manifest
  //    can point at it.
  auto final_dir = snapshots_dir() / m.dir_name;
  if (fs::exists(final_dir, ec)) {
    // A leftover of a failed attempt with this generation; never the
    // published dir (that has a lower generation).
    if (auto st = remove_dir(final_dir); !st)
      return fail(tmp_dir, st.err());
  }
  if (opts_.faults) {
    if (auto st = opts_.faults->before_snapshot_publish(tmp_dir, final_dir); !st)
      return fail(tmp_dir, st.err());
  }
  fs::rename(tmp_dir, final_dir, ec);
  if (ec)
    return fail(tmp_dir, {errc::unavailable, "cannot rename " + tmp_dir.string() + ": " + ec.message()});
  if (auto st = storage::sync_dir(snapshots_dir()); !st)
    return fail(final_dir, st.err());

  // 3. Manifest and WAL truncation in one transaction: either the old
  //    snapshot plus its tail, or the new one plus the shorter tail.
  auto new_meta = meta;
  if (new_meta.dimension == 0)
    new_meta.dimension = dimension;
  auto id_key = codec::u64_key(id);
  auto sealed_manifest = codec::seal(id_key, codec::encode_manifest(m));
  auto sealed_ns = sealed_namespace(id, new_meta);
  std::uint64_t dropped = 0;
  auto st = write_txn("commit_snapshot", [&](lmdb_txn& t) -> int {
    dropped = 0;
    if (int rc = t.put(db_snap_, id_key, sealed_manifest); rc != 0)
      return rc;
    if (int rc = t.put(db_ns_, id_key, sealed_ns); rc != 0)
      return rc;
    return delete_wal_range(t, id, covered_ns_seq, dropped);
  });
  if (!st)
    return fail(final_dir, st.err());
  manifests_[id] = manifest_slot{m, {}};
  it->second.meta = new_meta;

  // 4. Durable; only then may the old dir go (if this sync fails, a restart
  //    may still find the old manifest, so the old dir must stay).
  if (auto s = sync_env("commit_snapshot " + display_name(ns)); !s)
    return s;
  if (old) {
    // Failure is harmless: the next open() removes the unreferenced dir.
    remove_dir(snapshots_dir() / old->dir_name);
  }
  return {};
}

} // namespace ferro
