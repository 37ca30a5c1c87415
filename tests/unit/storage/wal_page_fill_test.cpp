#include <catch2/catch.hpp>

#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;

// Records of 384 dims with a 256-byte response (~1.9 KB sealed) fit twice in
// a 4 KiB LMDB page. Appended one batch at a time, as the storage actor
// does, they must fill their pages: the log file stays near 2 KB per record
// instead of a page per record (storage/wal_store.cpp, put_wal_records).
TEST_CASE("records appended batch by batch fill the log's pages") {
  temp_dir tmp;
  constexpr int records = 600;
  const namespace_key ns{"bench::384", "", ""};
  {
    auto store = open_store(options_for(tmp.path()));
    for (int i = 0; i < records; i += 3) {
      std::vector<log_record> batch;
      for (int j = i; j < i + 3; ++j)
        batch.push_back(
            insert_of(ns, numbered("u", j), 384, 1.0f + static_cast<float>(j), std::string(256, 'r')));
      REQUIRE(store->append(batch).ok());
    }
    CHECK(store->appended_record_bytes() > records * 1800ULL);
    CHECK(store->appended_record_bytes() < records * 2000ULL);
  }
  // One page per record would make the file >= 600 x 4 KiB (2.4 MiB);
  // full pages make it ~1.2 MiB plus branch, free-list and meta pages.
  const auto file = fs::file_size(tmp.path() / "lmdb" / "data.mdb");
  INFO("data.mdb " << file << " bytes for " << records << " records");
  CHECK(file < records * 4096ULL * 3 / 4);
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  auto* n = find_ns(rep, ns);
  REQUIRE(n != nullptr);
  CHECK(replay(*n).size() == records);
}

TEST_CASE("a namespace with a smaller id appending after a newer one still logs in order") {
  // The newer namespace holds the log's largest keys, so the older one's
  // records go in without MDB_APPEND; both must come back dense and whole.
  temp_dir tmp;
  const namespace_key older{"a::8", "", ""};
  const namespace_key newer{"b::8", "", ""};
  {
    auto store = open_store(options_for(tmp.path()));
    std::vector<log_record> first{insert_of(older, "o0", 8)};
    REQUIRE(store->append(first).ok());
    for (int i = 1; i < 40; ++i) {
      // Mixed batches, newer first: the sort puts older's keys first.
      std::vector<log_record> batch{insert_of(newer, numbered("n", i), 8),
                                    insert_of(older, numbered("o", i), 8)};
      REQUIRE(store->append(batch).ok());
      CHECK(batch[1].ns_seq == static_cast<std::uint64_t>(i + 1));
    }
  }
  auto store = open_store(options_for(tmp.path()));
  auto rep = recover_all(*store);
  CHECK(rep.corrupt_records == 0);
  auto* o = find_ns(rep, older);
  auto* n = find_ns(rep, newer);
  REQUIRE(o != nullptr);
  REQUIRE(n != nullptr);
  CHECK(replay(*o).size() == 40);
  CHECK(replay(*n).size() == 39);
  for (auto* ns : {o, n}) {
    auto seqs = tail_seqs(*ns);
    for (std::size_t i = 1; i < seqs.size(); ++i)
      CHECK(seqs[i] == seqs[i - 1] + 1); // dense, in order
  }
}
