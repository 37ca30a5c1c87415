// The simulator's power loss (sim/sim_disk.cpp) on a real store: what an
// fsync covered survives it, the newest commit no fsync covered does not.

#include <catch2/catch.hpp>

#include <random>

#include "sim/sim_cluster.hpp"
#include "storage/wal_store.hpp"

using namespace ferro;

namespace {

const namespace_key key{"m::4", "t", ""};

log_record insert(const std::string& uuid) {
  log_record r;
  r.op = log_op::insert;
  r.ns = key;
  r.entry.uuid = uuid;
  r.entry.embedding = {1.0f, 0.5f, 0.25f, 0.125f};
  r.entry.response = "response";
  return r;
}

struct data_dir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("ferro-sim-disk-" + std::to_string(std::random_device{}()));
  ~data_dir() { std::filesystem::remove_all(path); }
};

std::unique_ptr<wal_store> open(const data_dir& d, std::shared_ptr<io_faults> faults = {}) {
  storage_options o;
  o.data_dir = d.path;
  o.map_size_bytes = std::size_t{16} << 20;
  o.faults = std::move(faults);
  auto s = wal_store::open(o);
  REQUIRE(s.ok());
  return std::move(*s);
}

// The simulator's disk under the store of `d`, its faults drawn from `rng`.
std::shared_ptr<sim::sim_disk> disk_of(const data_dir& d, std::mt19937_64& rng) {
  auto disk = std::make_shared<sim::sim_disk>();
  disk->rng = &rng;
  disk->lmdb_file = d.path / "lmdb" / "data.mdb";
  return disk;
}

std::vector<log_op> ops_after_recovery(const data_dir& d) {
  auto store = open(d);
  auto rep = store->recover();
  REQUIRE(rep.ok());
  std::vector<log_op> ops;
  for (const auto& ns : rep->namespaces)
    for (const auto& r : ns.tail)
      ops.push_back(r.op);
  return ops;
}

} // namespace

TEST_CASE("a power loss keeps every commit an fsync covered") {
  data_dir d;
  std::mt19937_64 rng{1};
  auto disk = disk_of(d, rng);
  {
    auto store = open(d, disk);
    std::vector<log_record> batch{insert("a1"), insert("a2")};
    REQUIRE(store->append(batch).ok());
  }
  CHECK(disk->synced_txnid == sim::newest_lmdb_txnid(disk->lmdb_file));
  CHECK_FALSE(sim::revert_unsynced_meta(disk->lmdb_file, disk->synced_txnid));
  CHECK(ops_after_recovery(d) == std::vector<log_op>{log_op::insert, log_op::insert});
}

TEST_CASE("a power loss after failed fsyncs loses the newest commit: a voided batch comes back") {
  data_dir d;
  std::mt19937_64 rng{1};
  auto disk = disk_of(d, rng);
  {
    auto store = open(d, disk);
    std::vector<log_record> first{insert("a1")};
    REQUIRE(store->append(first).ok());
    // Both the batch's fsync and the fsync of its void placeholders fail:
    // the placeholders' commit is the newest, and nothing made it durable
    // (the batch itself was, by LMDB's fsync of the placeholders' pages).
    disk->sync_failure = 1;
    std::vector<log_record> second{insert("a2")};
    REQUIRE_FALSE(store->append(second).ok());
  }
  // Without the power loss, the batch stays void.
  std::filesystem::path copy = d.path.string() + "-copy";
  std::filesystem::copy(d.path, copy, std::filesystem::copy_options::recursive);
  CHECK(sim::newest_lmdb_txnid(disk->lmdb_file) > disk->synced_txnid);
  CHECK(sim::revert_unsynced_meta(disk->lmdb_file, disk->synced_txnid));
  // The failed batch is back whole, which its error reply permits (a
  // restart "may" replay it: wal_store::append).
  CHECK(ops_after_recovery(d) == std::vector<log_op>{log_op::insert, log_op::insert});
  std::filesystem::remove_all(d.path);
  std::filesystem::rename(copy, d.path);
  CHECK(ops_after_recovery(d) == std::vector<log_op>{log_op::insert});
}
