#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>

#include "common/namespace_key.hpp"
#include "index/graph_image.hpp"
#include "index/namespace_index.hpp"
#include "index_test_support.hpp"

using namespace ferro;
using test::make_entry;

// The backlog holds entries that are in every table but not yet in the
// graph (recovery puts the log tail there so a node serves sooner). While
// they wait, every read must see them as if they were indexed; linking them
// must change nothing a reader can observe except speed.

namespace {

constexpr std::size_t dim = 32;

using test::small_graph; // linking must grow the graph

std::vector<cache_entry> distinct_entries(std::mt19937_64& rng, std::size_t n, const char* prefix) {
  return test::distinct_entries(rng, n, dim, prefix, true);
}

/// How many entries a lookup by their own vector answers with themselves.
std::size_t found_by_vector(namespace_index& idx, const std::vector<cache_entry>& entries) {
  std::size_t found = 0;
  for (const auto& e : entries) {
    auto hit = idx.lookup(e.embedding, "", 0.999, 0);
    found += hit && hit->uuid == e.uuid ? 1 : 0;
  }
  return found;
}

void require_all_ok(const std::vector<status>& results) {
  for (const auto& r : results)
    REQUIRE(r);
}

void link_all(namespace_index& idx, std::size_t step) {
  for (std::size_t guard = 0; idx.backlog_size() > 0; ++guard) {
    REQUIRE(guard < 100000);
    auto left = idx.index_backlog(step, 2);
    REQUIRE(left);
    CHECK(*left == idx.backlog_size());
  }
}

} // namespace

TEST_CASE("backlog entries are found by every read before and after they are linked") {
  auto seed = test::test_seed(41);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(dim, small_graph());
  auto indexed = distinct_entries(rng, 300, "g");
  require_all_ok(idx.upsert_many(indexed, 2));
  auto waiting = distinct_entries(rng, 500, "b");
  require_all_ok(idx.upsert_unindexed(waiting));
  CHECK(idx.backlog_size() == waiting.size());
  CHECK(idx.size() == indexed.size() + waiting.size());

  // A backlog entry is compared directly: exact, so every one is found.
  CHECK(found_by_vector(idx, waiting) == waiting.size());
  CHECK(found_by_vector(idx, indexed) >= indexed.size() * 99 / 100);
  auto by_text = idx.lookup(test::random_unit(rng, dim), normalize_text(waiting[7].query_text), 0.99, 0);
  REQUIRE(by_text);
  CHECK(by_text->uuid == waiting[7].uuid);
  CHECK(by_text->exact_match);
  auto got = idx.get(waiting[3].uuid);
  REQUIRE(got);
  CHECK(got->embedding == waiting[3].embedding);
  CHECK(got->response == waiting[3].response);
  auto radius = idx.within_radius(waiting[9].embedding, 0.999, 0);
  REQUIRE(radius.size() == 1);
  CHECK(radius[0] == waiting[9].uuid);

  link_all(idx, 64);
  CHECK(idx.size() == indexed.size() + waiting.size());
  CHECK(found_by_vector(idx, waiting) >= waiting.size() * 99 / 100);
  CHECK(found_by_vector(idx, indexed) >= indexed.size() * 99 / 100);
  got = idx.get(waiting[3].uuid);
  REQUIRE(got);
  CHECK(got->embedding == waiting[3].embedding);
  CHECK(idx.within_radius(waiting[9].embedding, 0.999, 0) == radius);
}

TEST_CASE("a lookup answers with the nearer of the graph's and the backlog's best") {
  auto seed = test::test_seed(43);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(dim, small_graph());
  auto query = test::random_unit(rng, dim);
  REQUIRE(idx.upsert(make_entry("graph-near", test::at_cosine(query, 0.95, rng))));
  REQUIRE(idx.upsert(make_entry("graph-far", test::at_cosine(query, 0.5, rng))));
  REQUIRE(idx.upsert_unindexed({make_entry("backlog-mid", test::at_cosine(query, 0.9, rng))})[0]);

  auto hit = idx.lookup(query, "", 0.8, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "graph-near");
  CHECK(hit->similarity == Approx(0.95).margin(1e-4));

  REQUIRE(idx.upsert_unindexed({make_entry("backlog-nearest", test::at_cosine(query, 0.98, rng))})[0]);
  hit = idx.lookup(query, "", 0.8, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "backlog-nearest");
  CHECK(hit->similarity == Approx(0.98).margin(1e-4));

  CHECK_FALSE(idx.lookup(query, "", 0.99, 0)); // nothing is that close
  REQUIRE(idx.remove("graph-near"));
  REQUIRE(idx.remove("backlog-nearest"));
  hit = idx.lookup(query, "", 0.8, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "backlog-mid");
}

TEST_CASE("removing, replacing and expiring backlog entries") {
  auto seed = test::test_seed(47);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(dim, small_graph());
  auto a = make_entry("a", test::random_unit(rng, dim), "alpha");
  auto b = make_entry("b", test::random_unit(rng, dim), "beta", 1000, 5000);
  auto c = make_entry("c", test::random_unit(rng, dim));
  require_all_ok(idx.upsert_unindexed({a, b, c}));

  REQUIRE(idx.remove("a"));
  CHECK(idx.backlog_size() == 2);
  CHECK_FALSE(idx.contains("a"));
  CHECK_FALSE(idx.lookup(a.embedding, "", 0.999, 0));
  CHECK_FALSE(idx.lookup(test::random_unit(rng, dim), "alpha", 0.999, 0));

  // Expired backlog entries are skipped by reads and listed for removal.
  CHECK(idx.lookup(b.embedding, "", 0.999, 4999));
  CHECK_FALSE(idx.lookup(b.embedding, "", 0.999, 5000));
  CHECK(idx.within_radius(b.embedding, 0.999, 5000).empty());
  CHECK(idx.expired(5000) == std::vector<std::string>{"b"});

  // An indexed upsert replaces a backlog entry, and the other way round.
  auto c2 = make_entry("c", test::random_unit(rng, dim));
  REQUIRE(idx.upsert(c2));
  CHECK(idx.backlog_size() == 1);
  CHECK(idx.lookup(c2.embedding, "", 0.999, 0)->uuid == "c");
  CHECK_FALSE(idx.lookup(c.embedding, "", 0.999, 0));
  auto deleted_before = idx.graph_deleted();
  auto c3 = make_entry("c", test::random_unit(rng, dim));
  REQUIRE(idx.upsert_unindexed({c3})[0]);
  CHECK(idx.graph_deleted() == deleted_before + 1);
  CHECK(idx.backlog_size() == 2);
  CHECK(idx.size() == 2);
  CHECK_FALSE(idx.lookup(c2.embedding, "", 0.999, 0));
  CHECK(idx.lookup(c3.embedding, "", 0.999, 0)->uuid == "c");

  // Invalid entries are refused and change nothing.
  auto wrong = make_entry("w", test::random_unit(rng, dim - 1));
  auto results = idx.upsert_unindexed({wrong});
  CHECK(results[0].err().code == errc::bad_request);
  CHECK(idx.size() == 2);
  link_all(idx, 1);
  CHECK(idx.lookup(c3.embedding, "", 0.999, 0)->uuid == "c");
  CHECK(idx.lookup(b.embedding, "", 0.999, 0)->uuid == "b");
}

TEST_CASE("a snapshot taken with a backlog restores it, and the restored backlog links") {
  auto seed = test::test_seed(53);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(dim, small_graph());
  auto indexed = distinct_entries(rng, 200, "g");
  require_all_ok(idx.upsert_many(indexed, 2));
  auto waiting = distinct_entries(rng, 150, "b");
  require_all_ok(idx.upsert_unindexed(waiting));

  auto image = idx.snapshot_image();
  REQUIRE(image);
  REQUIRE(image->entries.size() == indexed.size() + waiting.size());
  for (std::size_t i = 0; i < image->entries.size(); ++i) {
    auto v = image->embedding(i);
    CHECK(std::vector<float>(v.begin(), v.end()) == idx.get(image->entries[i].entry.uuid)->embedding);
  }
  test::temp_dir dir;
  REQUIRE(write_graph_image(image->graph, dir.path / "g.hnsw"));
  auto restored = namespace_index::restore(dim, small_graph(), dir.path / "g.hnsw", test::entries_of(*image));
  REQUIRE(restored);
  auto& r = *restored.value();
  CHECK(r.backlog_size() == waiting.size()); // loaded, not built
  CHECK(r.size() == idx.size());
  CHECK(found_by_vector(r, waiting) == waiting.size());
  link_all(r, 32);
  CHECK(found_by_vector(r, waiting) >= waiting.size() * 99 / 100);
  CHECK(found_by_vector(r, indexed) >= indexed.size() * 99 / 100);
  // Labels keep counting after the largest restored one.
  REQUIRE(r.upsert(make_entry("later", test::random_unit(rng, dim))));
  CHECK(r.export_entries().back().entry.uuid == "later");
}

TEST_CASE("a graph rebuild leaves the backlog in place") {
  auto seed = test::test_seed(59);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto params = small_graph();
  params.min_deleted_for_rebuild = 50;
  namespace_index idx(dim, params);
  auto doomed = distinct_entries(rng, 120, "d");
  require_all_ok(idx.upsert_many(doomed, 2));
  auto kept = distinct_entries(rng, 40, "k");
  require_all_ok(idx.upsert_many(kept, 2));
  auto waiting = distinct_entries(rng, 60, "b");
  require_all_ok(idx.upsert_unindexed(waiting));
  for (const auto& e : doomed)
    REQUIRE(idx.remove(e.uuid));
  CHECK(idx.graph_rebuilds() >= 1);
  CHECK(idx.backlog_size() == waiting.size());
  CHECK(found_by_vector(idx, waiting) == waiting.size());
  CHECK(found_by_vector(idx, kept) == kept.size());
  link_all(idx, 16);
  CHECK(found_by_vector(idx, waiting) == waiting.size());
}

TEST_CASE("lookups running while the backlog is linked always find backlog entries") {
  auto seed = test::test_seed(61);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(dim, small_graph());
  auto indexed = distinct_entries(rng, 500, "g");
  require_all_ok(idx.upsert_many(indexed, 2));
  auto waiting = distinct_entries(rng, 1500, "b");
  require_all_ok(idx.upsert_unindexed(waiting));

  std::atomic<bool> done{false};
  std::atomic<std::size_t> lookups{0}, misses{0};
  std::thread reader([&] {
    for (std::size_t i = 0; !done.load(); i = (i + 1) % waiting.size()) {
      auto hit = idx.lookup(waiting[i].embedding, "", 0.999, 0);
      lookups.fetch_add(1);
      if (!hit || hit->uuid != waiting[i].uuid)
        misses.fetch_add(1);
    }
  });
  link_all(idx, 32);
  done = true;
  reader.join();
  CHECK(lookups.load() > 0);
  // Each entry is either compared directly or in the graph, never neither;
  // HNSW is approximate, so allow the odd miss once linked.
  CHECK(misses.load() <= lookups.load() / 100);
}
