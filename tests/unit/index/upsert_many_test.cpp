#include <catch2/catch.hpp>

#include <limits>
#include <random>

#include "common/namespace_key.hpp"
#include "index/namespace_index.hpp"
#include "index_test_support.hpp"

using namespace ferro;
using test::distinct_entries;
using test::make_entry;
using test::small_graph; // the batch must grow the graph several times

// upsert_many is recovery's fast path; whatever the threads do, the index
// must end up as if each entry had been upserted in turn.

TEST_CASE("upsert_many into an empty index finds every entry by its own vector") {
  auto seed = test::test_seed(7);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  constexpr std::size_t dim = 32;
  namespace_index idx(dim, small_graph());
  auto entries = distinct_entries(rng, 2000, dim, "e");
  auto copy = entries;
  auto results = idx.upsert_many(std::move(entries), 3);
  REQUIRE(results.size() == copy.size());
  for (const auto& r : results)
    REQUIRE(r);
  CHECK(idx.size() == copy.size());
  std::size_t found = 0;
  for (const auto& e : copy) {
    auto hit = idx.lookup(e.embedding, "", 0.999, 0);
    if (hit && hit->uuid == e.uuid)
      ++found;
  }
  // Approximate search: a random vector in 32 dimensions is its own nearest
  // neighbour by a wide margin, so anything but (nearly) all is a bug.
  CHECK(found >= copy.size() * 99 / 100);
}

TEST_CASE("upsert_many behaves like upserts in order: later duplicates win, bad entries are refused") {
  std::mt19937_64 rng(test::test_seed(8));
  constexpr std::size_t dim = 16;
  namespace_index idx(dim, small_graph());
  auto before = make_entry("dup", test::random_unit(rng, dim), "old text");
  REQUIRE(idx.upsert(before));

  auto first = make_entry("dup", test::random_unit(rng, dim), "first text");
  auto last = make_entry("dup", test::random_unit(rng, dim), "last text");
  auto wrong_dim = make_entry("short", test::random_unit(rng, dim - 1));
  auto non_finite = make_entry("nan", test::random_unit(rng, dim));
  non_finite.embedding[3] = std::numeric_limits<float>::quiet_NaN();
  std::vector<cache_entry> batch{first, wrong_dim, last, non_finite};
  auto more = distinct_entries(rng, 300, dim, "m");
  batch.insert(batch.end(), more.begin(), more.end());

  auto results = idx.upsert_many(batch, 2);
  REQUIRE(results.size() == batch.size());
  CHECK(results[0]); // replaced within the batch, still accepted
  CHECK(results[1].err().code == errc::bad_request);
  CHECK(results[2]);
  CHECK(results[3].err().code == errc::bad_request);
  for (std::size_t i = 4; i < results.size(); ++i)
    CHECK(results[i]);

  CHECK(idx.size() == 1 + more.size());
  auto got = idx.get("dup");
  REQUIRE(got);
  CHECK(got->query_text == "last text");
  CHECK(got->embedding == last.embedding);
  CHECK_FALSE(idx.contains("short"));
  CHECK_FALSE(idx.contains("nan"));
  // The replaced versions are gone from the text map and the graph.
  CHECK_FALSE(idx.lookup(before.embedding, normalize_text("old text"), 0.9999, 0).has_value());
  CHECK_FALSE(idx.lookup(first.embedding, normalize_text("first text"), 0.9999, 0).has_value());
  auto hit = idx.lookup(last.embedding, "", 0.9999, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "dup");
}

TEST_CASE("labels from upsert_many follow entry order, and later upserts come after them") {
  std::mt19937_64 rng(test::test_seed(9));
  constexpr std::size_t dim = 8;
  namespace_index idx(dim, small_graph());
  REQUIRE(idx.upsert(make_entry("a", test::random_unit(rng, dim))));
  auto batch = distinct_entries(rng, 500, dim, "b");
  for (const auto& r : idx.upsert_many(batch, 4))
    REQUIRE(r);
  REQUIRE(idx.upsert(make_entry("z", test::random_unit(rng, dim))));
  auto exported = idx.export_entries(); // in label order
  REQUIRE(exported.size() == batch.size() + 2);
  CHECK(exported.front().entry.uuid == "a");
  for (std::size_t i = 0; i < batch.size(); ++i)
    CHECK(exported[i + 1].entry.uuid == batch[i].uuid);
  CHECK(exported.back().entry.uuid == "z");
  for (std::size_t i = 1; i < exported.size(); ++i)
    CHECK(exported[i - 1].label < exported[i].label);
}
