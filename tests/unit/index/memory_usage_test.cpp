#include <catch2/catch.hpp>

#include <random>

#include "index/namespace_index.hpp"
#include "index_test_support.hpp"

using namespace ferro;
using test::make_entry;

TEST_CASE("the memory account counts every vector once and grows with what the entries hold") {
  auto seed = test::test_seed(5);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  constexpr std::size_t dim = 32;
  namespace_index idx(dim, test::small_graph(16));
  auto empty = idx.memory();
  CHECK(empty.graph_vectors == 0);
  CHECK(empty.entry_slots == 0);
  for (int i = 0; i < 100; ++i) {
    auto e = make_entry(test::cat("e", i), test::random_unit(rng, dim),
                        test::cat("a question long enough for the heap ", i));
    e.response = std::string(300, 'r');
    REQUIRE(idx.upsert(e));
  }
  auto m = idx.memory();
  CHECK(m.graph_vectors == 100 * dim * sizeof(float)); // in the graph only
  CHECK(m.backlog_vectors == 0);
  CHECK(m.graph_level0 > 0);
  // Capacity doubled from 16 to 128: 28 free slots.
  CHECK(m.graph_free_slots > 0);
  // Responses of 300 bytes sit on the heap in chunks of at least 301.
  CHECK(m.entry_texts >= 100 * 301);
  CHECK(m.exact_map > 0);
  CHECK(m.total() > m.graph_vectors + m.entry_texts);

  // A removal frees its slot and texts; its graph node stays (marked).
  REQUIRE(idx.remove("e0"));
  auto after = idx.memory();
  CHECK(after.entry_slots < m.entry_slots);
  CHECK(after.entry_texts < m.entry_texts);
  CHECK(after.graph_vectors == m.graph_vectors);
}
