#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>

#include "index/namespace_index.hpp"
#include "index_test_support.hpp"

using namespace ferro;
using test::make_entry;

TEST_CASE("lookups from several threads run safely while a writer upserts and removes") {
  auto seed = test::test_seed(31);
  CAPTURE(seed);
  constexpr std::size_t dim = 16;
  constexpr int keys = 400;
  hnsw_params p;
  p.initial_capacity = 16;        // grows while readers search
  p.min_deleted_for_rebuild = 50; // rebuilds while readers search
  p.ef_construction = 40;
  namespace_index idx(dim, p);

  std::mt19937_64 setup(seed);
  std::vector<std::vector<float>> vectors;
  for (int i = 0; i < keys; ++i)
    vectors.push_back(test::random_unit(setup, dim));

  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> hits{0}, bad{0};
  auto reader = [&](std::uint64_t reader_seed) {
    std::mt19937_64 rng(reader_seed);
    std::int64_t now = 10000;
    while (!done.load(std::memory_order_acquire)) {
      auto k = static_cast<int>(rng() % keys);
      auto q = test::jitter(vectors[k], 0.01f, rng);
      auto hit = idx.lookup(q, rng() % 4 == 0 ? test::cat("text ", k) : "", 0.8, ++now);
      if (hit) {
        hits.fetch_add(1, std::memory_order_relaxed);
        // The response always belongs to the uuid it comes with.
        if (hit->response.rfind("response of " + hit->uuid, 0) != 0)
          bad.fetch_add(1, std::memory_order_relaxed);
      }
      switch (rng() % 16) {
        case 0:
          idx.within_radius(q, 0.9, now);
          break;
        case 1:
          idx.top_entries(10);
          idx.stats();
          break;
        case 2:
          idx.lru_victims(keys / 2);
          idx.expired(now);
          break;
        case 3:
          if (auto e = idx.get(test::cat("k", k)); e && e->embedding.size() != dim)
            bad.fetch_add(1, std::memory_order_relaxed);
          break;
        default:
          break;
      }
    }
  };
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r)
    readers.emplace_back(reader, seed + 100 + r);

  std::mt19937_64 rng(seed + 1);
  for (int op = 0; op < 6000; ++op) {
    auto k = static_cast<int>(rng() % keys);
    auto uuid = test::cat("k", k);
    if (rng() % 3 == 0) {
      idx.remove(uuid);
    } else {
      auto e = make_entry(uuid, vectors[k], test::cat("text ", k), op, op % 7 == 0 ? 10000 + op : 0);
      e.response += test::cat(" v", op);
      REQUIRE(idx.upsert(e));
    }
    if (op % 500 == 0)
      (void)idx.export_entries();
  }
  done.store(true, std::memory_order_release);
  for (auto& t : readers)
    t.join();

  CAPTURE(hits.load(), idx.graph_rebuilds(), idx.graph_capacity());
  CHECK(bad.load() == 0);
  CHECK(hits.load() > 0);
  CHECK(idx.graph_rebuilds() > 0);
  CHECK(idx.graph_capacity() > 16);
  // Afterwards every entry still finds itself.
  for (const auto& le : idx.export_entries()) {
    auto hit = idx.lookup(le.entry.embedding, "", 0.9999, 0);
    REQUIRE(hit);
    CHECK(hit->uuid == le.entry.uuid);
  }
}
