#include <catch2/catch.hpp>

#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;

namespace {

const namespace_key primary_ns{"model-s::8", "tenant", ""};
constexpr std::size_t dim = 8;

void append_ok(wal_store& s, std::vector<log_record> batch) {
  auto st = s.append(batch);
  if (!st.ok())
    FAIL("append failed: " << st.err().message);
}

log_record at(log_record r, std::uint64_t seq, std::uint64_t epoch = 1) {
  r.ns_seq = seq;
  r.epoch = epoch;
  return r;
}

/// A namespace with records 1..3 whose snapshot covers (and dropped) 1..2.
std::unique_ptr<wal_store> three_records_two_in_a_snapshot(const temp_dir& tmp) {
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {insert_of(primary_ns, "a", dim), insert_of(primary_ns, "b", dim),
                     insert_of(primary_ns, "c", dim)});
  auto dir = store->begin_snapshot(primary_ns);
  REQUIRE(dir.ok());
  REQUIRE(
      store->commit_snapshot(primary_ns, *dir, 2, dim, {{0, make_entry("a", dim)}, {1, make_entry("b", dim)}})
          .ok());
  return store;
}

std::vector<std::uint64_t> seqs_of(const std::vector<log_record>& records) {
  std::vector<std::uint64_t> out;
  for (const auto& r : records)
    out.push_back(r.ns_seq);
  return out;
}

} // namespace

TEST_CASE("a replica logs its primary's records at the primary's sequence numbers") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    // The replica joins the stream at 41: its namespace starts there.
    append_ok(*store, {at(insert_of(primary_ns, "a", dim), 41), at(insert_of(primary_ns, "b", dim), 42)});
    append_ok(*store, {at(remove_of(primary_ns, "a"), 43)});
    CHECK(store->last_ns_seq(primary_ns) == 43);
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 0);
  auto n = find_ns(rep, primary_ns);
  REQUIRE(n != nullptr);
  CHECK(tail_seqs(*n) == std::vector<std::uint64_t>{41, 42, 43});
  CHECK(n->tail[0].epoch == 1);
}

TEST_CASE("a record that would leave a hole in the stream is refused whole") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  append_ok(*store, {at(insert_of(primary_ns, "a", dim), 5)});
  std::vector<log_record> gap{at(insert_of(primary_ns, "b", dim), 7)};
  auto st = store->append(gap);
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == errc::internal);
  std::vector<log_record> replay{at(insert_of(primary_ns, "c", dim), 5)};
  CHECK_FALSE(store->append(replay).ok());
  CHECK(store->last_ns_seq(primary_ns) == 5);
}

TEST_CASE("read_after returns the stream after a sequence number, voids included, in pages") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  log_record hole;
  hole.op = log_op::void_;
  hole.ns = primary_ns;
  append_ok(*store,
            {insert_of(primary_ns, "a", dim), insert_of(primary_ns, "b", dim), hole,
             remove_of(primary_ns, "a", removal_reason::invalidated), insert_of(primary_ns, "c", dim)});
  auto all = store->read_after(primary_ns, 0, 100);
  REQUIRE(all.ok());
  CHECK(seqs_of(*all) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(all->at(2).op == log_op::void_);
  CHECK(all->at(3).op == log_op::remove);
  CHECK(all->at(3).uuid == "a");
  CHECK(all->at(3).reason == removal_reason::invalidated);
  CHECK(all->at(4).entry.uuid == "c");
  CHECK(all->at(4).ns == primary_ns);
  auto page = store->read_after(primary_ns, 1, 2);
  REQUIRE(page.ok());
  CHECK(seqs_of(*page) == std::vector<std::uint64_t>{2, 3});
  auto none = store->read_after(primary_ns, 5, 10);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("read_after says not found once a snapshot has dropped the records asked for") {
  temp_dir tmp;
  auto store = three_records_two_in_a_snapshot(tmp);
  auto gone = store->read_after(primary_ns, 1, 10);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.err().code == errc::not_found);
  auto rest = store->read_after(primary_ns, 2, 10);
  REQUIRE(rest.ok());
  CHECK(seqs_of(*rest) == std::vector<std::uint64_t>{3});
  CHECK_FALSE(store->read_after({"unknown::8", "", ""}, 0, 10).ok());
}

TEST_CASE("truncate_after drops an uncommitted tail durably and the new primary's records take its place") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    append_ok(*store,
              {at(insert_of(primary_ns, "kept", dim), 1), at(insert_of(primary_ns, "uncommitted-1", dim), 2),
               at(remove_of(primary_ns, "kept"), 3)});
    REQUIRE(store->truncate_after(primary_ns, 1).ok());
    CHECK(store->last_ns_seq(primary_ns) == 1);
    // The new primary's stream continues after what the replica kept.
    append_ok(*store, {at(insert_of(primary_ns, "epoch-2", dim), 2, 2)});
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 0);
  auto n = find_ns(rep, primary_ns);
  REQUIRE(n != nullptr);
  auto state = replay(*n);
  CHECK(state.count("kept") == 1); // the truncated removal never happened
  CHECK(state.count("uncommitted-1") == 0);
  CHECK(state.count("epoch-2") == 1);
  CHECK(tail_seqs(*n) == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("truncate_after refuses to cut into the namespace's snapshot") {
  temp_dir tmp;
  auto store = three_records_two_in_a_snapshot(tmp);
  auto st = store->truncate_after(primary_ns, 1);
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == errc::internal);
  CHECK(store->truncate_after(primary_ns, 2).ok());
  CHECK(store->last_ns_seq(primary_ns) == 2);
}
