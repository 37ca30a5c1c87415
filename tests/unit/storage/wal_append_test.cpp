#include <catch2/catch.hpp>

#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;

namespace {

const namespace_key ns_a{"model-a::8", "", ""};
const namespace_key ns_b{"model-b::4", "tenant", ""};
const namespace_key ns_c{"model-a::8", "", "conv-1"};

} // namespace

TEST_CASE("appended records of several namespaces come back from recovery in order") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    std::vector<log_record> batch{insert_of(ns_a, "a1", 8), insert_of(ns_b, "b1", 4),
                                  insert_of(ns_a, "a2", 8), insert_of(ns_c, "c1", 8)};
    REQUIRE(store->append(batch).ok());
    CHECK(batch[0].ns_seq == 1);
    CHECK(batch[1].ns_seq == 1);
    CHECK(batch[2].ns_seq == 2);
    CHECK(batch[3].ns_seq == 1);
    std::vector<log_record> second{remove_of(ns_a, "a1", removal_reason::expired),
                                   insert_of(ns_b, "b2", 4, 2.0f)};
    REQUIRE(store->append(second).ok());
    CHECK(second[0].ns_seq == 3);
    CHECK(store->wal_sequence() == 6);
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 0);
  CHECK(rep.replayable_records == 6);
  CHECK(rep.messages.empty());
  REQUIRE(rep.namespaces.size() == 3);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(a->dimension == 8);
  CHECK_FALSE(a->graph_file.has_value());
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(a->tail[0].entry.uuid == "a1");
  CHECK(a->tail[0].entry.embedding == make_embedding(8, 1.0f));
  CHECK(a->tail[2].op == log_op::remove);
  CHECK(a->tail[2].uuid == "a1");
  CHECK(a->tail[2].reason == removal_reason::expired);
  CHECK(a->tail[2].ns == ns_a);
  CHECK(replay(*a) == std::map<std::string, std::string>{{"a2", "response of a2"}});
  auto b = find_ns(rep, ns_b);
  REQUIRE(b != nullptr);
  CHECK(b->dimension == 4);
  CHECK(tail_seqs(*b) == std::vector<std::uint64_t>{1, 2});
  // The conversation namespace is distinct from its base.
  auto c = find_ns(rep, ns_c);
  REQUIRE(c != nullptr);
  CHECK(replay(*c).count("c1") == 1);
  CHECK(replay(*a).count("c1") == 0);
}

TEST_CASE("sequence numbers continue across a restart") {
  temp_dir tmp;
  {
    auto store = open_store(options_for(tmp.path()));
    std::vector<log_record> batch{insert_of(ns_a, "a1", 8), insert_of(ns_a, "a2", 8)};
    REQUIRE(store->append(batch).ok());
  }
  auto store = open_store(options_for(tmp.path()));
  recover_all(*store);
  CHECK(store->last_ns_seq(ns_a) == 2);
  CHECK(store->wal_sequence() == 2);
  std::vector<log_record> batch{insert_of(ns_a, "a3", 8), insert_of(ns_b, "b1", 4)};
  REQUIRE(store->append(batch).ok());
  CHECK(batch[0].ns_seq == 3);
  CHECK(store->wal_sequence() == 4);
}

TEST_CASE("an empty batch is a no-op") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  std::vector<log_record> none;
  auto before = store->stats();
  REQUIRE(store->append(none).ok());
  CHECK(store->stats().commits == before.commits);
  CHECK(store->stats().syncs == before.syncs);
  CHECK(store->wal_sequence() == 0);
}

TEST_CASE("one append is one commit and one durable sync whatever the batch size") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  std::vector<log_record> batch;
  for (int i = 0; i < 256; ++i)
    batch.push_back(insert_of(i % 2 ? ns_a : ns_c, numbered("u", i), 8));
  auto before = store->stats();
  REQUIRE(store->append(batch).ok());
  CHECK(store->stats().commits == before.commits + 1);
  CHECK(store->stats().syncs == before.syncs + 1);
}

TEST_CASE("a batch with an invalid record is refused whole and writes nothing") {
  temp_dir tmp;
  auto store = open_store(options_for(tmp.path()));
  std::vector<log_record> first{insert_of(ns_a, "a1", 8)};
  REQUIRE(store->append(first).ok());

  std::vector<log_record> batch{insert_of(ns_b, "b1", 4)};
  SECTION("dimension differs from the namespace's") {
    batch.push_back(insert_of(ns_a, "a2", 16));
  }
  SECTION("dimension differs inside the batch") {
    batch.push_back(insert_of(ns_c, "c1", 8));
    batch.push_back(insert_of(ns_c, "c2", 9));
  }
  SECTION("insert without uuid") {
    batch.push_back(insert_of(ns_a, "", 8));
  }
  SECTION("insert without embedding") {
    batch.push_back(insert_of(ns_a, "a2", 0));
  }
  SECTION("remove without uuid") {
    batch.push_back(remove_of(ns_a, ""));
  }
  SECTION("remove with an unknown reason") {
    batch.push_back(remove_of(ns_a, "a1", static_cast<removal_reason>(9)));
  }
  SECTION("blank model_id") {
    batch.push_back(insert_of({"", "", ""}, "x", 8));
  }

  auto st = store->append(batch);
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == errc::internal);
  CHECK(store->wal_sequence() == 1);
  CHECK(store->last_ns_seq(ns_b) == 0);
  auto rep = recover_all(*store);
  CHECK(rep.replayable_records == 1);
  CHECK(find_ns(rep, ns_b) == nullptr);
}

TEST_CASE("a batch whose commit fails leaves nothing behind and moves no counter") {
  temp_dir tmp;
  auto faults = std::make_shared<scripted_faults>();
  {
    auto store = open_store(options_for(tmp.path(), faults));
    std::vector<log_record> first{insert_of(ns_a, "a1", 8), insert_of(ns_a, "a2", 8)};
    REQUIRE(store->append(first).ok());

    faults->fail_at(io_step::commit, 1);
    std::vector<log_record> failed{insert_of(ns_a, "a3", 8), insert_of(ns_b, "b1", 4)};
    auto st = store->append(failed);
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().code == errc::unavailable);
    CHECK(failed[0].ns_seq == 0); // nothing acknowledged
    CHECK(store->last_ns_seq(ns_a) == 2);
    CHECK(store->last_ns_seq(ns_b) == 0);
    CHECK(store->wal_sequence() == 2);

    // The store stays usable once the fault is gone.
    std::vector<log_record> later{insert_of(ns_a, "a4", 8)};
    REQUIRE(store->append(later).ok());
    CHECK(later[0].ns_seq == 3);
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(replay(*a).count("a3") == 0);
  CHECK(find_ns(rep, ns_b) == nullptr);
  CHECK(rep.corrupt_records == 0);
}

TEST_CASE("a batch whose sync fails is an error that burns its numbers and is not replayed") {
  temp_dir tmp;
  auto faults = std::make_shared<scripted_faults>();
  {
    auto store = open_store(options_for(tmp.path(), faults));
    std::vector<log_record> first{insert_of(ns_a, "a1", 8), insert_of(ns_a, "a2", 8)};
    REQUIRE(store->append(first).ok());

    faults->fail_at(io_step::sync, 1);
    std::vector<log_record> failed{insert_of(ns_a, "a3", 8), remove_of(ns_a, "a1")};
    auto st = store->append(failed);
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().code == errc::unavailable);
    CHECK(failed[0].ns_seq == 0);
    // Committed before the sync failed: its numbers are never handed out again.
    CHECK(store->last_ns_seq(ns_a) == 4);
    CHECK(store->wal_sequence() == 4);

    std::vector<log_record> later{insert_of(ns_a, "a5", 8)};
    REQUIRE(store->append(later).ok());
    CHECK(later[0].ns_seq == 5);
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  // The failed batch was voided: neither a3 nor the removal of a1 replays,
  // and the burnt numbers are not mistaken for missing records.
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{1, 2, 5});
  CHECK(a->last_ns_seq == 5);
  CHECK(replay(*a).count("a1") == 1);
  CHECK(replay(*a).count("a3") == 0);
  CHECK(rep.corrupt_records == 0);
  CHECK(rep.messages.empty());
  std::vector<log_record> after{insert_of(ns_a, "a6", 8)};
  REQUIRE(store->append(after).ok());
  CHECK(after[0].ns_seq == 6);
}

TEST_CASE("a batch whose sync fails and whose rollback cannot commit may reappear with monotonic numbers") {
  temp_dir tmp;
  auto faults = std::make_shared<scripted_faults>();
  {
    auto store = open_store(options_for(tmp.path(), faults));
    std::vector<log_record> first{insert_of(ns_a, "a1", 8)};
    REQUIRE(store->append(first).ok());
    // As if the node died right after the failed fsync: nothing else reaches
    // the disk, the rollback included.
    faults->fail_at(io_step::sync, 1, true);
    std::vector<log_record> failed{insert_of(ns_a, "a2", 8)};
    REQUIRE_FALSE(store->append(failed).ok());
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto a = find_ns(rep, ns_a);
  REQUIRE(a != nullptr);
  // Without a power loss the committed batch is there. The caller got an
  // error, which permits either outcome; the numbers stay strictly increasing.
  CHECK(tail_seqs(*a) == std::vector<std::uint64_t>{1, 2});
  CHECK(rep.corrupt_records == 0);
  std::vector<log_record> after{insert_of(ns_a, "a3", 8)};
  REQUIRE(store->append(after).ok());
  CHECK(after[0].ns_seq == 3);
}

TEST_CASE("in single-fsync mode a failed sync refuses writes until the store is reopened") {
  temp_dir tmp;
  auto faults = std::make_shared<scripted_faults>();
  auto opts = options_for(tmp.path(), faults);
  opts.sync = sync_mode::single;
  {
    auto store = open_store(opts);
    std::vector<log_record> first{insert_of(ns_a, "a1", 8)};
    REQUIRE(store->append(first).ok());
    faults->fail_at(io_step::sync, 1);
    std::vector<log_record> failed{insert_of(ns_a, "a2", 8)};
    REQUIRE_FALSE(store->append(failed).ok());
    std::vector<log_record> refused{insert_of(ns_a, "a3", 8)};
    auto st = store->append(refused);
    REQUIRE_FALSE(st.ok());
    CHECK(st.err().code == errc::unavailable);
    CHECK_THAT(st.err().message, Catch::Contains("until restart"));
    // Reads still work.
    CHECK(recover_all(*store).namespaces.size() == 1);
  }
  auto store = open_store(opts);
  recover_all(*store);
  std::vector<log_record> later{insert_of(ns_a, "a3", 8)};
  REQUIRE(store->append(later).ok());
  CHECK(later[0].ns_seq == 3);
}

TEST_CASE("the map grows when full and everything appended recovers") {
  temp_dir tmp;
  auto opts = options_for(tmp.path());
  opts.map_size_bytes = 256 << 10;
  const std::string big_response(16 << 10, 'r');
  std::size_t appended = 0;
  {
    auto store = open_store(opts);
    for (int b = 0; b < 40; ++b) {
      std::vector<log_record> batch;
      for (int i = 0; i < 8; ++i)
        batch.push_back(insert_of(ns_a, numbered("u", b * 8 + i), 384, 1.0f, big_response));
      auto st = store->append(batch);
      REQUIRE(st.ok());
      appended += batch.size();
    }
    auto stats = store->stats();
    CHECK(stats.map_resizes >= 3);
    CHECK(stats.map_size > opts.map_size_bytes);
  }
  auto store = open_store(opts);
  auto rep = recover_all(*store);
  CHECK(rep.replayable_records == appended);
  CHECK(rep.corrupt_records == 0);
  // And it keeps growing after a reopen with the small initial size.
  std::vector<log_record> batch;
  for (int i = 0; i < 16; ++i)
    batch.push_back(insert_of(ns_a, numbered("more", i), 384, 1.0f, big_response));
  REQUIRE(store->append(batch).ok());
}

TEST_CASE("a full map at its maximum is unavailable and the store stays usable") {
  temp_dir tmp;
  auto opts = options_for(tmp.path());
  opts.map_size_bytes = 256 << 10;
  opts.max_map_size_bytes = 512 << 10;
  auto store = open_store(opts);
  std::vector<log_record> small{insert_of(ns_a, "a1", 8)};
  REQUIRE(store->append(small).ok());

  std::vector<log_record> huge;
  for (int i = 0; i < 64; ++i)
    huge.push_back(insert_of(ns_a, numbered("h", i), 8, 1.0f, std::string(16 << 10, 'x')));
  auto st = store->append(huge);
  REQUIRE_FALSE(st.ok());
  CHECK(st.err().code == errc::unavailable);
  CHECK(store->last_ns_seq(ns_a) == 1);
  CHECK(store->wal_sequence() == 1);

  std::vector<log_record> again{insert_of(ns_a, "a2", 8)};
  REQUIRE(store->append(again).ok());
  CHECK(again[0].ns_seq == 2);
}

TEST_CASE("a second open of the same data_dir is refused while the first is open") {
  temp_dir tmp;
  auto first = open_store(options_for(tmp.path()));
  auto second = wal_store::open(options_for(tmp.path()));
  REQUIRE_FALSE(second.ok());
  CHECK(second.err().code == errc::unavailable);
  first.reset();
  CHECK(wal_store::open(options_for(tmp.path())).ok());
}
