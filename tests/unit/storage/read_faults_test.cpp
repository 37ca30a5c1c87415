// Reads that return bad bytes (io_faults::after_read): the store's checks
// must catch them wherever it reads, and never hand a damaged record or
// snapshot on.

#include <catch2/catch.hpp>

#include <set>

#include "storage/snapshot_files.hpp"
#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;

namespace {

const namespace_key ns_a{"model-a::8", "t", ""}; // id 1: the first namespace appended
const namespace_key ns_b{"model-b::8", "t", ""}; // id 2
constexpr std::size_t dim = 8;

// A disk that returns one byte flipped for the items it is told about.
struct damaging_reads final : io_faults {
  std::set<std::string> bad;         ///< names as the store gives them ("wal 1/2", a path)
  std::vector<std::string> read_log; ///< every item read, in order
  void after_read(std::string_view what, std::string& bytes) override {
    read_log.emplace_back(what);
    if (bad.count(std::string{what}) && !bytes.empty())
      bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x20);
  }
};

void append_ok(wal_store& s, std::vector<log_record> batch) {
  auto st = s.append(batch);
  if (!st.ok())
    FAIL("append failed: " << st.err().message);
}

std::vector<labelled_entry> labelled(const std::vector<std::string>& uuids) {
  std::vector<labelled_entry> out;
  std::uint64_t label = 0;
  for (const auto& u : uuids)
    out.push_back(labelled_entry{label++, make_entry(u, dim)});
  return out;
}

} // namespace

TEST_CASE("a log record read back damaged in recovery is not replayed and marks its namespace damaged") {
  temp_dir tmp;
  auto faults = std::make_shared<damaging_reads>();
  {
    auto store = open_store(options_for(tmp.path(), faults));
    append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_b, "b1", dim)});
    append_ok(*store, {insert_of(ns_a, "a2", dim)});
    append_ok(*store, {insert_of(ns_a, "a3", dim), insert_of(ns_b, "b2", dim)});
  }
  faults->bad = {"wal 1/2"};
  auto store = open_store(options_for(tmp.path(), faults));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 1);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  // Record 2 might have removed a1: a1 is withheld, a3 after it replayed.
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{3});
  CHECK(a->damaged);
  auto b = find_ns(rep, ns_b);
  REQUIRE(b != nullptr);
  CHECK_FALSE(b->damaged);
  CHECK(tail_seqs(*b) == std::vector<std::uint64_t>{1, 2});

  // The same bytes read right are the whole log again: nothing was rewritten.
  faults->bad.clear();
  auto clean = recover_all(*store);
  CHECK(clean.corrupt_records == 0);
  CHECK_FALSE(find_ns(clean, ns_a)->damaged);
  CHECK(tail_seqs(*find_ns(clean, ns_a)) == std::vector<std::uint64_t>{1, 2, 3});
}

TEST_CASE("read_after refuses a range holding a record read back damaged instead of shipping it") {
  temp_dir tmp;
  auto faults = std::make_shared<damaging_reads>();
  auto store = open_store(options_for(tmp.path(), faults));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim), insert_of(ns_a, "a3", dim)});
  faults->bad = {"wal 1/2"};
  auto damaged = store->read_after(ns_a, 0, 10);
  REQUIRE_FALSE(damaged.ok());
  // not_found sends a catch-up to the image (cluster_replication.cpp).
  CHECK(damaged.err().code == errc::not_found);
  CHECK_THAT(damaged.err().message, Catch::Contains("record 2") && Catch::Contains("does not verify"));
  // Past the damage the log still streams, and read right it streams whole.
  auto after = store->read_after(ns_a, 2, 10);
  REQUIRE(after.ok());
  CHECK(after->size() == 1);
  faults->bad.clear();
  auto whole = store->read_after(ns_a, 0, 10);
  REQUIRE(whole.ok());
  CHECK(whole->size() == 3);
}

TEST_CASE("a snapshot's entries file read back damaged loses the snapshot, a damaged graph only the graph") {
  temp_dir tmp;
  auto faults = std::make_shared<damaging_reads>();
  fs::path entries_file, graph_file;
  {
    auto store = open_store(options_for(tmp.path(), faults));
    append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim)});
    append_ok(*store, {insert_of(ns_b, "b1", dim)});
    for (const auto& ns : {ns_a, ns_b}) {
      auto dir = store->begin_snapshot(ns);
      REQUIRE(dir.ok());
      write_text(*dir / storage::graph_file_name, "graph bytes");
      auto uuids = ns == ns_a ? std::vector<std::string>{"a1", "a2"} : std::vector<std::string>{"b1"};
      REQUIRE(store->commit_snapshot(ns, *dir, ns == ns_a ? 2 : 1, dim, labelled(uuids)).ok());
    }
    append_ok(*store, {insert_of(ns_a, "a3", dim)});
  }
  // Published as s-<id>-<generation>.
  entries_file = tmp.path() / "snapshots" / "s-1-1" / storage::entries_file_name;
  graph_file = tmp.path() / "snapshots" / "s-2-1" / storage::graph_file_name;
  REQUIRE(fs::exists(entries_file));
  REQUIRE(fs::exists(graph_file));
  faults->bad = {entries_file.string(), graph_file.string()};
  auto store = open_store(options_for(tmp.path(), faults));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->snapshot_lost);
  CHECK(a->snapshot_entries.empty());
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{3});
  auto b = find_ns(rep, ns_b);
  REQUIRE(b != nullptr);
  CHECK_FALSE(b->snapshot_lost);
  CHECK(b->snapshot_entries.size() == 1);
  CHECK_FALSE(b->graph_file.has_value()); // rebuilt from the entries, which verified
  // Both files went through the seam.
  CHECK(std::count(faults->read_log.begin(), faults->read_log.end(), entries_file.string()) == 1);
  CHECK(std::count(faults->read_log.begin(), faults->read_log.end(), graph_file.string()) == 1);
}
