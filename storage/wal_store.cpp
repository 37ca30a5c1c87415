#include "storage/wal_store.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "storage/snapshot_files.hpp"

namespace ferro {

namespace codec = storage::codec;
using storage::lmdb_cursor;
using storage::lmdb_error;
using storage::lmdb_txn;

namespace {

constexpr std::uint64_t format_version = 1;
constexpr const char* key_format = "format_version";
constexpr const char* key_wal_sequence = "wal_sequence";
constexpr const char* key_next_ns_id = "next_ns_id";
constexpr std::size_t messages_per_namespace = 10;

std::string ns_label(const namespace_key& key, std::uint64_t id) {
  return "namespace '" + display_name(key) + "' (id " + std::to_string(id) + ")";
}

// Published snapshot dirs are "s-<id>-<generation>" (decimal).
std::string snapshot_dir_name(std::uint64_t id, std::uint64_t generation) {
  return "s-" + std::to_string(id) + "-" + std::to_string(generation);
}

bool parse_snapshot_dir_name(const std::string& name, std::uint64_t& id) {
  if (name.size() < 5 || name.compare(0, 2, "s-") != 0)
    return false;
  auto dash = name.find('-', 2);
  if (dash == std::string::npos)
    return false;
  std::uint64_t gen = 0;
  auto r1 = std::from_chars(name.data() + 2, name.data() + dash, id);
  auto r2 = std::from_chars(name.data() + dash + 1, name.data() + name.size(), gen);
  return r1.ec == std::errc{} && r1.ptr == name.data() + dash && r2.ec == std::errc{}
         && r2.ptr == name.data() + name.size();
}

error with_context(std::string_view what, const error& e) {
  return error{e.code, std::string{what} + ": " + e.message};
}

// A record the store refuses to log: the namespace actor validates input, so
// this is a bug upstream, and logging it could crash replay (hnswlib reads
// `dimension` floats whatever the vector holds).
std::optional<std::string> invalid_record(const wal_record& rec) {
  if (rec.ns.model_id.empty())
    return "record without model_id";
  if (rec.op == wal_op::insert) {
    if (rec.entry.uuid.empty())
      return "insert without uuid";
    if (rec.entry.embedding.empty())
      return "insert without embedding";
    return std::nullopt;
  }
  if (rec.op == wal_op::remove) {
    if (rec.uuid.empty())
      return "remove without uuid";
    if (rec.reason < removal_reason::deleted || rec.reason > removal_reason::evicted)
      return "remove with an unknown reason";
    return std::nullopt;
  }
  return "unknown op";
}

} // namespace

// ---------------------------------------------------------------- open

wal_store::wal_store(storage_options opts) : opts_(std::move(opts)) {}

wal_store::~wal_store() = default;

result<std::unique_ptr<wal_store>> wal_store::open(storage_options opts) {
  if (opts.data_dir.empty())
    return error{errc::internal, "storage: data_dir is empty"};
  if (opts.max_map_size_bytes < opts.map_size_bytes)
    opts.max_map_size_bytes = opts.map_size_bytes;
  std::unique_ptr<wal_store> store{new wal_store(std::move(opts))};
  if (auto st = store->init(); !st)
    return st.err();
  return store;
}

status wal_store::init() {
  namespace fs = std::filesystem;
  const auto& dir = opts_.data_dir;
  std::error_code ec;
  fs::create_directories(dir / "lmdb", ec);
  if (!ec)
    fs::create_directories(snapshots_dir(), ec);
  if (ec)
    return error{errc::unavailable, "storage: cannot create " + dir.string() + ": " + ec.message()};

  // LMDB lets several processes share an environment, and opening one twice
  // in one process breaks its locks: one node per data_dir, enforced here.
  auto lock = storage::open_file(dir / "LOCK", O_RDWR | O_CREAT, 0644);
  if (!lock)
    return with_context("storage", lock.err());
  if (::flock(lock->get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return error{errc::unavailable, "storage: " + dir.string() + " is in use (LOCK is held)"};
    return storage::errno_error(errno, "storage: cannot lock", dir / "LOCK");
  }
  lock_fd_ = std::move(*lock);

  // LMDB treats an empty or missing data file as a new environment and a
  // truncated one as a fault waiting to happen (SIGBUS on the missing pages).
  auto data_file = dir / "lmdb" / "data.mdb";
  bool existed = fs::exists(data_file, ec);
  auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  if (existed && fs::file_size(data_file, ec) < 2 * page)
    return error{errc::internal, "storage: " + data_file.string()
                                   + " is truncated (shorter than its two meta pages)"};

  unsigned flags = MDB_NOTLS
                   | (opts_.sync == sync_mode::single ? MDB_NOSYNC : MDB_NOMETASYNC);
  auto env = storage::lmdb_env::open(dir / "lmdb", opts_.map_size_bytes, flags, 8);
  if (!env)
    return with_context("storage", env.err());
  env_ = std::move(*env);
  auto need = env_->required_file_bytes();
  auto have = fs::file_size(data_file, ec);
  if (ec || have < need)
    return error{errc::internal, "storage: " + data_file.string() + " is truncated: "
                                   + std::to_string(have) + " bytes, its newest meta page needs "
                                   + std::to_string(need)};
  return load_state();
}

status wal_store::load_state() {
  bool fresh = false;
  // Named DBs and, for a new environment, the meta keys.
  auto st = write_txn("storage: open", [&](lmdb_txn& t) -> int {
    for (auto [name, dbi] : {std::pair{"meta", &db_meta_}, std::pair{"namespaces", &db_ns_},
                             std::pair{"wal", &db_wal_}, std::pair{"snapshots", &db_snap_}})
      if (int rc = t.open_db(name, true, *dbi); rc != 0)
        return rc;
    std::string_view v;
    int rc = t.get(db_meta_, key_format, v);
    if (rc != MDB_NOTFOUND)
      return rc;
    fresh = true;
    for (auto [k, val] : {std::pair{key_format, format_version}, std::pair{key_wal_sequence, std::uint64_t{0}},
                          std::pair{key_next_ns_id, std::uint64_t{1}}})
      if (int rc2 = t.put(db_meta_, k, sealed_meta_u64(k, val)); rc2 != 0)
        return rc2;
    return 0;
  });
  if (!st)
    return st;

  if (fresh) {
    // A new log next to published snapshots means the log was lost: opening
    // would treat every snapshot as an orphan and delete it.
    std::error_code ec;
    for (const auto& d : std::filesystem::directory_iterator(snapshots_dir(), ec)) {
      std::uint64_t id = 0;
      if (parse_snapshot_dir_name(d.path().filename().string(), id))
        return error{errc::internal, "storage: " + snapshots_dir().string()
                                       + " holds snapshots but the LMDB log is new; refusing to start"};
    }
    if (auto s = sync_env("storage: open"); !s)
      return s;
  }

  lmdb_txn t;
  if (int rc = t.begin(env_->get(), true); rc != 0)
    return lmdb_error(rc, "storage: open");
  auto read_meta = [&](const char* key, std::uint64_t& out) -> status {
    std::string_view v;
    if (int rc = t.get(db_meta_, key, v); rc != 0)
      return lmdb_error(rc, std::string{"storage: meta "} + key);
    auto payload = codec::unseal(key, v);
    auto value = payload ? codec::decode_u64(*payload) : result<std::uint64_t>{payload.err()};
    if (!value)
      return error{errc::internal, std::string{"storage: meta "} + key + " is corrupt ("
                                     + value.err().message + "); refusing to start"};
    out = *value;
    return {};
  };
  std::uint64_t version = 0;
  std::uint64_t wal_seq = 0;
  if (auto s = read_meta(key_format, version); !s)
    return s;
  if (version != format_version)
    return error{errc::internal, "storage: unsupported format version " + std::to_string(version)};
  if (auto s = read_meta(key_wal_sequence, wal_seq); !s)
    return s;
  if (auto s = read_meta(key_next_ns_id, next_ns_id_); !s)
    return s;
  wal_sequence_.store(wal_seq, std::memory_order_relaxed);

  {
    lmdb_cursor c;
    if (int rc = c.open(t, db_ns_); rc != 0)
      return lmdb_error(rc, "storage: namespaces");
    std::string_view k, v;
    int rc = c.get(k, v, MDB_FIRST);
    for (; rc == 0; rc = c.get(k, v, MDB_NEXT)) {
      std::uint64_t id = 0;
      if (!codec::parse_u64_key(k, id)) {
        open_messages_.push_back("namespaces DB: key of " + std::to_string(k.size())
                                 + " bytes is not a namespace id; ignored");
        continue;
      }
      next_ns_id_ = std::max(next_ns_id_, id + 1);
      auto payload = codec::unseal(k, v);
      auto meta = payload ? codec::decode_namespace(*payload)
                          : result<codec::namespace_meta>{payload.err()};
      if (!meta) {
        // Its WAL records cannot be attributed to a namespace; recover()
        // reports them. The id is never reused.
        unreadable_ids_[id] = meta.err().message;
        continue;
      }
      auto enc = encode_key(meta->key);
      key_by_id_[id] = enc;
      by_key_[enc] = ns_state{id, std::move(*meta)};
    }
    if (rc != MDB_NOTFOUND)
      return lmdb_error(rc, "storage: namespaces");
  }
  {
    lmdb_cursor c;
    if (int rc = c.open(t, db_snap_); rc != 0)
      return lmdb_error(rc, "storage: snapshots");
    std::string_view k, v;
    int rc = c.get(k, v, MDB_FIRST);
    for (; rc == 0; rc = c.get(k, v, MDB_NEXT)) {
      std::uint64_t id = 0;
      if (!codec::parse_u64_key(k, id)) {
        open_messages_.push_back("snapshots DB: key of " + std::to_string(k.size())
                                 + " bytes is not a namespace id; ignored");
        continue;
      }
      auto payload = codec::unseal(k, v);
      auto m = payload ? codec::decode_manifest(*payload)
                       : result<codec::snapshot_manifest>{payload.err()};
      if (m)
        manifests_[id].manifest = std::move(*m);
      else
        manifests_[id].problem = m.err().message;
    }
    if (rc != MDB_NOTFOUND)
      return lmdb_error(rc, "storage: snapshots");
  }
  t.abort();
  remove_leftover_dirs();
  return {};
}

// Temp dirs are never published; a published-looking dir that no manifest
// names is left from a crash between rename and manifest commit, or between
// manifest commit and removal of the replaced dir. Dirs whose manifest is
// unreadable, and names we do not know, are kept for inspection.
void wal_store::remove_leftover_dirs() {
  std::error_code ec;
  std::vector<std::filesystem::path> doomed;
  for (const auto& d : std::filesystem::directory_iterator(snapshots_dir(), ec)) {
    auto name = d.path().filename().string();
    std::uint64_t id = 0;
    if (name.compare(0, 4, "tmp-") == 0) {
      doomed.push_back(d.path());
    } else if (parse_snapshot_dir_name(name, id)) {
      auto it = manifests_.find(id);
      bool referenced = it != manifests_.end()
                        && (!it->second.manifest || it->second.manifest->dir_name == name);
      if (!referenced)
        doomed.push_back(d.path());
    } else {
      open_messages_.push_back("unexpected entry " + d.path().string() + " left alone");
    }
  }
  for (const auto& p : doomed)
    if (auto st = remove_dir(p); !st)
      open_messages_.push_back("cannot remove leftover " + p.string() + ": " + st.err().message);
}

// ---------------------------------------------------------------- plumbing

status wal_store::writable() const {
  if (poisoned_)
    return error{errc::unavailable, "storage: writes refused until restart: " + *poisoned_};
  return {};
}

// One LMDB write transaction: `fill` does the puts and returns an LMDB code.
// On MDB_MAP_FULL the whole transaction is retried after growing the map, so
// callers must make `fill` repeatable (it only reads prepared data).
template <class Fill>
status wal_store::write_txn(std::string_view what, Fill&& fill) {
  int resized_retries = 0;
  for (;;) {
    lmdb_txn t;
    int rc = t.begin(env_->get(), false);
    if (rc == MDB_MAP_RESIZED && resized_retries++ < 3) {
      // Another process grew the map: adopt its size.
      env_->set_map_size(0);
      continue;
    }
    if (rc != 0)
      return lmdb_error(rc, what);
    rc = fill(t);
    if (rc == 0) {
      if (opts_.faults) {
        if (auto st = opts_.faults->before_commit(); !st)
          return with_context(what, st.err());
      }
      rc = t.commit();
      if (rc == 0)
        ++stats_.commits;
    }
    if (rc == MDB_MAP_FULL) {
      t.abort();
      if (auto st = grow_map(); !st)
        return with_context(what, st.err());
      continue;
    }
    if (rc != 0)
      return lmdb_error(rc, what);
    return {};
  }
}

status wal_store::grow_map() {
  auto cur = env_->map_size();
  if (cur >= opts_.max_map_size_bytes)
    return error{errc::unavailable, "storage map is full at its maximum of "
                                      + std::to_string(opts_.max_map_size_bytes) + " bytes"};
  auto next = std::min(std::max(cur * 2, cur + 1), opts_.max_map_size_bytes);
  if (int rc = env_->set_map_size(next); rc != 0)
    return lmdb_error(rc, "mdb_env_set_mapsize");
  ++stats_.map_resizes;
  return {};
}

status wal_store::sync_env(std::string_view what) {
  status st;
  if (opts_.faults)
    st = opts_.faults->before_sync();
  if (st) {
    ++stats_.syncs;
    if (int rc = env_->sync(); rc != 0)
      st = lmdb_error(rc, "fsync");
  }
  if (st)
    return {};
  if (opts_.sync == sync_mode::single)
    poisoned_ = "an fsync failed (" + st.err().message + ")";
  return with_context(what, st.err());
}

status wal_store::remove_dir(const std::filesystem::path& dir) {
  if (opts_.faults) {
    if (auto st = opts_.faults->before_remove(dir); !st)
      return st;
  }
  return storage::remove_tree(dir);
}

int wal_store::delete_wal_range(lmdb_txn& txn, std::uint64_t id, std::uint64_t upto,
                                std::uint64_t& deleted) {
  lmdb_cursor c;
  if (int rc = c.open(txn, db_wal_); rc != 0)
    return rc;
  auto start = codec::wal_key(id, 0);
  std::string_view k = start, v;
  int rc = c.get(k, v, MDB_SET_RANGE);
  while (rc == 0) {
    std::uint64_t kid = 0, seq = 0;
    if (!codec::parse_wal_key(k, kid, seq) || kid != id || seq > upto)
      break;
    if ((rc = c.del()) != 0)
      return rc;
    ++deleted;
    rc = c.get(k, v, MDB_NEXT);
  }
  return rc == MDB_NOTFOUND ? 0 : rc;
}

std::string wal_store::sealed_namespace(std::uint64_t id, const codec::namespace_meta& m) const {
  return codec::seal(codec::u64_key(id), codec::encode_namespace(m));
}

std::string wal_store::sealed_meta_u64(std::string_view key, std::uint64_t v) const {
  return codec::seal(key, codec::encode_u64(v));
}

storage_stats wal_store::stats() const {
  auto s = stats_;
  s.map_size = env_->map_size();
  return s;
}

std::uint64_t wal_store::last_ns_seq(const namespace_key& ns) const {
  auto it = by_key_.find(encode_key(ns));
  return it == by_key_.end() ? 0 : it->second.meta.last_ns_seq;
}

// ---------------------------------------------------------------- append

status wal_store::append(std::vector<wal_record>& batch) {
  if (batch.empty())
    return {};
  if (auto st = writable(); !st)
    return st;

  // Stage the new counters; memory changes only once LMDB has committed.
  struct staged {
    std::uint64_t id = 0;
    codec::namespace_meta meta;
  };
  std::map<std::string, staged> touched;
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::uint64_t> seqs;
  puts.reserve(batch.size());
  seqs.reserve(batch.size());
  auto next_id = next_ns_id_;
  const auto base = wal_sequence();
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& rec = batch[i];
    if (auto why = invalid_record(rec))
      return error{errc::internal, "append: record #" + std::to_string(i) + ": " + *why};
    auto enc = encode_key(rec.ns);
    auto it = touched.find(enc);
    if (it == touched.end()) {
      staged s;
      if (auto known = by_key_.find(enc); known != by_key_.end()) {
        s.id = known->second.id;
        s.meta = known->second.meta;
      } else {
        // A new namespace, or one that was dropped and reappears. Every
        // ns_seq it ever had is <= wal_sequence (a namespace cannot hand out
        // more numbers than records were appended since it was created), so
        // starting above wal_sequence keeps it monotonic without keeping a
        // tombstone per dropped namespace.
        s.id = next_id++;
        s.meta.key = rec.ns;
        s.meta.base_ns_seq = base;
        s.meta.last_ns_seq = base;
      }
      it = touched.emplace(enc, std::move(s)).first;
    }
    auto& s = it->second;
    if (rec.op == wal_op::insert) {
      auto dim = rec.entry.embedding.size();
      if (s.meta.dimension == 0)
        s.meta.dimension = dim;
      else if (s.meta.dimension != dim)
        return error{errc::internal, "append: record #" + std::to_string(i) + ": dimension "
                                       + std::to_string(dim) + " in a namespace of dimension "
                                       + std::to_string(s.meta.dimension)};
    }
    auto seq = ++s.meta.last_ns_seq;
    seqs.push_back(seq);
    auto key = codec::wal_key(s.id, seq);
    auto value = codec::seal(key, codec::encode_wal_payload(rec));
    puts.emplace_back(std::move(key), std::move(value));
  }
  const auto new_wal_seq = base + batch.size();

  std::vector<std::pair<std::string, std::string>> ns_puts;
  for (const auto& [enc, s] : touched)
    ns_puts.emplace_back(codec::u64_key(s.id), sealed_namespace(s.id, s.meta));
  auto st = write_txn("append", [&](lmdb_txn& t) -> int {
    for (const auto& [k, v] : puts)
      // NOOVERWRITE: a reused sequence number is a bug; fail loudly.
      if (int rc = t.put(db_wal_, k, v, MDB_NOOVERWRITE); rc != 0)
        return rc;
    for (const auto& [k, v] : ns_puts)
      if (int rc = t.put(db_ns_, k, v); rc != 0)
        return rc;
    if (int rc = t.put(db_meta_, key_wal_sequence, sealed_meta_u64(key_wal_sequence, new_wal_seq));
        rc != 0)
      return rc;
    if (next_id != next_ns_id_)
      return t.put(db_meta_, key_next_ns_id, sealed_meta_u64(key_next_ns_id, next_id));
    return 0;
  });
  if (!st)
    return st;

  // Committed: memory follows LMDB even if the sync below fails, so that the
  // sequence numbers in the log are never handed out twice.
  for (auto& [enc, s] : touched) {
    key_by_id_[s.id] = enc;
    by_key_[enc] = ns_state{s.id, std::move(s.meta)};
  }
  next_ns_id_ = next_id;
  wal_sequence_.store(new_wal_seq, std::memory_order_relaxed);

  if (auto s = sync_env("append"); !s) {
    void_batch(puts);
    return s;
  }
  for (std::size_t i = 0; i < batch.size(); ++i)
    batch[i].ns_seq = seqs[i];
  return {};
}

// The caller was told the batch failed and will not apply it, but LMDB has
// it: without this, a restart would replay writes the caller never saw
// succeed (an insert the client then failed to delete would come back).
// Each record becomes a void placeholder under the same key, so the
// sequence stays dense and recovery does not mistake the gap for damage.
// Best effort: if this fails too, the batch may reappear after a restart,
// which an error reply permits. Single mode is poisoned already and must
// not build on the failed fsync.
void wal_store::void_batch(const std::vector<std::pair<std::string, std::string>>& puts) {
  if (opts_.sync == sync_mode::single)
    return;
  const auto void_payload = codec::encode_void_payload();
  std::vector<std::pair<std::string, std::string>> voids;
  voids.reserve(puts.size());
  for (const auto& [k, v] : puts)
    voids.emplace_back(k, codec::seal(k, void_payload));
  auto st = write_txn("append rollback", [&](lmdb_txn& t) -> int {
    for (const auto& [k, v] : voids)
      if (int rc = t.put(db_wal_, k, v); rc != 0)
        return rc;
    return 0;
  });
  if (st)
    sync_env("append rollback");
}

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
    return error{errc::unavailable, "begin_snapshot: cannot create " + dir.string() + ": "
                                      + ec.message()};
  pending_tmp_[dir] = encode_key(ns);
  return dir;
}

status wal_store::abandon_snapshot(const std::filesystem::path& tmp_dir) {
  auto it = pending_tmp_.find(tmp_dir);
  if (it == pending_tmp_.end())
    return error{errc::internal, "abandon_snapshot: " + tmp_dir.string()
                                   + " was not handed out by begin_snapshot"};
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
    return error{errc::internal, "commit_snapshot: " + tmp_dir.string()
                                   + " was not handed out by begin_snapshot for this namespace"};
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
    return fail(tmp_dir, {errc::internal, "covered_ns_seq " + std::to_string(covered_ns_seq)
                                            + " outside [" + std::to_string(floor) + ", "
                                            + std::to_string(meta.last_ns_seq) + "]"});
  if (meta.dimension != 0 && dimension != meta.dimension)
    return fail(tmp_dir, {errc::internal, "dimension " + std::to_string(dimension)
                                            + " differs from the namespace's "
                                            + std::to_string(meta.dimension)});
  for (const auto& le : entries)
    if (le.entry.embedding.size() != dimension)
      return fail(tmp_dir, {errc::internal, "entry '" + le.entry.uuid + "' has dimension "
                                              + std::to_string(le.entry.embedding.size())});

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

status wal_store::drop_namespace(const namespace_key& ns) {
  auto enc = encode_key(ns);
  auto it = by_key_.find(enc);
  if (it == by_key_.end())
    return {};
  if (auto st = writable(); !st)
    return st;
  const auto id = it->second.id;
  auto id_key = codec::u64_key(id);
  std::uint64_t dropped = 0;
  auto st = write_txn("drop_namespace " + display_name(ns), [&](lmdb_txn& t) -> int {
    dropped = 0;
    if (int rc = delete_wal_range(t, id, UINT64_MAX, dropped); rc != 0)
      return rc;
    if (int rc = t.del(db_snap_, id_key); rc != 0 && rc != MDB_NOTFOUND)
      return rc;
    int rc = t.del(db_ns_, id_key);
    return rc == MDB_NOTFOUND ? 0 : rc;
  });
  if (!st)
    return st;
  std::optional<codec::snapshot_manifest> old;
  if (auto m = manifests_.find(id); m != manifests_.end()) {
    old = m->second.manifest;
    manifests_.erase(m);
  }
  by_key_.erase(it);
  key_by_id_.erase(id);
  if (auto s = sync_env("drop_namespace " + display_name(ns)); !s)
    return s;
  if (old)
    remove_dir(snapshots_dir() / old->dir_name);
  return {};
}

// ---------------------------------------------------------------- recovery

struct wal_store::recovery_work {
  std::uint64_t id = 0;
  recovered_namespace rn;
  std::uint64_t last_ns_seq = 0;
  std::uint64_t floor = 0;    ///< records <= floor are covered by the snapshot
  std::uint64_t expected = 0; ///< next ns_seq the scan should see
  bool gap_check = true;      ///< off when the snapshot's coverage is unknown
  std::uint64_t bad_seq = 0;  ///< highest unverifiable ns_seq (0: none)
  std::uint64_t max_seen = 0;
  std::size_t problems = 0;
};

void wal_store::load_snapshot(recovery_work& w, recovery_report& rep) {
  auto note = [&](std::string msg) {
    if (w.problems++ < messages_per_namespace)
      rep.messages.push_back(ns_label(w.rn.ns, w.id) + ": " + std::move(msg));
  };
  auto slot = manifests_.find(w.id);
  if (slot == manifests_.end())
    return;
  if (!slot->second.manifest) {
    note("snapshot manifest unreadable (" + slot->second.problem
         + "); its entries are lost, replaying the remaining log");
    w.rn.snapshot_lost = true;
    w.gap_check = false;
    return;
  }
  const auto& m = *slot->second.manifest;
  w.rn.snapshot_ns_seq = m.covered_ns_seq;
  w.floor = std::max(w.floor, m.covered_ns_seq);
  auto dir = snapshots_dir() / m.dir_name;
  auto contents = storage::read_entries_file(dir / storage::entries_file_name);
  std::string problem;
  if (!contents)
    problem = contents.err().message;
  else if (contents->info.bytes != m.entries_bytes || contents->info.crc != m.entries_crc)
    problem = "entries file does not match its manifest (size or checksum)";
  else if (contents->ns != w.rn.ns || contents->covered_ns_seq != m.covered_ns_seq
           || contents->dimension != m.dimension || contents->entries.size() != m.entry_count)
    problem = "entries file describes another snapshot";
  if (!problem.empty()) {
    note("snapshot " + m.dir_name + " is corrupt (" + problem
         + "); its entries are lost, replaying the remaining log");
    w.rn.snapshot_lost = true;
    return;
  }
  w.rn.snapshot_entries = std::move(contents->entries);
  if (m.dimension != 0)
    w.rn.dimension = m.dimension;
  if (m.has_graph) {
    auto graph = dir / storage::graph_file_name;
    auto d = storage::digest_file(graph, false);
    if (d && d->bytes == m.graph_bytes && d->crc == m.graph_crc)
      w.rn.graph_file = graph;
    else
      note("snapshot graph " + graph.string() + " does not verify ("
           + (d ? std::string{"size or checksum mismatch"} : d.err().message)
           + "); rebuild it from the snapshot entries");
  }
}

result<wal_store::recovery_report> wal_store::recover() {
  recovery_report rep;
  rep.messages = open_messages_;
  std::map<std::uint64_t, recovery_work> work;
  for (const auto& [enc, st] : by_key_) {
    auto& w = work[st.id];
    w.id = st.id;
    w.rn.ns = st.meta.key;
    w.rn.dimension = st.meta.dimension;
    w.last_ns_seq = st.meta.last_ns_seq;
    w.rn.last_ns_seq = st.meta.last_ns_seq;
    w.floor = st.meta.base_ns_seq;
    load_snapshot(w, rep);
    w.expected = w.floor + 1;
  }
  for (const auto& [id, why] : unreadable_ids_)
    rep.messages.push_back("namespace record of id " + std::to_string(id) + " is corrupt (" + why
                           + "); its snapshot and log records cannot be attributed and are not replayed");

  auto note = [&](recovery_work& w, std::string msg) {
    if (w.problems++ < messages_per_namespace)
      rep.messages.push_back(ns_label(w.rn.ns, w.id) + ": " + std::move(msg));
  };
  auto mark_bad = [](recovery_work& w, std::uint64_t seq) { w.bad_seq = std::max(w.bad_seq, seq); };

  lmdb_txn t;
  if (int rc = t.begin(env_->get(), true); rc != 0)
    return lmdb_error(rc, "recover");
  std::map<std::uint64_t, std::uint64_t> unattributed; // id -> records
  std::uint64_t bad_keys = 0;
  int scan_rc = 0;
  std::uint64_t scan_failed_id = 0;
  {
    lmdb_cursor c;
    if (int rc = c.open(t, db_wal_); rc != 0)
      return lmdb_error(rc, "recover");
    std::string_view k, v;
    recovery_work* w = nullptr;
    int rc = c.get(k, v, MDB_FIRST);
    for (; rc == 0; rc = c.get(k, v, MDB_NEXT)) {
      std::uint64_t id = 0, seq = 0;
      if (!codec::parse_wal_key(k, id, seq)) {
        ++bad_keys;
        continue;
      }
      scan_failed_id = id;
      if (w == nullptr || w->id != id) {
        auto found = work.find(id);
        w = found == work.end() ? nullptr : &found->second;
      }
      if (w == nullptr) {
        ++unattributed[id];
        continue;
      }
      if (seq <= w->floor) {
        note(*w, "record " + std::to_string(seq) + " is already covered by the snapshot; ignored");
        continue;
      }
      if (!w->gap_check) {
        w->expected = seq; // unknown snapshot coverage: start at the first record
        w->gap_check = true;
      }
      if (seq > w->expected) {
        auto missing = seq - w->expected;
        rep.corrupt_records += missing;
        note(*w, "records " + std::to_string(w->expected) + ".." + std::to_string(seq - 1)
                   + " are missing from the log");
        mark_bad(*w, seq - 1);
      }
      w->expected = seq + 1;
      w->max_seen = std::max(w->max_seen, seq);
      wal_record rec;
      bool is_void = false;
      auto payload = codec::unseal(k, v);
      auto decoded = payload ? codec::decode_wal_payload(*payload, rec, is_void)
                             : status{payload.err()};
      if (!decoded) {
        ++rep.corrupt_records;
        note(*w, "record " + std::to_string(seq) + " does not verify (" + decoded.err().message + ")");
        mark_bad(*w, seq);
        continue;
      }
      if (is_void)
        continue; // its batch failed; nothing to apply
      if (rec.op == wal_op::insert && w->rn.dimension != 0
          && rec.entry.embedding.size() != w->rn.dimension) {
        // It verified as an insert, so skipping it loses one write and
        // cannot resurrect anything.
        ++rep.corrupt_records;
        note(*w, "insert " + std::to_string(seq) + " has dimension "
                   + std::to_string(rec.entry.embedding.size()) + ", expected "
                   + std::to_string(w->rn.dimension) + "; skipped");
        continue;
      }
      rec.ns = w->rn.ns;
      rec.ns_seq = seq;
      w->rn.tail.push_back(std::move(rec));
    }
    if (rc != MDB_NOTFOUND)
      scan_rc = rc;
  }
  t.abort();

  if (bad_keys > 0) {
    rep.corrupt_records += bad_keys;
    rep.messages.push_back(std::to_string(bad_keys) + " WAL keys are malformed; ignored");
  }
  for (const auto& [id, n] : unattributed) {
    rep.corrupt_records += n;
    rep.messages.push_back(std::to_string(n) + " WAL records of unknown namespace id "
                           + std::to_string(id) + " are not replayed");
  }
  if (scan_rc != 0)
    rep.messages.push_back("the WAL scan stopped early: " + std::string{mdb_strerror(scan_rc)}
                           + "; namespaces from id " + std::to_string(scan_failed_id)
                           + " on recover nothing from the log");

  for (auto& [id, w] : work) {
    if (scan_rc != 0 && id >= scan_failed_id) {
      ++rep.corrupt_records;
      mark_bad(w, std::max(w.last_ns_seq, w.max_seen) + 1);
    }
    if (w.gap_check && w.expected <= w.last_ns_seq) {
      rep.corrupt_records += w.last_ns_seq - w.expected + 1;
      note(w, "records " + std::to_string(w.expected) + ".." + std::to_string(w.last_ns_seq)
                + " are missing from the end of the log");
      mark_bad(w, w.last_ns_seq);
    }
    if (w.max_seen > w.last_ns_seq) {
      // Cannot happen with LMDB's atomic commits; keep the counter ahead of
      // the log anyway so that no number is handed out twice.
      note(w, "log holds records up to " + std::to_string(w.max_seen)
                + " beyond the namespace's last sequence number "
                + std::to_string(w.last_ns_seq));
      by_key_[encode_key(w.rn.ns)].meta.last_ns_seq = w.max_seen;
      w.rn.last_ns_seq = w.max_seen;
    }
    if (w.bad_seq != 0) {
      auto keep_from = std::find_if(w.rn.tail.begin(), w.rn.tail.end(),
                                    [&](const wal_record& r) { return r.ns_seq > w.bad_seq; });
      auto withheld = static_cast<std::uint64_t>(keep_from - w.rn.tail.begin());
      rep.discarded_records += withheld;
      rep.discarded_snapshot_entries += w.rn.snapshot_entries.size();
      note(w, "withholding " + std::to_string(w.rn.snapshot_entries.size())
                + " snapshot entries and " + std::to_string(withheld)
                + " log records older than the unverifiable record " + std::to_string(w.bad_seq)
                + " (it may have removed them)");
      w.rn.tail.erase(w.rn.tail.begin(), keep_from);
      w.rn.snapshot_entries.clear();
      w.rn.graph_file.reset();
    }
    if (w.problems > messages_per_namespace)
      rep.messages.push_back(ns_label(w.rn.ns, w.id) + ": "
                             + std::to_string(w.problems - messages_per_namespace)
                             + " more problems not listed");
    if (w.rn.dimension == 0)
      for (const auto& r : w.rn.tail)
        if (r.op == wal_op::insert) {
          w.rn.dimension = r.entry.embedding.size();
          break;
        }
    rep.replayable_records += w.rn.tail.size();
    rep.namespaces.push_back(std::move(w.rn));
  }
  return rep;
}

} // namespace ferro
