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
  auto enc = encode_key(ns);
  std::uint64_t id = 0;
  if (auto it = by_key_.find(enc); it != by_key_.end())
    id = it->second.id;
  std::lock_guard lock(pending_mutex_);
  pending_tmp_[dir] = pending_snapshot{std::move(enc), id};
  return dir;
}

status wal_store::abandon_snapshot(const std::filesystem::path& tmp_dir) {
  {
    std::lock_guard lock(pending_mutex_);
    auto it = pending_tmp_.find(tmp_dir);
    if (it == pending_tmp_.end())
      return error{errc::internal,
                   "abandon_snapshot: " + tmp_dir.string() + " was not handed out by begin_snapshot"};
    pending_tmp_.erase(it);
  }
  return remove_dir(tmp_dir);
}

status wal_store::commit_snapshot(const namespace_key& ns, const std::filesystem::path& tmp_dir,
                                  std::uint64_t covered_ns_seq, std::size_t dimension,
                                  const std::vector<labelled_entry>& entries) {
  {
    // A temp dir that is not ours to consume is refused before anything.
    std::lock_guard lock(pending_mutex_);
    auto pending = pending_tmp_.find(tmp_dir);
    if (pending == pending_tmp_.end() || pending->second.key != encode_key(ns))
      return error{errc::internal, "commit_snapshot: " + tmp_dir.string() +
                                       " was not handed out by begin_snapshot for this namespace"};
  }
  auto written = write_snapshot_files(ns, tmp_dir, covered_ns_seq, dimension, entries);
  if (!written) {
    abandon_snapshot(tmp_dir); // best effort; open() removes what is left
    return written.err();
  }
  return publish_snapshot(*written);
}

result<prepared_snapshot> wal_store::write_snapshot_files(
    const namespace_key& ns, const std::filesystem::path& tmp_dir, std::uint64_t covered_ns_seq,
    std::size_t dimension, const std::vector<labelled_entry>& entries,
    std::optional<storage::file_digest> graph_digest, const storage::embedding_source& embedding_of) const {
  namespace fs = std::filesystem;
  auto fail = [&](error e) { return with_context("write_snapshot_files " + display_name(ns), e); };
  {
    std::lock_guard lock(pending_mutex_);
    auto pending = pending_tmp_.find(tmp_dir);
    if (pending == pending_tmp_.end() || pending->second.key != encode_key(ns))
      return fail(
          {errc::internal, tmp_dir.string() + " was not handed out by begin_snapshot for this namespace"});
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto n = embedding_of ? embedding_of(i).size() : entries[i].entry.embedding.size();
    if (n != dimension)
      return fail(
          {errc::internal, "entry '" + entries[i].entry.uuid + "' has dimension " + std::to_string(n)});
  }

  prepared_snapshot p;
  p.ns = ns;
  p.tmp_dir = tmp_dir;
  p.covered_ns_seq = covered_ns_seq;
  p.dimension = dimension;
  p.entry_count = entries.size();
  // opts_ is fixed after open(), so reading the fault seam is thread-safe.
  auto entries_path = tmp_dir / storage::entries_file_name;
  if (opts_.faults) {
    if (auto st = opts_.faults->on_snapshot_file_write(entries_path); !st)
      return fail(st.err());
  }
  auto written =
      storage::write_entries_file(entries_path, ns, dimension, covered_ns_seq, entries, embedding_of);
  if (!written)
    return fail(written.err());
  p.entries = *written;
  auto graph_path = tmp_dir / storage::graph_file_name;
  std::error_code ec;
  if (fs::exists(graph_path, ec)) {
    if (opts_.faults) {
      if (auto st = opts_.faults->on_snapshot_file_write(graph_path); !st)
        return fail(st.err());
    }
    if (graph_digest) {
      // Digested while it was written: only make sure it is the same file.
      auto size = fs::file_size(graph_path, ec);
      if (ec || size != graph_digest->bytes)
        return fail({errc::internal, graph_path.string() + " is not the file that was digested"});
      p.graph = graph_digest;
    } else {
      auto d = storage::digest_file(graph_path, true);
      if (!d)
        return fail(d.err());
      p.graph = *d;
    }
  } else if (graph_digest) {
    return fail({errc::internal, graph_path.string() + " was digested but does not exist"});
  }
  if (auto st = storage::sync_dir(tmp_dir); !st)
    return fail(st.err());
  return p;
}

status wal_store::publish_snapshot(const prepared_snapshot& snap) {
  namespace fs = std::filesystem;
  const auto& ns = snap.ns;
  const auto& tmp_dir = snap.tmp_dir;
  auto enc = encode_key(ns);
  std::uint64_t begun_id = 0;
  {
    std::lock_guard lock(pending_mutex_);
    auto pending = pending_tmp_.find(tmp_dir);
    if (pending == pending_tmp_.end() || pending->second.key != enc)
      return error{errc::internal, "publish_snapshot: " + tmp_dir.string() +
                                       " was not handed out by begin_snapshot for this namespace"};
    begun_id = pending->second.id;
    // From here on the temp dir is consumed, whatever happens.
    pending_tmp_.erase(pending);
  }
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
  // The files were written while the store went on: if the namespace was
  // dropped meanwhile, they hold entries of the dropped incarnation, which
  // must not become the snapshot of a new one.
  if (begun_id != 0 && begun_id != id)
    return fail(tmp_dir, {errc::not_found, "the namespace was dropped while its snapshot was written"});
  const auto& meta = it->second.meta;
  std::optional<codec::snapshot_manifest> old;
  if (auto m = manifests_.find(id); m != manifests_.end())
    old = m->second.manifest;
  // Below base_ns_seq is fine (it covers none of this incarnation's
  // records); below the published snapshot would go back in time.
  auto floor = old ? old->covered_ns_seq : 0;
  const auto covered_ns_seq = snap.covered_ns_seq;
  if (covered_ns_seq > meta.last_ns_seq || covered_ns_seq < floor)
    return fail(tmp_dir,
                {errc::internal, "covered_ns_seq " + std::to_string(covered_ns_seq) + " outside [" +
                                     std::to_string(floor) + ", " + std::to_string(meta.last_ns_seq) + "]"});
  if (meta.dimension != 0 && snap.dimension != meta.dimension)
    return fail(tmp_dir,
                {errc::internal, "dimension " + std::to_string(snap.dimension) +
                                     " differs from the namespace's " + std::to_string(meta.dimension)});

  codec::snapshot_manifest m;
  m.generation = (old ? old->generation : 0) + 1;
  m.dir_name = snapshot_dir_name(id, m.generation);
  m.covered_ns_seq = covered_ns_seq;
  m.dimension = snap.dimension;
  m.entry_count = snap.entry_count;
  m.entries_bytes = snap.entries.bytes;
  m.entries_crc = snap.entries.crc;
  m.quality_state = snap.quality_state;
  m.epoch = snap.epoch;
  m.whole = snap.whole;
  m.lineage_from = snap.lineage_from;
  if (snap.graph) {
    m.has_graph = true;
    m.graph_bytes = snap.graph->bytes;
    m.graph_crc = snap.graph->crc;
  }

  // 2. Publish the dir under its final name; durable before the manifest
  //    can point at it.
  auto final_dir = snapshots_dir() / m.dir_name;
  std::error_code ec;
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

  // 3. Manifest and the start of the WAL truncation in one transaction:
  //    either the old snapshot plus its tail, or the new one plus a tail
  //    whose covered records recovery skips. The rest of the covered
  //    records go in bounded steps (5.).
  auto new_meta = meta;
  if (new_meta.dimension == 0)
    new_meta.dimension = snap.dimension;
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
    return delete_wal_range(t, id, covered_ns_seq, dropped, log_trim_step_records);
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

  // 5. The rest of the covered log, a bounded number of records per
  //    transaction. LMDB keeps every page a write transaction dirtied in
  //    its own free list for the life of the env (mdb_dpage_free), so one
  //    transaction deleting a quarter of a 1M-entry namespace (~125,000
  //    leaf pages) would pin ~500 MB of the process for good. Nothing
  //    waits for these commits: a crash between two steps leaves covered
  //    records, which recovery skips and the next snapshot deletes
  //    (delete_wal_range starts at the namespace's first record).
  for (auto more = dropped == log_trim_step_records; more;) {
    std::uint64_t n = 0;
    auto trimmed = write_txn("trim log " + display_name(ns), [&](lmdb_txn& t) -> int {
      n = 0;
      return delete_wal_range(t, id, covered_ns_seq, n, log_trim_step_records);
    });
    // A step reads ~2,000 leaves through the map, and fault-around maps
    // their neighbours too: unmapped after each step, not once at the end
    // of a trim that can cover a quarter of the namespace.
    env_->drop_mapped_pages();
    if (!trimmed)
      break; // the snapshot is published; the next one retries the trim
    more = n == log_trim_step_records;
  }
  env_->drop_mapped_pages();
  return {};
}

} // namespace ferro
