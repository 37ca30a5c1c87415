#include "storage/lmdb_env.hpp"

#include <sys/mman.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <cerrno>
#include <string>
#include <utility>

namespace ferro::storage {

error lmdb_error(int rc, std::string_view what) {
  std::string msg{what};
  msg += ": ";
  msg += mdb_strerror(rc);
  bool disk =
      rc == ENOSPC || rc == EIO || rc == EDQUOT || rc == EROFS || rc == MDB_MAP_FULL || rc == MDB_PANIC;
  return error{disk ? errc::unavailable : errc::internal, std::move(msg)};
}

result<std::unique_ptr<lmdb_env>> lmdb_env::open(const std::filesystem::path& dir, std::size_t map_size,
                                                 unsigned flags, unsigned max_dbs) {
  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw); rc != 0)
    return lmdb_error(rc, "mdb_env_create");
  std::unique_ptr<lmdb_env> env{new lmdb_env(raw)};
  if (int rc = mdb_env_set_maxdbs(raw, max_dbs); rc != 0)
    return lmdb_error(rc, "mdb_env_set_maxdbs");
  if (int rc = mdb_env_set_mapsize(raw, map_size); rc != 0)
    return lmdb_error(rc, "mdb_env_set_mapsize");
  if (int rc = mdb_env_open(raw, dir.c_str(), flags, 0640); rc != 0)
    return lmdb_error(rc, "mdb_env_open " + dir.string());
  std::error_code ec;
  auto data_file = std::filesystem::canonical(dir / "data.mdb", ec);
  if (!ec)
    env->data_file_ = data_file.string();
  return env;
}

lmdb_env::~lmdb_env() {
  mdb_env_close(env_);
}

std::size_t lmdb_env::map_size() const {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

int lmdb_env::sync() {
  return mdb_env_sync(env_, 1);
}

namespace {

// How many pages numbered `first` or above the free list holds; -1 if it
// cannot be read.
long long free_pages_from(MDB_env* env, std::uint64_t first) {
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0)
    return -1;
  MDB_cursor* cursor = nullptr;
  long long found = 0;
  int rc = mdb_cursor_open(txn, 0, &cursor); // dbi 0: the free list
  if (rc == 0) {
    MDB_val key, data;
    // Each record: a transaction id, and the pages it freed as an ID list
    // (its count first, then the page numbers).
    for (rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)) {
      if (data.mv_size < sizeof(std::size_t) || data.mv_size % sizeof(std::size_t) != 0) {
        rc = MDB_CORRUPTED;
        break;
      }
      const auto* ids = static_cast<const std::size_t*>(data.mv_data);
      const auto count = data.mv_size / sizeof(std::size_t) - 1;
      if (ids[0] != count) {
        rc = MDB_CORRUPTED;
        break;
      }
      for (std::size_t i = 1; i <= count; ++i)
        found += ids[i] >= first ? 1 : 0;
    }
    mdb_cursor_close(cursor);
  }
  mdb_txn_abort(txn);
  return rc == MDB_NOTFOUND ? found : -1;
}

} // namespace

bool lmdb_env::only_free_pages_missing(std::uint64_t file_bytes) {
  MDB_stat st;
  if (data_file_.empty() || mdb_env_stat(env_, &st) != 0 || st.ms_psize == 0)
    return false;
  const auto need = required_file_bytes();
  if (file_bytes >= need)
    return true;
  std::error_code ec;
  std::filesystem::resize_file(data_file_, need, ec);
  if (ec)
    return false;
  const auto first = file_bytes / st.ms_psize; // a page cut short counts as missing
  const auto missing = static_cast<long long>(need / st.ms_psize - first);
  if (free_pages_from(env_, first) == missing)
    return true;
  std::filesystem::resize_file(data_file_, file_bytes, ec);
  return false;
}

std::uint64_t lmdb_env::required_file_bytes() const {
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &st);
  return (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
}

int lmdb_env::set_map_size(std::size_t bytes) {
  std::lock_guard guard(map_mutex_);
  map_ranges_.clear(); // LMDB maps the file anew, maybe elsewhere
  return mdb_env_set_mapsize(env_, bytes);
}

void lmdb_env::drop_mapped_pages() const {
  unsigned flags = 0;
  // With MDB_WRITEMAP the map holds dirty pages: those must stay.
  if (data_file_.empty() || mdb_env_get_flags(env_, &flags) != 0 || (flags & MDB_WRITEMAP) != 0)
    return;
  std::lock_guard guard(map_mutex_);
  // The range is cached: the store drops after every commit, and reading
  // /proc/self/maps costs more than the madvise. The map moves only in
  // set_map_size (which forgets the range) or when another process grows
  // it (never: one process per env); a wrong range would zero someone
  // else's memory, so the size is checked too.
  const auto size = map_size();
  if (map_ranges_.empty() || map_ranges_size_ != size) {
    map_ranges_ = find_map_ranges();
    map_ranges_size_ = size;
  }
  for (const auto& [lo, hi] : map_ranges_)
    ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::vector<std::pair<std::uintptr_t, std::uintptr_t>> lmdb_env::find_map_ranges() const {
  // mdb_env_info's me_mapaddr is only set for MDB_FIXEDMAP: find the map
  // by its file. Best effort: no range found leaves the pages mapped,
  // nothing else.
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto path = line.find('/');
    if (path == std::string::npos || std::string_view(line).substr(path) != data_file_)
      continue;
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 && hi > lo)
      out.emplace_back(lo, hi);
  }
  return out;
}

lmdb_txn& lmdb_txn::operator=(lmdb_txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = other.txn_;
    other.txn_ = nullptr;
  }
  return *this;
}

int lmdb_txn::begin(MDB_env* env, bool read_only) {
  abort();
  return mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn_);
}

int lmdb_txn::commit() {
  // mdb_txn_commit frees the handle whatever it returns.
  MDB_txn* t = txn_;
  txn_ = nullptr;
  return mdb_txn_commit(t);
}

void lmdb_txn::abort() {
  if (txn_ != nullptr)
    mdb_txn_abort(txn_);
  txn_ = nullptr;
}

int lmdb_txn::open_db(const char* name, bool create, MDB_dbi& out) {
  return mdb_dbi_open(txn_, name, create ? MDB_CREATE : 0, &out);
}

int lmdb_txn::get(MDB_dbi db, std::string_view key, std::string_view& out) {
  MDB_val k = to_val(key);
  MDB_val v;
  int rc = mdb_get(txn_, db, &k, &v);
  if (rc == 0)
    out = to_view(v);
  return rc;
}

int lmdb_txn::put(MDB_dbi db, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  return mdb_put(txn_, db, &k, &v, flags);
}

int lmdb_txn::del(MDB_dbi db, std::string_view key) {
  MDB_val k = to_val(key);
  return mdb_del(txn_, db, &k, nullptr);
}

lmdb_cursor::~lmdb_cursor() {
  if (cur_ != nullptr)
    mdb_cursor_close(cur_);
}

int lmdb_cursor::open(lmdb_txn& txn, MDB_dbi db) {
  return mdb_cursor_open(txn.get(), db, &cur_);
}

int lmdb_cursor::get(std::string_view& key, std::string_view& value, MDB_cursor_op op) {
  MDB_val k = to_val(key);
  MDB_val v{0, nullptr};
  int rc = mdb_cursor_get(cur_, &k, &v, op);
  if (rc == 0) {
    key = to_view(k);
    value = to_view(v);
  }
  return rc;
}

int lmdb_cursor::del() {
  return mdb_cursor_del(cur_, 0);
}

} // namespace ferro::storage
