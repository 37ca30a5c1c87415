// The simulated disk (docs/simulation.md, "Fault model"): full disks and
// failed fsyncs, reads that return bad bytes, and what a power loss takes
// with it (the LMDB commit no fsync covered, the files of snapshots not
// published yet, the election file's append in flight).

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

namespace {

// LMDB 0.9's data file starts with two meta pages; the one with the larger
// transaction id is the current state (mdb_env_pick_meta). Offsets in a
// meta page: a 16-byte page header, then MDB_meta: magic (4), version (4),
// address (8), map size (8), two MDB_db of 48 bytes (the first one's first
// field holds the page size), last page (8), transaction id (8).
constexpr std::size_t meta_start = 16;
constexpr std::size_t meta_bytes = 136;
constexpr std::size_t page_size_at = meta_start + 24;
constexpr std::size_t txnid_at = meta_start + 128;
constexpr std::uint32_t lmdb_magic = 0xBEEFC0DE;

struct lmdb_metas {
  std::uint32_t page_size = 0;
  std::array<std::array<char, meta_bytes>, 2> meta{};
  std::array<std::uint64_t, 2> txnid{};
};

template <class T>
T field(const std::array<char, meta_bytes>& m, std::size_t at) {
  T v;
  std::memcpy(&v, m.data() + (at - meta_start), sizeof v);
  return v;
}

std::optional<lmdb_metas> read_metas(int fd) {
  lmdb_metas out;
  if (::pread(fd, out.meta[0].data(), meta_bytes, meta_start) != static_cast<ssize_t>(meta_bytes) ||
      field<std::uint32_t>(out.meta[0], meta_start) != lmdb_magic)
    return std::nullopt;
  out.page_size = field<std::uint32_t>(out.meta[0], page_size_at);
  if (out.page_size < 512 ||
      ::pread(fd, out.meta[1].data(), meta_bytes, out.page_size + meta_start) !=
          static_cast<ssize_t>(meta_bytes) ||
      field<std::uint32_t>(out.meta[1], meta_start) != lmdb_magic)
    return std::nullopt;
  for (std::size_t i = 0; i < 2; ++i)
    out.txnid[i] = field<std::uint64_t>(out.meta[i], txnid_at);
  return out;
}

// A file written without a sync, after a power loss: cut short, or with a
// stretch of it garbage (the pages that did not reach the disk).
void tear(const std::filesystem::path& file, std::mt19937_64& rng) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec || size == 0)
    return;
  if (std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
    std::filesystem::resize_file(file, std::uniform_int_distribution<std::uintmax_t>(0, size - 1)(rng), ec);
    return;
  }
  auto from = std::uniform_int_distribution<std::uintmax_t>(0, size - 1)(rng);
  auto len =
      std::uniform_int_distribution<std::uintmax_t>(1, std::min<std::uintmax_t>(size - from, 8192))(rng);
  std::string garbage(len, '\0');
  for (auto& c : garbage)
    c = static_cast<char>(rng());
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  (void)!::pwrite(fd, garbage.data(), garbage.size(), static_cast<off_t>(from));
  ::close(fd);
}

// The election file's append in flight at a power loss (its sync not done,
// so the grant it held was never answered): a part of a line after the
// synced ones. Modelled as a proper prefix of the file's last line, the
// shape such a line has. True when one was added.
bool tear_election_append(const std::filesystem::path& file, std::mt19937_64& rng) {
  std::string text;
  {
    std::ifstream in(file, std::ios::binary);
    if (!in)
      return false;
    std::stringstream all;
    all << in.rdbuf();
    text = all.str();
  }
  if (text.size() < 2 || text.back() != '\n')
    return false;
  auto start = text.rfind('\n', text.size() - 2);
  if (start == std::string::npos)
    return false;
  auto line = text.substr(start + 1); // with its newline
  if (line.size() < 2)
    return false;
  auto keep = std::uniform_int_distribution<std::size_t>(1, line.size() - 1)(rng);
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out << line.substr(0, keep);
  return static_cast<bool>(out);
}

// Whether the store of `data_dir` is closed (it holds an exclusive flock on
// LOCK while open; a second open file description of it conflicts).
bool store_closed(const std::filesystem::path& data_dir) {
  int fd = ::open((data_dir / "LOCK").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return true;
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd); // drops the flock with it
  return free;
}

} // namespace

// Forgets the newest meta page when no fsync made it durable: LMDB (with
// MDB_NOMETASYNC, the store's ordered mode) fsyncs a commit's data pages,
// which also carries every earlier meta page to the disk, but writes the
// commit's own meta page after that fsync; the store's fsync makes it
// durable. A power loss before that leaves the older meta page as the
// newest, and the older tree it points to is intact (LMDB reuses no page
// the previous two transactions can reach). Returns whether one was lost.
bool revert_unsynced_meta(const std::filesystem::path& data_file, std::uint64_t synced_txnid) {
  int fd = ::open(data_file.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool lost = false;
  if (auto m = read_metas(fd)) {
    std::size_t newest = m->txnid[1] > m->txnid[0] ? 1 : 0;
    if (m->txnid[newest] > synced_txnid && m->txnid[1 - newest] < m->txnid[newest]) {
      // Both slots then hold the older meta; LMDB opens that state.
      lost = ::pwrite(fd, m->meta[1 - newest].data(), meta_bytes, newest * m->page_size + meta_start) ==
             static_cast<ssize_t>(meta_bytes);
    }
  }
  ::close(fd);
  return lost;
}

std::uint64_t newest_lmdb_txnid(const std::filesystem::path& data_file) {
  int fd = ::open(data_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  auto m = read_metas(fd);
  ::close(fd);
  return m ? std::max(m->txnid[0], m->txnid[1]) : 0;
}

status sim_disk::before_commit() {
  if (commit_failure > 0 && std::uniform_real_distribution<double>(0, 1)(*rng) < commit_failure) {
    ++failures;
    return error{errc::unavailable, "sim: no space left on device"};
  }
  return {};
}

status sim_disk::before_sync() {
  if (sync_failure > 0 && std::uniform_real_distribution<double>(0, 1)(*rng) < sync_failure) {
    ++failures;
    return error{errc::unavailable, "sim: fsync failed: input/output error"};
  }
  // The fsync that follows makes every commit so far durable.
  if (!lmdb_file.empty())
    synced_txnid = newest_lmdb_txnid(lmdb_file);
  return {};
}

// Bytes bad on the disk stay bad: every read of a rotten item returns
// damage. New damage is found at a rate per read; found by a restart's
// recovery it is on the disk (rot), found by a running node's read (a
// catch-up reading its log for a peer) it is a read that went wrong once.
void sim_disk::after_read(std::string_view what, std::string& bytes) {
  if (bytes.empty() || damage_rng == nullptr)
    return;
  std::pair<std::string, std::size_t> item{std::string{what}, std::hash<std::string>{}(bytes)};
  bool bad = rotten->count(item) > 0;
  if (!bad && corrupt_read > 0 && std::uniform_real_distribution<double>(0, 1)(*damage_rng) < corrupt_read) {
    bad = true;
    if (rot)
      rotten->insert(std::move(item));
  }
  if (!bad)
    return;
  ++damaged_reads;
  // A few bytes flipped anywhere (a bad sector, a misdirected write): the
  // store's CRC-32C misses such a change about once in 2^32.
  auto flips = std::uniform_int_distribution<int>(1, 4)(*damage_rng);
  for (int i = 0; i < flips; ++i) {
    auto at = std::uniform_int_distribution<std::size_t>(0, bytes.size() - 1)(*damage_rng);
    bytes[at] = static_cast<char>(bytes[at] ^ std::uniform_int_distribution<int>(1, 255)(*damage_rng));
  }
  spdlog::debug("sim: a read of {} returns {} damaged bytes{}", what, flips, rot ? " (on disk)" : "");
}

void simulation::kill_abruptly(sim_node& n) {
  // Snapshots in flight, as a kill finds them now and then (the sweeps'
  // namespaces never reach the automatic threshold); their answer goes
  // nowhere.
  n.local->compact([](result<compact_reply>) {});
  // One job at a time (a step runs a whole snapshot): the kill lands before,
  // between or after the writes, renames and commits of the snapshots.
  auto jobs = std::uniform_int_distribution<int>(0, 40)(damage_rng_);
  for (int i = 0; i < jobs && sched_->try_run_once(); ++i) {
  }
  n.local->halt();
  for (int i = 0; i < 20; ++i) // the actors take their exit and release the store
    step();
}

void simulation::lose_unsynced(sim_node& n) {
  auto dir = root_ / n.id;
  if (!store_closed(dir)) {
    spdlog::warn("sim: t={} {}'s store is still open after its crash: nothing unsynced lost", now(), n.id);
    return;
  }
  ++result_.power_losses;
  if (revert_unsynced_meta(dir / "lmdb" / "data.mdb", n.disk->synced_txnid)) {
    ++result_.lost_commits;
    spdlog::debug("sim: t={} {} loses its newest LMDB commit (no fsync covered it)", now(), n.id);
  }
  // Temp dirs of snapshots not published yet: their files may not be
  // synced (all are torn here, synced or not: recovery must trust none).
  // In name order: a directory lists its entries in no promised order, and
  // the tears draw from the seed's generator.
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator(dir / "snapshots", ec)) {
    if (d.path().filename().string().rfind("tmp-", 0) != 0)
      continue;
    std::error_code fec;
    for (const auto& f : std::filesystem::directory_iterator(d.path(), fec))
      if (f.is_regular_file(fec))
        files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    tear(f, damage_rng_);
    ++result_.torn_files;
    spdlog::debug("sim: t={} {}: unpublished {} torn", now(), n.id, f.string());
  }
  if (std::uniform_int_distribution<int>(0, 1)(damage_rng_) == 0 &&
      tear_election_append(dir / "cluster-elections", damage_rng_)) {
    ++result_.torn_files;
    spdlog::debug("sim: t={} {}: the election file ends in a torn append", now(), n.id);
  }
}

} // namespace ferro::sim
