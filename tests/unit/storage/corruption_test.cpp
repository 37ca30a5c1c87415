#include <catch2/catch.hpp>

#include "storage/lmdb_env.hpp"
#include "storage/record_codec.hpp"
#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;
namespace codec = ferro::storage::codec;

namespace {

const namespace_key ns_a{"model-a::8", "", ""}; // id 1: first namespace appended
const namespace_key ns_b{"model-b::8", "", ""}; // id 2
constexpr std::size_t dim = 8;

void append_ok(wal_store& s, std::vector<log_record> batch) {
  auto st = s.append(batch);
  if (!st.ok())
    FAIL("append failed: " << st.err().message);
}

// Writes two namespaces; a3 carries a marker to damage on disk.
void write_two_namespaces(const fs::path& dir) {
  auto store = open_store(options_for(dir));
  append_ok(*store, {insert_of(ns_a, "a1", dim), insert_of(ns_b, "b1", dim)});
  append_ok(*store, {insert_of(ns_a, "a2", dim), insert_of(ns_b, "b2", dim)});
  append_ok(*store, {insert_of(ns_a, "a3", dim, 1.0f, "CORRUPT-ME-PLEASE")});
  append_ok(*store, {insert_of(ns_a, "a4", dim), remove_of(ns_a, "a1"), insert_of(ns_b, "b3", dim)});
}

// Runs `fn(txn, dbi)` in a write transaction on one named DB of the store's
// environment, behind the store's back (the store must be closed).
template <class Fn>
void with_raw_db(const fs::path& dir, const char* db, Fn&& fn) {
  auto env = storage::lmdb_env::open(dir / "lmdb", std::size_t{16} << 20, 0, 8);
  REQUIRE(env.ok());
  storage::lmdb_txn t;
  REQUIRE(t.begin((*env)->get(), false) == 0);
  MDB_dbi dbi;
  REQUIRE(t.open_db(db, false, dbi) == 0);
  fn(t, dbi);
  REQUIRE(t.commit() == 0);
}

} // namespace

TEST_CASE(
    "a flipped byte in a WAL value is detected and counted and not applied while other namespaces recover") {
  temp_dir tmp;
  write_two_namespaces(tmp.path());
  REQUIRE(flip_marker(tmp.path() / "lmdb" / "data.mdb", "CORRUPT-ME-PLEASE") >= 1);

  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 1);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  // Record 3 might have been a remove: everything before it is withheld, the
  // verified records after it are replayed.
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{4, 5});
  CHECK(replay(*a) == std::map<std::string, std::string>{{"a4", "response of a4"}});
  CHECK(rep.discarded_records == 2);
  auto b = find_ns(rep, ns_b);
  REQUIRE(b != nullptr);
  CHECK(tail_seqs(*b) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(rep.replayable_records == 5);
  REQUIRE(rep.messages.size() >= 2);
  CHECK_THAT(rep.messages[0],
             Catch::Contains("model-a::8") && Catch::Contains("record 3") && Catch::Contains("checksum"));
  CHECK_THAT(rep.messages[1], Catch::Contains("withholding"));

  // Recovery does not rewrite the log: a second recovery says the same, and
  // new records continue the sequence.
  auto again = recover_all(*store);
  CHECK(again.corrupt_records == 1);
  std::vector<log_record> next{insert_of(ns_a, "a5", dim)};
  REQUIRE(store->append(next).ok());
  CHECK(next[0].ns_seq == 6);
}

TEST_CASE("a corrupt record also withholds the namespace's snapshot entries") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim)});
    auto dir = store->begin_snapshot(ns_a);
    REQUIRE(dir.ok());
    REQUIRE(store->commit_snapshot(ns_a, *dir, 1, dim, {{0, make_entry("a1", dim)}}).ok());
    append_ok(*store, {remove_of(ns_a, "a1-MARKER-TO-BREAK"), insert_of(ns_a, "a2", dim)});
  }
  REQUIRE(flip_marker(tmp.path() / "lmdb" / "data.mdb", "a1-MARKER-TO-BREAK") >= 1);
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(rep.corrupt_records == 1);
  CHECK(rep.discarded_snapshot_entries == 1);
  CHECK(a->snapshot_entries.empty());
  CHECK_FALSE(a->graph_file.has_value());
  CHECK(replay(*a) == std::map<std::string, std::string>{{"a2", "response of a2"}});
}

TEST_CASE("a record missing from the middle of a namespace's log counts as corrupt") {
  temp_dir tmp;
  write_two_namespaces(tmp.path());
  with_raw_db(tmp.path(), "wal",
              [](storage::lmdb_txn& t, MDB_dbi db) { REQUIRE(t.del(db, codec::wal_key(1, 2)) == 0); });
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 1);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{3, 4, 5});
  CHECK(rep.discarded_records == 1);
  CHECK_THAT(rep.messages[0], Catch::Contains("records 2..2 are missing"));
  CHECK(tail_seqs(*find_ns(rep, ns_b)) == std::vector<std::uint64_t>{1, 2, 3});
}

TEST_CASE("records missing from the end of a namespace's log count as corrupt") {
  temp_dir tmp;
  write_two_namespaces(tmp.path());
  with_raw_db(tmp.path(), "wal",
              [](storage::lmdb_txn& t, MDB_dbi db) { REQUIRE(t.del(db, codec::wal_key(1, 5)) == 0); });
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 1);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->tail.empty());
  CHECK(a->last_ns_seq == 5); // resume here, so the next snapshot drops the rest
  CHECK(rep.discarded_records == 4);
  // Numbers lost with the record are still never handed out again.
  std::vector<log_record> next{insert_of(ns_a, "a5", dim)};
  REQUIRE(store->append(next).ok());
  CHECK(next[0].ns_seq == 6);
}

TEST_CASE("an insert of the wrong dimension is skipped alone") {
  temp_dir tmp;
  write_two_namespaces(tmp.path());
  with_raw_db(tmp.path(), "wal", [](storage::lmdb_txn& t, MDB_dbi db) {
    // A well-formed, correctly sealed record that contradicts its namespace.
    auto key = codec::wal_key(2, 2);
    auto value = codec::seal(key, codec::encode_wal_payload(insert_of(ns_b, "b2", dim + 1)));
    REQUIRE(t.put(db, key, value) == 0);
  });
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 1);
  CHECK(rep.discarded_records == 0);
  auto b = find_ns(rep, ns_b);
  CHECK(tail_seqs(*b) == std::vector<std::uint64_t>{1, 3});
}

TEST_CASE("a corrupt namespace record leaves its records unattributed and others intact") {
  temp_dir tmp;
  write_two_namespaces(tmp.path());
  with_raw_db(tmp.path(), "namespaces", [](storage::lmdb_txn& t, MDB_dbi db) {
    REQUIRE(t.put(db, codec::u64_key(1), "garbage") == 0);
  });
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(find_ns(rep, ns_a) == nullptr);
  CHECK(rep.corrupt_records == 5);
  CHECK(tail_seqs(*find_ns(rep, ns_b)) == std::vector<std::uint64_t>{1, 2, 3});
  REQUIRE(rep.messages.size() == 2);
  CHECK_THAT(rep.messages[0], Catch::Contains("id 1"));
  // The namespace can be written again, under a fresh id, with numbers above
  // anything it had.
  std::vector<log_record> next{insert_of(ns_a, "again", dim)};
  REQUIRE(store->append(next).ok());
  CHECK(next[0].ns_seq > 5);
}

TEST_CASE("a truncated data file is refused at open with a clear error") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    for (int b = 0; b < 20; ++b) {
      std::vector<log_record> batch;
      for (int i = 0; i < 20; ++i)
        batch.push_back(insert_of(ns_a, numbered("u", b * 20 + i), 64));
      REQUIRE(store->append(batch).ok());
    }
  }
  auto data = tmp.path() / "lmdb" / "data.mdb";
  auto size = fs::file_size(data);
  SECTION("to half its size") {
    fs::resize_file(data, size / 2);
  }
  SECTION("into its meta pages") {
    fs::resize_file(data, 100);
  }
  SECTION("to nothing") {
    fs::resize_file(data, 0);
  }
  auto r = wal_store::open(options_for(tmp.path()));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.err().message, Catch::Contains("truncated"));
}

TEST_CASE("a data_dir with snapshots but no log refuses to open") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store, {insert_of(ns_a, "a1", dim)});
    auto dir = store->begin_snapshot(ns_a);
    REQUIRE(dir.ok());
    REQUIRE(store->commit_snapshot(ns_a, *dir, 1, dim, {{0, make_entry("a1", dim)}}).ok());
  }
  fs::remove_all(tmp.path() / "lmdb");
  auto r = wal_store::open(options_for(tmp.path()));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.err().message, Catch::Contains("refusing"));
  // Nothing was deleted.
  CHECK(dir_names(tmp.path() / "snapshots").size() == 1);
}
