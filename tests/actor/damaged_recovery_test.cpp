// A copy whose disk returned bad bytes at recovery must not pass for a
// whole copy: partial (no election counts it as a holder) and of unknown
// lineage (a primary rebuilds it by the image, not by the log after its
// last record).

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>
#include <set>

#include "actors/recovery.hpp"
#include "storage/snapshot_files.hpp"
#include "storage/wal_store.hpp"

using namespace ferro;

namespace {

const namespace_key key{"m::4", "t", ""}; // namespace id 1 in a new store
constexpr std::size_t dim = 4;

struct damaging_reads final : io_faults {
  std::set<std::string> bad;
  void after_read(std::string_view what, std::string& bytes) override {
    if (bad.count(std::string{what}) && !bytes.empty())
      bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x41);
  }
};

struct data_dir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("ferro-damaged-" + std::to_string(std::random_device{}()));
  ~data_dir() { std::filesystem::remove_all(path); }
};

log_record insert(const std::string& uuid, std::uint64_t epoch) {
  log_record r;
  r.op = log_op::insert;
  r.ns = key;
  r.epoch = epoch;
  r.entry.uuid = uuid;
  r.entry.embedding = {1.0f, 0.5f, 0.25f, static_cast<float>(uuid.size())};
  r.entry.response = "response";
  return r;
}

std::unique_ptr<wal_store> open(const data_dir& d, std::shared_ptr<io_faults> faults) {
  storage_options o;
  o.data_dir = d.path;
  o.map_size_bytes = std::size_t{16} << 20;
  o.faults = std::move(faults);
  auto s = wal_store::open(o);
  REQUIRE(s.ok());
  return std::move(*s);
}

namespace_start recover_one(wal_store& store) {
  node_metrics metrics;
  auto recovered = recover_namespaces(store, hnsw_params{}, metrics, 1);
  REQUIRE(recovered.ok());
  REQUIRE(recovered->size() == 1);
  return std::move(recovered->front());
}

void append(wal_store& store, std::vector<log_record> batch) {
  REQUIRE(store.append(batch).ok());
}

} // namespace

TEST_CASE("a copy whose log record reads back damaged recovers as partial and of unknown lineage") {
  data_dir d;
  auto faults = std::make_shared<damaging_reads>();
  {
    auto store = open(d, faults);
    append(*store, {insert("a1", 5), insert("a2", 5)});
    append(*store, {insert("a3", 5)});
  }
  {
    auto store = open(d, faults);
    auto start = recover_one(*store);
    CHECK_FALSE(start.partial);
    CHECK(start.last_epoch == 5);
  }
  faults->bad = {"wal 1/2"};
  auto store = open(d, faults);
  auto start = recover_one(*store);
  CHECK(start.partial);
  CHECK(start.last_epoch == 0);
  CHECK(start.index->size() == 1); // a3 only: a1 is withheld with the record that might have removed it
}

TEST_CASE("a copy whose snapshot reads back damaged recovers as partial and of unknown lineage") {
  data_dir d;
  auto faults = std::make_shared<damaging_reads>();
  {
    auto store = open(d, faults);
    append(*store, {insert("a1", 5), insert("a2", 5)});
    auto dir = store->begin_snapshot(key);
    REQUIRE(dir.ok());
    std::vector<labelled_entry> entries{{0, insert("a1", 5).entry}, {1, insert("a2", 5).entry}};
    REQUIRE(store->commit_snapshot(key, *dir, 2, dim, entries).ok());
    append(*store, {insert("a3", 5)});
  }
  faults->bad = {(d.path / "snapshots" / "s-1-1" / storage::entries_file_name).string()};
  auto store = open(d, faults);
  auto start = recover_one(*store);
  // Its tail (a3, epoch 5) alone would make it look like a copy at (3, 5),
  // equal to a primary's: it holds one entry of three.
  CHECK(start.index->size() == 1);
  CHECK(start.partial);
  CHECK(start.last_epoch == 0);
}
