#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "common/namespace_key.hpp"
#include "index/namespace_index.hpp"
#include "index_test_support.hpp"

using namespace ferro;
using test::make_entry;

TEST_CASE("a query at or above the threshold is a hit and one just below it is a miss") {
  auto seed = test::test_seed(1);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(32, test::small_graph(64));
  auto v = test::random_unit(rng, 32);
  REQUIRE(idx.upsert(make_entry("a", v)));
  for (int i = 0; i < 50; ++i) // distractors far away
    REQUIRE(idx.upsert(make_entry(test::cat("far", i), test::at_cosine(v, -0.5, rng))));
  auto q = test::at_cosine(v, 0.93, rng);

  auto probe = idx.lookup(q, "", 0.0, 5000);
  REQUIRE(probe);
  CHECK(probe->uuid == "a");
  CHECK_FALSE(probe->exact_match);
  CHECK(probe->similarity == Approx(0.93).margin(1e-5));
  double s = probe->similarity;

  auto at = idx.lookup(q, "", s, 5000);
  REQUIRE(at);
  CHECK(at->uuid == "a");
  CHECK(at->response == "response of a");
  CHECK_FALSE(idx.lookup(q, "", std::nextafter(s, 2.0), 5000));
  CHECK_FALSE(idx.lookup(q, "", 0.95, 5000));
  CHECK(idx.lookup(q, "", 0.92, 5000));
}

TEST_CASE("an identical vector has similarity 1 and an opposite one -1") {
  auto seed = test::test_seed(2);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(64, test::small_graph(64));
  auto v = test::random_unit(rng, 64);
  REQUIRE(idx.upsert(make_entry("a", v)));
  auto same = idx.lookup(v, "", 1.0 - 1e-6, 0);
  REQUIRE(same);
  CHECK(same->similarity == Approx(1.0).margin(1e-6));
  CHECK(same->similarity <= 1.0);
  auto opposite = v;
  for (auto& x : opposite)
    x = -x;
  auto far = idx.lookup(opposite, "", -1.0, 0);
  REQUIRE(far);
  CHECK(far->similarity == Approx(-1.0).margin(1e-6));
  CHECK(far->similarity >= -1.0);
}

TEST_CASE("an exact text match is a hit with similarity 1 whatever the vector and the threshold") {
  auto seed = test::test_seed(3);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(16, test::small_graph(64));
  auto v = test::random_unit(rng, 16);
  REQUIRE(idx.upsert(make_entry("a", v, "  What is\tthe CAPITAL of France? ")));
  auto unrelated = test::at_cosine(v, 0.0, rng);

  auto hit = idx.lookup(unrelated, normalize_text("what is the capital   of france?"), 0.99, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "a");
  CHECK(hit->exact_match);
  CHECK(hit->similarity == 1.0);
  CHECK_FALSE(idx.lookup(unrelated, normalize_text("what is the capital of spain?"), 0.99, 0));
}

TEST_CASE("entries with a blank query text never match by text") {
  auto seed = test::test_seed(4);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(16, test::small_graph(64));
  auto v = test::random_unit(rng, 16);
  REQUIRE(idx.upsert(make_entry("empty", v, "")));
  REQUIRE(idx.upsert(make_entry("spaces", test::random_unit(rng, 16), " \t\n ")));
  auto unrelated = test::at_cosine(v, 0.0, rng);
  CHECK_FALSE(idx.lookup(unrelated, "", 0.99, 0));
  CHECK_FALSE(idx.lookup(unrelated, normalize_text("   "), 0.99, 0));
  // The vector path still finds them.
  auto hit = idx.lookup(v, "", 0.99, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "empty");
  CHECK_FALSE(hit->exact_match);
}

TEST_CASE("the most recently inserted live entry wins among entries with the same text") {
  auto seed = test::test_seed(5);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(16, test::small_graph(64));
  REQUIRE(idx.upsert(make_entry("old", test::random_unit(rng, 16), "hello world")));
  REQUIRE(idx.upsert(make_entry("new", test::random_unit(rng, 16), "Hello   World", 1000, 3000)));
  auto q = test::random_unit(rng, 16);
  auto hit = idx.lookup(q, "hello world", 1.0, 2000);
  REQUIRE(hit);
  CHECK(hit->uuid == "new");
  // Once "new" has expired, "old" answers.
  hit = idx.lookup(q, "hello world", 1.0, 3000);
  REQUIRE(hit);
  CHECK(hit->uuid == "old");
  // Removing "old" leaves only the expired one: no text match.
  REQUIRE(idx.remove("old"));
  CHECK_FALSE(idx.lookup(q, "hello world", 1.0, 3000));
}

TEST_CASE("upserting an existing uuid replaces its vector, response and text") {
  auto seed = test::test_seed(6);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(32, test::small_graph(64));
  auto v1 = test::random_unit(rng, 32);
  auto v2 = test::at_cosine(v1, -0.2, rng);
  REQUIRE(idx.upsert(make_entry("a", v1, "first text")));
  REQUIRE(idx.upsert(make_entry("b", test::at_cosine(v1, 0.5, rng))));
  auto replacement = make_entry("a", v2, "second text", 2000);
  replacement.response = "second answer";
  REQUIRE(idx.upsert(replacement));

  CHECK(idx.size() == 2);
  CHECK_FALSE(idx.lookup(v1, "", 0.9, 0));
  auto hit = idx.lookup(v2, "", 0.99, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "a");
  CHECK(hit->response == "second answer");
  CHECK_FALSE(idx.lookup(v1, "first text", 0.99, 0));
  CHECK(idx.lookup(v1, "second text", 0.99, 0));
  auto got = idx.get("a");
  REQUIRE(got);
  CHECK(got->created_at_ms == 2000);
  CHECK(got->embedding == v2);
  CHECK(idx.stats().oldest_entry_ms == 1000);
  CHECK(idx.stats().newest_entry_ms == 2000);
}

TEST_CASE("a removed entry is gone from every path") {
  auto seed = test::test_seed(7);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(16, test::small_graph(64));
  auto v = test::random_unit(rng, 16);
  REQUIRE(idx.upsert(make_entry("a", v, "some text", 1000, 9000)));
  REQUIRE(idx.upsert(make_entry("b", test::at_cosine(v, 0.3, rng))));
  REQUIRE(idx.remove("a"));
  CHECK_FALSE(idx.remove("a"));
  CHECK_FALSE(idx.contains("a"));
  CHECK_FALSE(idx.get("a"));
  CHECK(idx.size() == 1);
  CHECK_FALSE(idx.lookup(v, "some text", 0.5, 0));
  CHECK(idx.within_radius(v, 0.9, 0).empty());
  CHECK(idx.expired(10000).empty());
  CHECK(idx.lru_victims(0) == std::vector<std::string>{"b"});
  auto hit = idx.lookup(v, "", -1.0, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "b");
}

TEST_CASE("expired entries are skipped by lookup and listed by expired") {
  auto seed = test::test_seed(8);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(16, test::small_graph(64));
  auto v = test::random_unit(rng, 16);
  REQUIRE(idx.upsert(make_entry("near", v, "", 1000, 2000)));
  REQUIRE(idx.upsert(make_entry("farther", test::at_cosine(v, 0.9, rng), "", 1000, 0)));
  REQUIRE(idx.upsert(make_entry("later", test::at_cosine(v, 0.1, rng), "", 1000, 2500)));

  auto hit = idx.lookup(v, "", 0.5, 1999);
  REQUIRE(hit);
  CHECK(hit->uuid == "near");
  hit = idx.lookup(v, "", 0.5, 2000);
  REQUIRE(hit);
  CHECK(hit->uuid == "farther");
  CHECK_FALSE(idx.lookup(v, "", 0.95, 2000));

  CHECK(idx.expired(1999).empty());
  CHECK(idx.expired(2000) == std::vector<std::string>{"near"});
  CHECK(idx.expired(99999) == std::vector<std::string>{"near", "later"});
  CHECK(idx.size() == 3); // expiry is the caller's removal
  CHECK(idx.within_radius(v, 0.95, 2000).empty());
}

TEST_CASE("lookup searches deeper when all the nearest entries have expired") {
  auto seed = test::test_seed(9);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto p = test::small_graph(64);
  p.ef_search = 4;
  namespace_index idx(32, p);
  auto v = test::random_unit(rng, 32);
  for (int i = 0; i < 300; ++i)
    REQUIRE(idx.upsert(make_entry(test::cat("gone", i), test::jitter(v, 0.02f, rng), "", 1000, 1500)));
  for (int i = 0; i < 300; ++i)
    REQUIRE(idx.upsert(make_entry(test::cat("other", i), test::random_unit(rng, 32))));
  auto live = test::at_cosine(v, 0.8, rng);
  REQUIRE(idx.upsert(make_entry("live", live)));

  auto hit = idx.lookup(v, "", 0.7, 1600);
  REQUIRE(hit);
  CHECK(hit->uuid == "live");
  CHECK(hit->similarity == Approx(0.8).margin(1e-4));
  // Above every live candidate: a miss.
  CHECK_FALSE(idx.lookup(v, "", 0.85, 1600));
}

TEST_CASE("LRU victims are the least recently used, never-accessed entries ordered by creation") {
  auto seed = test::test_seed(10);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(16, test::small_graph(64));
  std::vector<std::vector<float>> v;
  // Created out of insertion order: e4 is the oldest.
  std::int64_t created[] = {300, 100, 400, 50, 500};
  for (int i = 0; i < 5; ++i) {
    v.push_back(test::random_unit(rng, 16));
    REQUIRE(idx.upsert(make_entry(test::cat("e", i + 1), v.back(), "", created[i])));
  }
  REQUIRE(idx.lookup(v[1], "", 0.999, 1000)); // e2
  REQUIRE(idx.lookup(v[0], "", 0.999, 1100)); // e1
  REQUIRE(idx.lookup(v[1], "", 0.999, 1200)); // e2 again

  CHECK(idx.lru_victims(5).empty());
  CHECK(idx.lru_victims(9).empty());
  CHECK(idx.lru_victims(3) == std::vector<std::string>{"e4", "e3"});
  CHECK(idx.lru_victims(0) == std::vector<std::string>{"e4", "e3", "e5", "e1", "e2"});
  REQUIRE(idx.remove("e3"));
  CHECK(idx.lru_victims(2) == std::vector<std::string>{"e4", "e5"});
}

TEST_CASE("top entries are the most accessed, ties broken by the most recent access") {
  auto seed = test::test_seed(12);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(16, test::small_graph(64));
  std::vector<std::vector<float>> v;
  for (int i = 0; i < 4; ++i) {
    v.push_back(test::random_unit(rng, 16));
    REQUIRE(idx.upsert(make_entry(test::cat("e", i), v.back(), test::cat("query ", i))));
  }
  auto hit = [&](int i, std::int64_t at) { REQUIRE(idx.lookup(v[i], "", 0.999, at)); };
  hit(0, 100);
  hit(1, 110);
  hit(1, 120);
  hit(2, 130);
  hit(2, 140);
  hit(3, 90);

  auto top = idx.top_entries(10);
  REQUIRE(top.size() == 4);
  CHECK(top[0].uuid == "e2");
  CHECK(top[0].access_count == 2);
  CHECK(top[0].last_accessed_ms == 140);
  CHECK(top[0].query_text == "query 2");
  CHECK(top[1].uuid == "e1");
  CHECK(top[2].uuid == "e0");
  CHECK(top[3].uuid == "e3");
  CHECK(idx.top_entries(1).size() == 1);
  CHECK(idx.top_entries(0).empty());
  CHECK(idx.stats().total_accesses == 6);
}

TEST_CASE("stats report the count, dimension, creation range and total accesses") {
  auto seed = test::test_seed(13);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(8, test::small_graph(64));
  auto empty = idx.stats();
  CHECK(empty.entry_count == 0);
  CHECK(empty.dimension == 8);
  CHECK(empty.oldest_entry_ms == 0);
  auto a = make_entry("a", test::random_unit(rng, 8), "", 500);
  a.access_count = 4;
  a.last_accessed_ms = 600;
  REQUIRE(idx.upsert(a));
  REQUIRE(idx.upsert(make_entry("b", test::random_unit(rng, 8), "", 700)));
  REQUIRE(idx.upsert(make_entry("c", test::random_unit(rng, 8), "", 300)));
  auto st = idx.stats();
  CHECK(st.entry_count == 3);
  CHECK(st.oldest_entry_ms == 300);
  CHECK(st.newest_entry_ms == 700);
  CHECK(st.total_accesses == 4);
  REQUIRE(idx.remove("a"));
  REQUIRE(idx.remove("c"));
  st = idx.stats();
  CHECK(st.oldest_entry_ms == 700);
  CHECK(st.total_accesses == 0);
}

TEST_CASE("get returns the stored entry with its access statistics") {
  auto seed = test::test_seed(14);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(8, test::small_graph(64));
  auto v = test::random_unit(rng, 8);
  REQUIRE(idx.upsert(make_entry("a", v, "Text", 100, 900)));
  REQUIRE(idx.lookup(v, "", 0.9, 150));
  auto e = idx.get("a");
  REQUIRE(e);
  CHECK(e->uuid == "a");
  CHECK(e->embedding == v);
  CHECK(e->response == "response of a");
  CHECK(e->query_text == "Text");
  CHECK(e->created_at_ms == 100);
  CHECK(e->expires_at_ms == 900);
  CHECK(e->access_count == 1);
  CHECK(e->last_accessed_ms == 150);
  CHECK(idx.contains("a"));
  CHECK_FALSE(idx.contains("b"));
}

TEST_CASE("a query of the wrong dimension is a miss and an insert of the wrong dimension is refused") {
  auto seed = test::test_seed(15);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(8, test::small_graph(64));
  REQUIRE(idx.upsert(make_entry("a", test::random_unit(rng, 8), "t")));
  CHECK_FALSE(idx.lookup(test::random_unit(rng, 9), "t", 0.0, 0));
  CHECK(idx.within_radius(test::random_unit(rng, 7), -1.0, 0).empty());
  auto bad = idx.upsert(make_entry("b", test::random_unit(rng, 9)));
  REQUIRE_FALSE(bad);
  CHECK(bad.err().code == errc::bad_request);
  auto nan = make_entry("c", test::random_unit(rng, 8));
  nan.embedding[3] = std::nanf("");
  CHECK_FALSE(idx.upsert(nan));
  CHECK(idx.size() == 1);
}

TEST_CASE("within_radius returns exactly the entries a brute-force scan finds") {
  auto seed = test::test_seed(16);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  constexpr std::size_t dim = 24;
  namespace_index idx(dim, test::small_graph(64));
  std::vector<std::vector<float>> v;
  auto center = test::random_unit(rng, dim);
  for (int i = 0; i < 1500; ++i) {
    // Half clustered around one point so radii capture many entries.
    v.push_back(i % 2 ? test::jitter(center, 0.15f, rng) : test::random_unit(rng, dim));
    std::int64_t expires = i % 10 == 0 ? 2000 : 0;
    REQUIRE(idx.upsert(make_entry(test::cat("e", i), v.back(), "", 1000, expires)));
  }
  for (int i = 0; i < 1500; i += 7)
    REQUIRE(idx.remove(test::cat("e", i)));
  for (int probe_no = 0; probe_no < 20; ++probe_no) {
    auto probe = probe_no % 2 ? test::jitter(center, 0.1f, rng) : test::random_unit(rng, dim);
    double threshold = 0.3 + 0.03 * probe_no;
    auto got = idx.within_radius(probe, threshold, 3000);
    std::set<std::string> got_set(got.begin(), got.end());
    CHECK(got_set.size() == got.size());
    std::size_t expected = 0;
    for (int i = 0; i < 1500; ++i) {
      if (i % 7 == 0 || i % 10 == 0)
        continue;
      double c = test::cosine(probe, v[i]);
      if (std::abs(c - threshold) < 1e-5)
        continue; // float rounding may go either way
      auto id = test::cat("e", i);
      CAPTURE(probe_no, id, c, threshold);
      CHECK((c >= threshold) == (got_set.count(id) == 1));
      expected += c >= threshold;
    }
    CAPTURE(probe_no);
    CHECK(got.size() >= expected);
  }
}

TEST_CASE("the graph grows past its initial capacity by doubling and finds every entry") {
  auto seed = test::test_seed(17);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  hnsw_params p;
  p.initial_capacity = 8;
  namespace_index idx(16, p);
  CHECK(idx.graph_capacity() == 8);
  std::vector<std::vector<float>> v;
  for (int i = 0; i < 700; ++i) {
    v.push_back(test::random_unit(rng, 16));
    REQUIRE(idx.upsert(make_entry(test::cat("e", i), v.back())));
  }
  CHECK(idx.graph_capacity() == 1024);
  CHECK(idx.size() == 700);
  for (int i = 0; i < 700; ++i) {
    auto hit = idx.lookup(v[i], "", 0.9999, 0);
    REQUIRE(hit);
    CHECK(hit->uuid == test::cat("e", i));
  }
}

TEST_CASE("the graph is rebuilt once deleted nodes outnumber live ones and results stay right") {
  auto seed = test::test_seed(18);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  hnsw_params p;
  p.initial_capacity = 32;
  p.min_deleted_for_rebuild = 100;
  namespace_index idx(16, p);
  std::vector<std::vector<float>> v;
  for (int i = 0; i < 1000; ++i) {
    v.push_back(test::random_unit(rng, 16));
    REQUIRE(idx.upsert(make_entry(test::cat("e", i), v.back(), test::cat("text ", i), 1000 + i)));
  }
  for (int i = 0; i < 1000; i += 10)
    REQUIRE(idx.lookup(v[i], "", 0.9999, 5000 + i)); // give some entries access history
  auto labels_before = idx.export_entries();

  for (int i = 0; i < 1000; ++i)
    if (i % 5 != 0)
      REQUIRE(idx.remove(test::cat("e", i)));
  CHECK(idx.graph_rebuilds() >= 1);
  CHECK(idx.graph_deleted() <= idx.size());
  CHECK(idx.size() == 200);
  CHECK(idx.graph_capacity() < 1024);

  // Labels survive the rebuild.
  auto after = idx.export_entries();
  REQUIRE(after.size() == 200);
  for (const auto& le : after) {
    auto before = std::find_if(labels_before.begin(), labels_before.end(),
                               [&](const labelled_entry& b) { return b.entry.uuid == le.entry.uuid; });
    REQUIRE(before != labels_before.end());
    CHECK(before->label == le.label);
    CHECK(before->entry.embedding == le.entry.embedding);
  }
  for (int i = 0; i < 1000; ++i) {
    auto id = test::cat("e", i);
    auto hit = idx.lookup(v[i], "", 0.9999, 9000);
    CAPTURE(id);
    if (i % 5 == 0) {
      REQUIRE(hit);
      CHECK(hit->uuid == id);
      CHECK(idx.lookup(v[i], test::cat("text ", i), 0.9999, 9000)->exact_match);
    } else {
      CHECK((!hit || hit->uuid != id));
    }
  }
  // Access history and order survive too (every survivor was just touched
  // at 9000, in uuid order).
  CHECK(idx.get("e10")->access_count == 3);
  CHECK(idx.lru_victims(198) == std::vector<std::string>{"e0", "e5"});
  // And the index keeps working afterwards.
  auto fresh = test::random_unit(rng, 16);
  REQUIRE(idx.upsert(make_entry("fresh", fresh)));
  CHECK(idx.lookup(fresh, "", 0.9999, 0)->uuid == "fresh");
  CHECK(idx.export_entries().back().label == 1000);
}

TEST_CASE("entries keep their access statistics when given on insert") {
  auto seed = test::test_seed(19);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  namespace_index idx(8, test::small_graph(64));
  auto e = make_entry("a", test::random_unit(rng, 8), "", 100);
  e.access_count = 7;
  e.last_accessed_ms = 5000;
  REQUIRE(idx.upsert(e));
  REQUIRE(idx.upsert(make_entry("b", test::random_unit(rng, 8), "", 200)));
  CHECK(idx.lru_victims(1) == std::vector<std::string>{"b"});
  CHECK(idx.top_entries(1)[0].uuid == "a");
}
