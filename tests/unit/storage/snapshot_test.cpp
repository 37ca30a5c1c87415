#include <catch2/catch.hpp>

#include "storage/snapshot_files.hpp"
#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;

namespace {

const namespace_key ns_a{"model-a::8", "t", ""};
const namespace_key ns_b{"model-b::8", "t", ""};
constexpr std::size_t dim = 8;

std::vector<labelled_entry> labelled(const std::vector<std::string>& uuids, std::uint64_t access_count = 0) {
  std::vector<labelled_entry> out;
  std::uint64_t label = 0;
  for (const auto& u : uuids) {
    labelled_entry le{label++, make_entry(u, dim)};
    le.entry.access_count = access_count;
    out.push_back(std::move(le));
  }
  return out;
}

void append_ok(wal_store& s, std::vector<log_record> batch) {
  auto st = s.append(batch);
  if (!st.ok())
    FAIL("append failed: " << st.err().message);
}

status snapshot(wal_store& s, const namespace_key& ns, std::uint64_t covered,
                const std::vector<labelled_entry>& entries, const std::string& graph) {
  auto dir = s.begin_snapshot(ns);
  if (!dir)
    return dir.err();
  if (!graph.empty())
    write_text(*dir / "graph.hnsw", graph);
  return s.commit_snapshot(ns, *dir, covered, dim, entries);
}

std::string uuid_of(int i) {
  std::string s = "a";
  s += std::to_string(i);
  return s;
}

fs::path snapshots_of(const fs::path& data_dir) {
  return data_dir / "snapshots";
}

} // namespace

TEST_CASE("a committed snapshot is recovered with its graph and only the later tail") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim), insert_of(ns_b, "b1", dim),
                       insert_of(ns_a, "a3", dim)});
    REQUIRE(snapshot(*store, ns_a, 3, labelled({"a1", "a2", "a3"}), "graph-v1").ok());
    append_ok(*store, {remove_of(ns_a, "a2"), insert_of(ns_a, "a4", dim)});
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.messages.empty());
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->snapshot_ns_seq == 3);
  CHECK(a->dimension == dim);
  REQUIRE(a->graph_file.has_value());
  CHECK(read_text(*a->graph_file) == "graph-v1");
  CHECK(a->snapshot_entries.size() == 3);
  CHECK(a->snapshot_entries[1].label == 1);
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{4, 5});
  CHECK(replay(*a) == std::map<std::string, std::string>{
                          {"a1", "response of a1"}, {"a3", "response of a3"}, {"a4", "response of a4"}});
  auto b = find_ns(rep, ns_b);
  REQUIRE(b != nullptr);
  CHECK(tail_seqs(*b) == std::vector<std::uint64_t>{1});
  CHECK(rep.replayable_records == 3);
  // Sequence numbers continue above the records the snapshot dropped.
  std::vector<log_record> next{insert_of(ns_a, "a5", dim)};
  REQUIRE(store->append(next).ok());
  CHECK(next[0].ns_seq == 6);
}

TEST_CASE("a reappearing namespace can be snapshotted below its first sequence number") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_b, "b1", dim), insert_of(ns_b, "b2", dim)});
  append_ok(*store, {insert_of(ns_a, "a1", dim)}); // a's numbers start at 3
  CHECK(store->last_ns_seq(ns_a) == 3);
  // Covers none of a's records: they stay in the tail.
  REQUIRE(snapshot(*store, ns_a, 0, {}, "").ok());
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->snapshot_ns_seq == 0);
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{3});
  CHECK(rep.corrupt_records == 0);
  REQUIRE(snapshot(*store, ns_a, 3, labelled({"a1"}), "").ok());
  CHECK(find_ns(recover_all(*store), ns_a)->tail.empty());
}

TEST_CASE("a snapshot without a graph file is fine") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim)});
  REQUIRE(snapshot(*store, ns_a, 1, labelled({"a1"}), "").ok());
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK_FALSE(a->graph_file.has_value());
  CHECK(a->snapshot_entries.size() == 1);
  CHECK(a->tail.empty());
}

TEST_CASE("re-snapshotting at the same sequence number replaces the old snapshot") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim)});
    REQUIRE(snapshot(*store, ns_a, 2, labelled({"a1", "a2"}, 0), "g1").ok());
    // Shutdown snapshot: no new records, but access statistics changed.
    REQUIRE(snapshot(*store, ns_a, 2, labelled({"a1", "a2"}, 7), "g2").ok());
  }
  CHECK(dir_names(snapshots_of(tmp.path())).size() == 1);
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  REQUIRE(a->snapshot_entries.size() == 2);
  CHECK(a->snapshot_entries[0].access_count == 7);
  CHECK(read_text(*a->graph_file) == "g2");
}

TEST_CASE("commit_snapshot refuses bad arguments and removes the temp dir") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim)});
  REQUIRE(snapshot(*store, ns_a, 1, labelled({"a1"}), "").ok());

  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  status st;
  SECTION("covered beyond the last sequence number") {
    st = store->commit_snapshot(ns_a, *dir, 3, dim, labelled({"a1", "a2"}));
  }
  SECTION("covered below the current snapshot") {
    st = store->commit_snapshot(ns_a, *dir, 0, dim, {});
  }
  SECTION("dimension differs from the namespace's") {
    st = store->commit_snapshot(ns_a, *dir, 2, 4, {});
  }
  SECTION("an entry of another dimension") {
    auto entries = labelled({"a1", "a2"});
    entries[1].entry.embedding.push_back(0.5f);
    st = store->commit_snapshot(ns_a, *dir, 2, dim, entries);
  }
  REQUIRE_FALSE(st.ok());
  CHECK_FALSE(fs::exists(*dir));
  auto rep = recover_all(*store);
  CHECK(find_ns(rep, ns_a)->snapshot_ns_seq == 1);
  CHECK(tail_seqs(*find_ns(rep, ns_a)) == std::vector<std::uint64_t>{2});
}

TEST_CASE("a temp dir handed out for another namespace is refused and left to its owner") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_b, "b1", dim)});
  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  CHECK_FALSE(store->commit_snapshot(ns_b, *dir, 1, dim, labelled({"b1"})).ok());
  REQUIRE(fs::exists(*dir));
  REQUIRE(store->commit_snapshot(ns_a, *dir, 1, dim, labelled({"a1"})).ok());
  auto rep = recover_all(*store);
  CHECK(find_ns(rep, ns_a)->snapshot_entries.size() == 1);
  CHECK(find_ns(rep, ns_b)->snapshot_entries.empty());
}

TEST_CASE("a temp dir not handed out by begin_snapshot is refused") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim)});
  auto fake = tmp.path() / "snapshots" / "tmp-999";
  fs::create_directories(fake);
  CHECK_FALSE(store->commit_snapshot(ns_a, fake, 1, dim, labelled({"a1"})).ok());
  CHECK_FALSE(store->abandon_snapshot(fake).ok());
  auto real = store->begin_snapshot(ns_a);
  REQUIRE(real.ok());
  CHECK(store->abandon_snapshot(*real).ok());
  CHECK_FALSE(fs::exists(*real));
}

TEST_CASE("a crash at any step of a snapshot commit leaves the old or the new snapshot and never a mix") {
  const std::vector<std::pair<io_step, int>> crash_points{
      {io_step::file_write, 1}, // entries file
      {io_step::file_write, 2}, // graph file
      {io_step::publish, 1},    // rename of the temp dir
      {io_step::commit, 1},     // manifest + WAL truncation
      {io_step::sync, 1},       // durability of that commit
      {io_step::remove, 1},     // removal of the replaced dir
  };
  for (auto [step, nth] : crash_points) {
    for (bool crash : {true, false}) {
      DYNAMIC_SECTION("failing at " << to_string(step) << " #" << nth
                                    << (crash ? " as a crash" : " as an error")) {
        temp_dir tmp;
        auto faults = std::make_shared<scripted_faults>();
        const std::map<std::string, std::string> expected{{"a1", "response of a1"},
                                                          {"a3", "response of a3"},
                                                          {"a4", "response of a4"},
                                                          {"a5", "response of a5"},
                                                          {"a6", "response of a6"}};
        {
          auto store = open_store(options_for(tmp.path(), faults));
          append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim),
                             insert_of(ns_a, "a3", dim), insert_of(ns_b, "b1", dim)});
          REQUIRE(snapshot(*store, ns_a, 3, labelled({"a1", "a2", "a3"}), "graph-old").ok());
          append_ok(*store, {insert_of(ns_a, "a4", dim), remove_of(ns_a, "a2"), insert_of(ns_a, "a5", dim)});
          faults->fail_at(step, nth, crash);
          auto st = snapshot(*store, ns_a, 6, labelled({"a1", "a3", "a4", "a5"}), "graph-new");
          CHECK_FALSE((st.ok() && step != io_step::remove));
          CHECK(faults->failures() >= 1);
          if (!crash) {
            // Not a crash: the same store keeps working.
            append_ok(*store, {insert_of(ns_a, "a6", dim)});
          }
        }
        auto store = open_store(options_for(tmp.path()));
        if (crash)
          append_ok(*store, {insert_of(ns_a, "a6", dim)});
        auto rep = recover_all(*store);
        CHECK(rep.corrupt_records == 0);
        auto a = find_ns(rep, ns_a);
        REQUIRE(a != nullptr);
        CHECK_FALSE(a->snapshot_lost);
        CHECK(replay(*a) == expected);
        REQUIRE(a->graph_file.has_value());
        if (a->snapshot_ns_seq == 3) {
          CHECK(read_text(*a->graph_file) == "graph-old");
          CHECK(a->snapshot_entries.size() == 3);
          CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{4, 5, 6, 7});
        } else {
          REQUIRE(a->snapshot_ns_seq == 6);
          CHECK(read_text(*a->graph_file) == "graph-new");
          CHECK(a->snapshot_entries.size() == 4);
          CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{7});
        }
        // The steps before the commit can only leave the old snapshot.
        if (step == io_step::file_write || step == io_step::publish || step == io_step::commit)
          CHECK(a->snapshot_ns_seq == 3);
        CHECK(replay(*find_ns(rep, ns_b)).count("b1") == 1);
        // Temp and orphaned dirs are gone after the reopen: one dir is left.
        CHECK(dir_names(snapshots_of(tmp.path())).size() == 1);
      }
    }
  }
}

TEST_CASE("a failed snapshot commit can be retried") {
  temp_dir tmp;
  auto faults = std::make_shared<scripted_faults>();
  auto store = open_store(options_for(tmp.path(), faults));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim)});
  faults->fail_at(io_step::commit, 1);
  REQUIRE_FALSE(snapshot(*store, ns_a, 2, labelled({"a1", "a2"}), "g").ok());
  REQUIRE(snapshot(*store, ns_a, 2, labelled({"a1", "a2"}), "g").ok());
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  CHECK(a->snapshot_ns_seq == 2);
  CHECK(a->tail.empty());
  CHECK(dir_names(snapshots_of(tmp.path())).size() == 1);
}

TEST_CASE("stale temp dirs and orphaned snapshot dirs are removed at open") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim)});
    REQUIRE(snapshot(*store, ns_a, 1, labelled({"a1"}), "g").ok());
  }
  auto snaps = snapshots_of(tmp.path());
  auto published = dir_names(snaps);
  REQUIRE(published.size() == 1);
  fs::create_directories(snaps / "tmp-17");
  write_text(snaps / "tmp-17" / "graph.hnsw", "half written");
  fs::create_directories(snaps / "s-1-99"); // renamed, manifest never committed
  fs::create_directories(snaps / "s-42-1"); // namespace that no longer exists
  fs::create_directories(snaps / "README-not-ours");
  auto store = open_store(options_for(tmp.path()));
  auto left = dir_names(snaps);
  CHECK(left == std::vector<std::string>{"README-not-ours", published[0]});
  auto rep = recover_all(*store);
  CHECK(find_ns(rep, ns_a)->snapshot_entries.size() == 1);
  // Unknown names are reported, not deleted.
  REQUIRE(rep.messages.size() == 1);
  CHECK_THAT(rep.messages[0], Catch::Contains("README-not-ours"));
}

TEST_CASE("a corrupt snapshot entries file is detected and the namespace recovers its tail") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim), insert_of(ns_b, "b1", dim)});
    REQUIRE(snapshot(*store, ns_a, 2, labelled({"a1", "a2"}), "g").ok());
    append_ok(*store, {insert_of(ns_a, "a3", dim)});
  }
  auto snaps = snapshots_of(tmp.path());
  auto entries_file = snaps / dir_names(snaps)[0] / "entries.msgpack";
  auto bytes = read_text(entries_file);
  SECTION("flipped byte") {
    bytes[bytes.size() - 20] = static_cast<char>(bytes[bytes.size() - 20] ^ 0x40);
    write_text(entries_file, bytes);
  }
  SECTION("truncated") {
    write_text(entries_file, bytes.substr(0, bytes.size() / 2));
  }
  SECTION("missing") {
    fs::remove(entries_file);
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->snapshot_lost);
  CHECK(a->snapshot_entries.empty());
  CHECK_FALSE(a->graph_file.has_value());
  CHECK(a->snapshot_ns_seq == 2);
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{3});
  REQUIRE_FALSE(rep.messages.empty());
  CHECK_THAT(rep.messages[0], Catch::Contains("model-a::8::t") && Catch::Contains("snapshot"));
  CHECK(replay(*find_ns(rep, ns_b)).count("b1") == 1);
  // The namespace stays writable: a fresh snapshot replaces the lost one.
  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  REQUIRE(store->commit_snapshot(ns_a, *dir, 3, dim, labelled({"a3"})).ok());
  auto again = recover_all(*store);
  CHECK_FALSE(find_ns(again, ns_a)->snapshot_lost);
}

TEST_CASE("a corrupt graph file is reported and the entries still recover") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim)});
    REQUIRE(snapshot(*store, ns_a, 1, labelled({"a1"}), "the-graph-bytes").ok());
  }
  auto snaps = snapshots_of(tmp.path());
  write_text(snaps / dir_names(snaps)[0] / "graph.hnsw", "the-graph-bytez");
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK_FALSE(a->graph_file.has_value());
  CHECK_FALSE(a->snapshot_lost);
  CHECK(a->snapshot_entries.size() == 1);
  REQUIRE(rep.messages.size() == 1);
  CHECK_THAT(rep.messages[0], Catch::Contains("rebuild"));
}

TEST_CASE("drop_namespace forgets the namespace and keeps its sequence numbers monotonic") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim), insert_of(ns_b, "b1", dim)});
    REQUIRE(snapshot(*store, ns_a, 2, labelled({"a1", "a2"}), "g").ok());
    append_ok(*store, {remove_of(ns_a, "a1"), remove_of(ns_a, "a2")});
    CHECK(store->last_ns_seq(ns_a) == 4);
    REQUIRE(store->drop_namespace(ns_a).ok());
    CHECK(store->last_ns_seq(ns_a) == 0);
    CHECK(dir_names(snapshots_of(tmp.path())).empty());
    REQUIRE(store->drop_namespace(ns_a).ok()); // unknown: no-op
    auto rep = recover_all(*store);
    CHECK(find_ns(rep, ns_a) == nullptr);
    CHECK(rep.corrupt_records == 0);
  }
  std::uint64_t reappeared_at = 0;
  {
    auto store = open_store(options_for(tmp.path()));
    auto rep = recover_all(*store);
    CHECK(find_ns(rep, ns_a) == nullptr);
    CHECK(rep.namespaces.size() == 1);
    CHECK(rep.messages.empty());
    // The namespace reappears, with another dimension even: a new incarnation
    // whose numbers start above every number it had before.
    std::vector<log_record> batch{insert_of(ns_a, "new", 4)};
    REQUIRE(store->append(batch).ok());
    reappeared_at = batch[0].ns_seq;
    CHECK(reappeared_at > 4);
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->dimension == 4);
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{reappeared_at});
  CHECK(rep.corrupt_records == 0);
  std::vector<log_record> batch{insert_of(ns_a, "newer", 4)};
  REQUIRE(store->append(batch).ok());
  CHECK(batch[0].ns_seq == reappeared_at + 1);
}

TEST_CASE("a log trim cut short after the snapshot commit leaves covered records that recovery skips") {
  // The covered log goes in steps of 4,096 records after the manifest
  // commit; a crash between steps must cost nothing but one message.
  temp_dir tmp;
  constexpr int n = 10'000, covered = 9'000;
  std::vector<std::string> uuids;
  for (int i = 0; i < covered; ++i)
    uuids.push_back(uuid_of(i));
  {
    auto faults = std::make_shared<scripted_faults>();
    auto store = open_store(options_for(tmp.path(), faults));
    for (int first = 0; first < n; first += 1'000) {
      std::vector<log_record> batch;
      for (int i = first; i < first + 1'000; ++i)
        batch.push_back(insert_of(ns_a, uuid_of(i), dim));
      append_ok(*store, std::move(batch));
    }
    // Commit 1: the manifest and the first step; commit 2, the second step,
    // is where the process "dies".
    faults->fail_at(io_step::commit, 2, true);
    REQUIRE(snapshot(*store, ns_a, covered, labelled(uuids), "g").ok());
    CHECK(faults->failures() > 0);
  }
  {
    auto store = open_store(options_for(tmp.path()));
    auto rep = recover_all(*store);
    REQUIRE(rep.messages.size() == 1);
    CHECK(rep.messages[0].find("4904 log records already covered") != std::string::npos);
    CHECK(rep.corrupt_records == 0);
    auto a = find_ns(rep, ns_a);
    REQUIRE(a != nullptr);
    CHECK(a->snapshot_entries.size() == covered);
    CHECK(a->tail.size() == n - covered);
    CHECK(a->tail.front().ns_seq == covered + 1);
    // The next snapshot deletes the leftovers with its own records.
    REQUIRE(snapshot(*store, ns_a, n, labelled(uuids), "g2").ok());
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.messages.empty());
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->tail.empty());
}
