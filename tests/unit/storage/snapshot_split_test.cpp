// The two steps of a snapshot commit on their own: write_snapshot_files
// (thread-safe, slow) and publish_snapshot (on the store's thread, short).

#include <catch2/catch.hpp>

#include <thread>

#include "storage/crc32c.hpp"
#include "storage/snapshot_files.hpp"
#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;

namespace {

const namespace_key ns_a{"model-a::8", "t", ""};
const namespace_key ns_b{"model-b::8", "t", ""};
constexpr std::size_t dim = 8;

std::vector<labelled_entry> labelled(const std::vector<std::string>& uuids) {
  std::vector<labelled_entry> out;
  std::uint64_t label = 0;
  for (const auto& u : uuids)
    out.push_back({label++, make_entry(u, dim)});
  return out;
}

void append_ok(wal_store& s, std::vector<log_record> batch) {
  auto st = s.append(batch);
  if (!st.ok())
    FAIL("append failed: " << st.err().message);
}

storage::file_digest digest_of(const std::string& text) {
  return {text.size(), storage::crc32c(text)};
}

} // namespace

TEST_CASE("a snapshot written in two steps is published like a committed one, with appends in between") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim), insert_of(ns_a, "a3", dim)});
  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  write_text(*dir / storage::graph_file_name, "graph-1");
  auto written = store->write_snapshot_files(ns_a, *dir, 3, dim, labelled({"a1", "a2", "a3"}));
  REQUIRE(written.ok());
  CHECK(written->entry_count == 3);
  REQUIRE(written->graph.has_value());
  CHECK(written->graph->bytes == 7);
  CHECK(written->graph->crc == storage::crc32c(std::string_view{"graph-1"}));
  // The store goes on while the files are written (or after: same thing).
  append_ok(*store, {remove_of(ns_a, "a1"), insert_of(ns_a, "a4", dim), insert_of(ns_b, "b1", dim)});
  REQUIRE(store->publish_snapshot(*written).ok());
  CHECK_FALSE(fs::exists(*dir));

  auto rep = recover_all(*store);
  CHECK(rep.messages.empty());
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->snapshot_ns_seq == 3);
  CHECK(a->snapshot_entries.size() == 3);
  REQUIRE(a->graph_file.has_value());
  CHECK(read_text(*a->graph_file) == "graph-1");
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{4, 5});
  CHECK(replay(*a) == std::map<std::string, std::string>{
                          {"a2", "response of a2"}, {"a3", "response of a3"}, {"a4", "response of a4"}});
  CHECK(replay(*find_ns(rep, ns_b)).count("b1") == 1);
}

TEST_CASE("a fault while the snapshot files are written leaves the old snapshot intact") {
  for (int nth : {1, 2}) { // 1: entries file, 2: graph file
    DYNAMIC_SECTION("failing snapshot file write #" << nth) {
      temp_dir tmp;
      auto faults = std::make_shared<scripted_faults>();
      {
        auto store = open_store(options_for(tmp.path(), faults));
        append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim)});
        REQUIRE(store
                    ->commit_snapshot(
                        ns_a,
                        *[&] {
                          auto d = store->begin_snapshot(ns_a);
                          REQUIRE(d.ok());
                          write_text(*d / storage::graph_file_name, "graph-old");
                          return d;
                        }(),
                        2, dim, labelled({"a1", "a2"}))
                    .ok());
        append_ok(*store, {insert_of(ns_a, "a3", dim)});

        auto dir = store->begin_snapshot(ns_a);
        REQUIRE(dir.ok());
        write_text(*dir / storage::graph_file_name, "graph-new");
        faults->fail_at(io_step::file_write, nth);
        auto written = store->write_snapshot_files(ns_a, *dir, 3, dim, labelled({"a1", "a2", "a3"}));
        REQUIRE_FALSE(written.ok());
        CHECK(written.err().code == errc::unavailable);
        CHECK(faults->failures() == 1);
        // Not consumed: the caller abandons it.
        REQUIRE(fs::exists(*dir));
        REQUIRE(store->abandon_snapshot(*dir).ok());
        CHECK_FALSE(fs::exists(*dir));
        // The store keeps working, and the old snapshot is still the one.
        append_ok(*store, {insert_of(ns_a, "a4", dim)});
        auto rep = recover_all(*store);
        auto a = find_ns(rep, ns_a);
        REQUIRE(a != nullptr);
        CHECK(a->snapshot_ns_seq == 2);
        CHECK(read_text(*a->graph_file) == "graph-old");
        CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{3, 4});
      }
      auto store = open_store(options_for(tmp.path()));
      auto rep = recover_all(*store);
      auto a = find_ns(rep, ns_a);
      REQUIRE(a != nullptr);
      CHECK(a->snapshot_ns_seq == 2);
      CHECK(a->snapshot_entries.size() == 2);
      CHECK(read_text(*a->graph_file) == "graph-old");
      CHECK(dir_names(tmp.path() / "snapshots").size() == 1);
    }
  }
}

TEST_CASE("snapshot files are written on another thread while the store appends") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a0", dim)});
  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  std::vector<labelled_entry> entries;
  for (int i = 0; i < 2000; ++i)
    entries.push_back({static_cast<std::uint64_t>(i), make_entry(numbered("s", i), dim)});
  std::optional<result<prepared_snapshot>> written;
  std::thread writer([&] { written.emplace(store->write_snapshot_files(ns_a, *dir, 1, dim, entries)); });
  for (int i = 1; i <= 50; ++i)
    append_ok(*store, {insert_of(ns_a, numbered("a", i), dim), insert_of(ns_b, numbered("b", i), dim)});
  writer.join();
  REQUIRE(written.has_value());
  REQUIRE(written->ok());
  REQUIRE(store->publish_snapshot(written->value()).ok());
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->snapshot_ns_seq == 1);
  CHECK(a->snapshot_entries.size() == 2000);
  CHECK(a->tail.size() == 50);
  CHECK(find_ns(rep, ns_b)->tail.size() == 50);
}

TEST_CASE("a graph digest computed while writing is recorded as given and checked against the file") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim)});
  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  write_text(*dir / storage::graph_file_name, "graph bytes");
  SECTION("the right digest publishes a graph that verifies at recovery") {
    auto written =
        store->write_snapshot_files(ns_a, *dir, 1, dim, labelled({"a1"}), digest_of("graph bytes"));
    REQUIRE(written.ok());
    REQUIRE(store->publish_snapshot(*written).ok());
    auto rep = recover_all(*store);
    auto a = find_ns(rep, ns_a);
    REQUIRE(a != nullptr);
    REQUIRE(a->graph_file.has_value());
    CHECK(read_text(*a->graph_file) == "graph bytes");
  }
  SECTION("a digest of another size is refused") {
    auto written = store->write_snapshot_files(ns_a, *dir, 1, dim, labelled({"a1"}), digest_of("other"));
    CHECK_FALSE(written.ok());
    CHECK(store->abandon_snapshot(*dir).ok());
  }
  SECTION("a digest without a graph file is refused") {
    fs::remove(*dir / storage::graph_file_name);
    auto written =
        store->write_snapshot_files(ns_a, *dir, 1, dim, labelled({"a1"}), digest_of("graph bytes"));
    CHECK_FALSE(written.ok());
    CHECK(store->abandon_snapshot(*dir).ok());
  }
}

TEST_CASE("a written snapshot is published once, and never for a namespace dropped since it began") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim)});
  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  auto written = store->write_snapshot_files(ns_a, *dir, 2, dim, labelled({"a1", "a2"}));
  REQUIRE(written.ok());
  SECTION("twice") {
    REQUIRE(store->publish_snapshot(*written).ok());
    CHECK_FALSE(store->publish_snapshot(*written).ok());
    CHECK(find_ns(recover_all(*store), ns_a)->snapshot_entries.size() == 2);
  }
  SECTION("after a drop and a new incarnation") {
    append_ok(*store, {remove_of(ns_a, "a1"), remove_of(ns_a, "a2")});
    REQUIRE(store->drop_namespace(ns_a).ok());
    append_ok(*store, {insert_of(ns_a, "new", dim)});
    auto st = store->publish_snapshot(*written);
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().code == errc::not_found);
    CHECK_FALSE(fs::exists(*dir));
    // The dropped entries must not come back in the new incarnation.
    auto rep = recover_all(*store);
    auto a = find_ns(rep, ns_a);
    REQUIRE(a != nullptr);
    CHECK(a->snapshot_entries.empty());
    CHECK(replay(*a) == std::map<std::string, std::string>{{"new", "response of new"}});
  }
}

TEST_CASE("snapshot entries may take their embeddings from a separate source") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_a, "a2", dim)});
  auto entries = labelled({"a1", "a2"});
  std::vector<std::vector<float>> vectors{make_embedding(dim, 3.0f), make_embedding(dim, 4.0f)};
  for (auto& le : entries)
    le.entry.embedding.clear();
  auto dir = store->begin_snapshot(ns_a);
  REQUIRE(dir.ok());
  SECTION("their embeddings are written") {
    auto written = store->write_snapshot_files(ns_a, *dir, 2, dim, entries, std::nullopt, [&](std::size_t i) {
      return std::span<const float>(vectors[i]);
    });
    REQUIRE(written.ok());
    REQUIRE(store->publish_snapshot(*written).ok());
    auto rep = recover_all(*store);
    auto a = find_ns(rep, ns_a);
    REQUIRE(a != nullptr);
    REQUIRE(a->snapshot_entries.size() == 2);
    CHECK(to_labelled_entry(a->snapshot_entries[0]).entry.embedding == vectors[0]);
    CHECK(to_labelled_entry(a->snapshot_entries[1]).entry.embedding == vectors[1]);
  }
  SECTION("a source of another dimension is refused") {
    vectors[1].pop_back();
    auto written = store->write_snapshot_files(ns_a, *dir, 2, dim, entries, std::nullopt, [&](std::size_t i) {
      return std::span<const float>(vectors[i]);
    });
    CHECK_FALSE(written.ok());
    CHECK(store->abandon_snapshot(*dir).ok());
  }
}
