#include "storage/wal_store.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "storage/wal_store_internal.hpp"

namespace ferro {

namespace codec = storage::codec;
using storage::lmdb_cursor;
using storage::lmdb_error;
using storage::lmdb_txn;
using namespace storage::detail;

namespace {

constexpr std::uint64_t format_version = 1;
constexpr const char* key_format = "format_version";
constexpr const char* key_wal_sequence = "wal_sequence";
constexpr const char* key_next_ns_id = "next_ns_id";

// A record the store refuses to log: the namespace actor validates input, so
// this is a bug upstream, and logging it could crash replay (hnswlib reads
// `dimension` floats whatever the vector holds).
std::optional<std::string> invalid_record(const log_record& rec) {
  if (rec.ns.model_id.empty())
    return "record without model_id";
  if (rec.op == log_op::insert) {
    if (rec.entry.uuid.empty())
      return "insert without uuid";
    if (rec.entry.embedding.empty())
      return "insert without embedding";
    return std::nullopt;
  }
  if (rec.op == log_op::remove) {
    if (rec.uuid.empty())
      return "remove without uuid";
    if (rec.reason < removal_reason::deleted || rec.reason > removal_reason::evicted)
      return "remove with an unknown reason";
    return std::nullopt;
  }
  if (rec.op == log_op::feedback) {
    if (rec.uuid.empty())
      return "feedback without uuid";
    if (!(rec.feedback.similarity >= -1.0 && rec.feedback.similarity <= 1.0))
      return "feedback with a similarity out of range";
    return std::nullopt;
  }
  if (rec.op == log_op::feedback_table)
    return std::nullopt; // its table is checked where it is applied (apply_log)
  if (rec.op == log_op::void_)
    return std::nullopt;
  return "unknown op";
}

// Puts a batch's WAL records in key order, with MDB_APPEND for each key above
// the log's largest one (the common case: a namespace's keys only grow).
// Without the flag LMDB splits a full leaf page in the middle; a 384-dim
// record (~1.9 KB) fits twice in a 4 KiB page, so appending one record after
// another left one record per page: a page written per record and a log file
// twice as large as its records (docs/formats.md, "Durability"). With it the
// full page stays full and the new key starts the next one. Keys below the
// largest (a namespace with a smaller id than the newest) go in as before.
// NOOVERWRITE either way: a reused sequence number fails loudly.
int put_wal_records(lmdb_txn& t, MDB_dbi db, const std::vector<std::pair<std::string, std::string>>& puts) {
  std::string largest;
  {
    lmdb_cursor c;
    if (int rc = c.open(t, db); rc != 0)
      return rc;
    std::string_view k, v;
    int rc = c.get(k, v, MDB_LAST);
    if (rc == 0)
      largest.assign(k); // a copy: the page it points into may move on the next put
    else if (rc != MDB_NOTFOUND)
      return rc;
  }
  std::vector<std::size_t> order(puts.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  // std::string compares bytes as unsigned char, like LMDB's default memcmp
  // order; every WAL key has the same length.
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return puts[a].first < puts[b].first; });
  for (auto i : order) {
    const auto& [k, v] = puts[i];
    const bool at_end = largest.empty() || k > largest;
    if (int rc = t.put(db, k, v, MDB_NOOVERWRITE | (at_end ? MDB_APPEND : 0u)); rc != 0)
      return rc;
    if (at_end)
      largest = k;
  }
  return 0;
}

} // namespace

// ---------------------------------------------------------------- open

wal_store::wal_store(storage_options opts) : opts_(std::move(opts)) {
}

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
    return error{errc::internal,
                 "storage: " + data_file.string() + " is truncated (shorter than its two meta pages)"};

  unsigned flags = MDB_NOTLS | (opts_.sync == sync_mode::single ? MDB_NOSYNC : MDB_NOMETASYNC);
  auto env = storage::lmdb_env::open(dir / "lmdb", opts_.map_size_bytes, flags, 8);
  if (!env)
    return with_context("storage", env.err());
  env_ = std::move(*env);
  auto need = env_->required_file_bytes();
  auto have = fs::file_size(data_file, ec);
  if (ec)
    return error{errc::internal,
                 "storage: cannot read the size of " + data_file.string() + ": " + ec.message()};
  if (have < need && !env_->only_free_pages_missing(have))
    return error{errc::internal, "storage: " + data_file.string() + " is truncated: " + std::to_string(have) +
                                     " bytes, its newest meta page needs " + std::to_string(need)};
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
    for (auto [k, val] :
         {std::pair{key_format, format_version}, std::pair{key_wal_sequence, std::uint64_t{0}},
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
        return error{errc::internal, "storage: " + snapshots_dir().string() +
                                         " holds snapshots but the LMDB log is new; refusing to start"};
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
      return error{errc::internal, std::string{"storage: meta "} + key + " is corrupt (" +
                                       value.err().message + "); refusing to start"};
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
        open_messages_.push_back("namespaces DB: key of " + std::to_string(k.size()) +
                                 " bytes is not a namespace id; ignored");
        continue;
      }
      next_ns_id_ = std::max(next_ns_id_, id + 1);
      auto payload = codec::unseal(k, v);
      auto meta = payload ? codec::decode_namespace(*payload) : result<codec::namespace_meta>{payload.err()};
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
        open_messages_.push_back("snapshots DB: key of " + std::to_string(k.size()) +
                                 " bytes is not a namespace id; ignored");
        continue;
      }
      auto payload = codec::unseal(k, v);
      auto m = payload ? codec::decode_manifest(*payload) : result<codec::snapshot_manifest>{payload.err()};
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
      bool referenced =
          it != manifests_.end() && (!it->second.manifest || it->second.manifest->dir_name == name);
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

status wal_store::grow_map() {
  auto cur = env_->map_size();
  if (cur >= opts_.max_map_size_bytes)
    return error{errc::unavailable, "storage map is full at its maximum of " +
                                        std::to_string(opts_.max_map_size_bytes) + " bytes"};
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

int wal_store::delete_wal_range(lmdb_txn& txn, std::uint64_t id, std::uint64_t upto, std::uint64_t& deleted,
                                std::uint64_t limit) {
  lmdb_cursor c;
  if (int rc = c.open(txn, db_wal_); rc != 0)
    return rc;
  auto start = codec::wal_key(id, 0);
  std::string_view k = start, v;
  int rc = c.get(k, v, MDB_SET_RANGE);
  while (rc == 0 && deleted < limit) {
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

status wal_store::append(std::vector<log_record>& batch) {
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
    if (rec.op == log_op::insert) {
      auto dim = rec.entry.embedding.size();
      if (s.meta.dimension == 0)
        s.meta.dimension = dim;
      else if (s.meta.dimension != dim)
        return error{errc::internal, "append: record #" + std::to_string(i) + ": dimension " +
                                         std::to_string(dim) + " in a namespace of dimension " +
                                         std::to_string(s.meta.dimension)};
    }
    if (rec.ns_seq != 0) {
      // A sequence number chosen by the caller (a replica logging its
      // primary's record): the namespace's stream must stay dense.
      if (s.meta.last_ns_seq == s.meta.base_ns_seq && by_key_.find(enc) == by_key_.end())
        s.meta.base_ns_seq = s.meta.last_ns_seq = rec.ns_seq - 1; // a namespace that starts here
      if (rec.ns_seq != s.meta.last_ns_seq + 1)
        return error{errc::internal, "append: record #" + std::to_string(i) + " at ns_seq " +
                                         std::to_string(rec.ns_seq) + " but namespace " +
                                         display_name(rec.ns) + " is at " +
                                         std::to_string(s.meta.last_ns_seq)};
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
    if (int rc = put_wal_records(t, db_wal_, puts); rc != 0)
      return rc;
    for (const auto& [k, v] : ns_puts)
      if (int rc = t.put(db_ns_, k, v); rc != 0)
        return rc;
    if (int rc = t.put(db_meta_, key_wal_sequence, sealed_meta_u64(key_wal_sequence, new_wal_seq)); rc != 0)
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
  std::uint64_t bytes = 0;
  for (const auto& [k, v] : puts)
    bytes += k.size() + v.size();
  appended_bytes_.fetch_add(bytes, std::memory_order_relaxed);

  if (auto s = sync_env("append"); !s) {
    void_batch(puts);
    return s;
  }
  // Each commit reads pages through the map (the log's last leaf, branch
  // pages, free-list pages anywhere in the file once trims have freed
  // some), and a read fault also maps neighbouring pages that are in the
  // page cache (the kernel's fault-around, 16 pages by default), so much
  // more than the appended bytes ends up mapped: dropping them every 8 MiB
  // of appended log still left 8-393 B per entry mapped at 1M and ~270 at
  // 200k (docs/benchmarks.md, "Scale"). They go after every commit now
  // (4 B per entry at 200k); the next commit maps its pages again from the
  // page cache (minor faults, small against the commit's fsync).
  env_->drop_mapped_pages();
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

} // namespace ferro
