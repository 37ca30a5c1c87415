#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <unistd.h>

#include "index/graph_file.hpp"
#include "index/graph_image.hpp"
#include "index/hnsw_graph.hpp"
#include "index/namespace_index.hpp"
#include "index_test_support.hpp"

using namespace ferro;
using test::entries_of;
using test::make_entry;
using test::temp_dir;
namespace fs = std::filesystem;

namespace {

std::vector<char> read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Recomputes the trailer after the payload was edited, as a buggy writer
/// would have produced it.
void reseal(std::vector<char>& bytes) {
  auto payload = bytes.size() - graph_file::trailer_size;
  graph_file::checksum c;
  c.update(bytes.data(), payload);
  auto digest = c.digest();
  std::memcpy(bytes.data() + payload, &digest, sizeof(digest));
}

struct fixture {
  static constexpr std::size_t dim = 24;
  hnsw_params params;
  std::unique_ptr<namespace_index> idx;
  std::vector<std::vector<float>> vectors;
  std::vector<std::vector<float>> queries;

  explicit fixture(std::uint64_t seed, int n = 2000) {
    params.initial_capacity = 64;
    params.min_deleted_for_rebuild = 200;
    idx = std::make_unique<namespace_index>(dim, params);
    std::mt19937_64 rng(seed);
    std::vector<std::vector<float>> centers;
    for (int c = 0; c < 20; ++c)
      centers.push_back(test::random_unit(rng, dim));
    for (int i = 0; i < n; ++i) {
      vectors.push_back(test::jitter(centers[i % 20], 0.2f, rng));
      auto e = make_entry(test::cat("e", i), vectors.back(), test::cat("text ", i % 300), 1000 + i,
                          i % 9 == 0 ? 5000 : 0);
      REQUIRE(idx->upsert(e));
    }
    for (int i = 0; i < n; i += 3)
      REQUIRE(idx->remove(test::cat("e", i)));
    for (int i = 1; i < n; i += 50) // a few replacements
      REQUIRE(idx->upsert(make_entry(test::cat("e", i), test::jitter(vectors[i], 0.05f, rng))));
    for (int q = 0; q < 300; ++q)
      queries.push_back(test::jitter(centers[q % 20], 0.2f, rng));
    for (int q = 0; q < 100; ++q)
      idx->lookup(queries[q], "", 0.5, 2000 + q);
  }
};

// A fixture's index with its graph saved to a file: what a restore reads
// (the graph file, and the entries a snapshot keeps beside it).
struct saved_graph {
  fixture f;
  temp_dir dir;
  fs::path file;
  std::vector<labelled_entry> entries;
  saved_graph(std::uint64_t seed, int n) : f(seed, n), file(dir.path / "graph.hnsw") {
    REQUIRE(f.idx->save_graph(file));
    entries = f.idx->export_entries();
  }
};

void check_same_answers(namespace_index& a, namespace_index& b,
                        const std::vector<std::vector<float>>& queries) {
  for (std::size_t q = 0; q < queries.size(); ++q) {
    std::string text = q % 4 == 0 ? test::cat("text ", q) : "";
    for (std::int64_t now : {4000, 6000}) {
      auto x = a.lookup(queries[q], text, 0.6, now);
      auto y = b.lookup(queries[q], text, 0.6, now);
      CAPTURE(q, now);
      REQUIRE(x.has_value() == y.has_value());
      if (x) {
        CHECK(x->uuid == y->uuid);
        CHECK(x->similarity == y->similarity);
        CHECK(x->exact_match == y->exact_match);
        CHECK(x->response == y->response);
      }
    }
  }
}

} // namespace

TEST_CASE("a saved graph restored with its entries gives identical lookups") {
  auto seed = test::test_seed(21);
  CAPTURE(seed);
  fixture f(seed);
  temp_dir dir;
  auto file = dir.path / "graph.hnsw";
  REQUIRE(f.idx->save_graph(file));
  CHECK_FALSE(fs::exists(dir.path / "graph.hnsw.tmp"));
  auto entries = f.idx->export_entries();
  auto restored = namespace_index::restore(f.dim, f.params, file, entries);
  REQUIRE(restored);
  auto& r = *restored.value();

  CHECK(r.size() == f.idx->size());
  CHECK(r.graph_deleted() == f.idx->graph_deleted());
  auto s1 = f.idx->stats(), s2 = r.stats();
  CHECK(s1.entry_count == s2.entry_count);
  CHECK(s1.oldest_entry_ms == s2.oldest_entry_ms);
  CHECK(s1.newest_entry_ms == s2.newest_entry_ms);
  CHECK(s1.total_accesses == s2.total_accesses);
  // Same LRU order, up to the order of events within one millisecond.
  auto recency = [](const namespace_index& idx) {
    std::vector<std::int64_t> keys;
    for (const auto& uuid : idx.lru_victims(0)) {
      auto e = idx.get(uuid);
      keys.push_back(std::max(e->created_at_ms, e->last_accessed_ms));
    }
    return keys;
  };
  auto keys = recency(*f.idx);
  CHECK(std::is_sorted(keys.begin(), keys.end()));
  CHECK(recency(r) == keys);
  CHECK(r.expired(6000) == f.idx->expired(6000));
  auto back = r.export_entries();
  REQUIRE(back.size() == entries.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].label == entries[i].label);
    CHECK(back[i].entry.uuid == entries[i].entry.uuid);
    CHECK(back[i].entry.embedding == entries[i].entry.embedding);
    CHECK(back[i].entry.access_count == entries[i].entry.access_count);
  }
  check_same_answers(*f.idx, r, f.queries);

  // New inserts continue the label sequence.
  std::mt19937_64 rng(seed + 1);
  REQUIRE(r.upsert(make_entry("new", test::random_unit(rng, f.dim))));
  CHECK(r.export_entries().back().label == entries.back().label + 1);
}

TEST_CASE("an empty index survives a save and restore") {
  temp_dir dir;
  namespace_index idx(8, hnsw_params{});
  REQUIRE(idx.save_graph(dir.path / "g"));
  auto r = namespace_index::restore(8, hnsw_params{}, dir.path / "g", {});
  REQUIRE(r);
  CHECK(r.value()->size() == 0);
  std::mt19937_64 rng(1);
  auto v = test::random_unit(rng, 8);
  REQUIRE(r.value()->upsert(make_entry("a", v)));
  CHECK(r.value()->lookup(v, "", 0.99, 0));
}

TEST_CASE("restore adds entries missing from the graph and drops graph nodes without an entry") {
  auto seed = test::test_seed(22);
  CAPTURE(seed);
  saved_graph saved(seed, 600);
  auto& f = saved.f;
  const auto& file = saved.file;
  auto entries = saved.entries;
  REQUIRE(entries.size() > 100);

  // "e2" lost its entry; a newer entry exists only in the entry list.
  auto gone =
      std::find_if(entries.begin(), entries.end(), [](const auto& le) { return le.entry.uuid == "e2"; });
  REQUIRE(gone != entries.end());
  auto gone_vector = gone->entry.embedding;
  entries.erase(gone);
  std::mt19937_64 rng(seed);
  auto extra_vector = test::random_unit(rng, f.dim);
  auto extra_label = entries.back().label + 10;
  entries.push_back({extra_label, make_entry("extra", extra_vector, "extra text")});
  // Also a stale duplicate of "e4" with an older label: the newer one wins.
  auto e4 =
      *std::find_if(entries.begin(), entries.end(), [](const auto& le) { return le.entry.uuid == "e4"; });
  auto stale = e4;
  stale.label = 1;
  auto one = std::find_if(entries.begin(), entries.end(), [](const auto& le) { return le.label == 1; });
  if (one == entries.end())
    entries.push_back(stale);

  auto restored = namespace_index::restore(f.dim, f.params, file, entries);
  REQUIRE(restored);
  auto& r = *restored.value();
  CHECK_FALSE(r.contains("e2"));
  auto miss = r.lookup(gone_vector, "", 0.9999, 0);
  CHECK((!miss || miss->uuid != "e2"));
  auto hit = r.lookup(extra_vector, "", 0.9999, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == "extra");
  CHECK(r.lookup(test::random_unit(rng, f.dim), "extra text", 1.0, 0)->uuid == "extra");
  CHECK(r.lookup(e4.entry.embedding, "", 0.9999, 0)->uuid == "e4");
  CHECK(r.export_entries().back().label == extra_label);
  REQUIRE(r.upsert(make_entry("later", test::random_unit(rng, f.dim))));
  CHECK(r.export_entries().back().label > e4.label);
}

TEST_CASE("restore of a missing graph file is an error") {
  temp_dir dir;
  auto r = namespace_index::restore(8, hnsw_params{}, dir.path / "nope", {});
  REQUIRE_FALSE(r);
  CHECK(r.err().code == errc::not_found);
}

TEST_CASE("restore refuses a graph of another dimension or another M") {
  auto seed = test::test_seed(23);
  CAPTURE(seed);
  saved_graph saved(seed, 300);
  auto& f = saved.f;
  const auto& file = saved.file;
  auto entries = saved.entries;
  CHECK_FALSE(namespace_index::restore(f.dim + 1, f.params, file, entries));
  CHECK_FALSE(namespace_index::restore(f.dim - 8, f.params, file, {}));
  auto other_m = f.params;
  other_m.max_nb_connection = 12;
  CHECK_FALSE(namespace_index::restore(f.dim, other_m, file, entries));
  // Entries that disagree with the graph vectors are refused as well.
  entries[5].entry.embedding[0] += 0.001f;
  CHECK_FALSE(namespace_index::restore(f.dim, f.params, file, entries));
  auto twice = f.idx->export_entries();
  twice.push_back(twice.front());
  twice.back().entry.uuid = "same label";
  CHECK_FALSE(namespace_index::restore(f.dim, f.params, file, twice));
}

TEST_CASE("restore keeps the larger label of a uuid held twice and takes entries in any order") {
  auto seed = test::test_seed(23);
  CAPTURE(seed);
  saved_graph saved(seed, 300);
  auto& f = saved.f;
  const auto& file = saved.file;
  auto entries = saved.entries;
  // The uuid of the first entry again, at a label without a graph node:
  // the newer one wins, the older one's node counts as deleted.
  auto twice = entries;
  twice.push_back(twice.front());
  twice.back().label = entries.back().label + 100;
  twice.back().entry.response = "newer";
  auto r = namespace_index::restore(f.dim, f.params, file, twice);
  REQUIRE(r);
  CHECK(r.value()->size() == entries.size());
  CHECK(r.value()->get(entries.front().entry.uuid)->response == "newer");
  CHECK(r.value()->backlog_size() == 1);
  CHECK(r.value()->export_entries().front().entry.uuid != entries.front().entry.uuid);
  // Out of label order: restore sorts them itself.
  auto reversed = entries;
  std::reverse(reversed.begin(), reversed.end());
  auto back = namespace_index::restore(f.dim, f.params, file, reversed);
  REQUIRE(back);
  auto out = back.value()->export_entries();
  REQUIRE(out.size() == entries.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].label == entries[i].label);
    CHECK(out[i].entry == entries[i].entry);
  }
}

TEST_CASE("restore refuses every truncation of a graph file") {
  auto seed = test::test_seed(24);
  CAPTURE(seed);
  saved_graph saved(seed, 300);
  auto& f = saved.f;
  const auto& file = saved.file;
  auto bytes = read_all(file);
  auto entries = saved.entries;
  REQUIRE(bytes.size() > 1000);
  std::vector<std::size_t> cuts{0,
                                1,
                                8,
                                50,
                                95,
                                96,
                                97,
                                500,
                                bytes.size() / 2,
                                bytes.size() - 17,
                                bytes.size() - 16,
                                bytes.size() - 8,
                                bytes.size() - 1};
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 30; ++i)
    cuts.push_back(rng() % bytes.size());
  for (auto cut : cuts) {
    write_all(file, std::vector<char>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut)));
    CAPTURE(cut);
    CHECK_FALSE(namespace_index::restore(f.dim, f.params, file, entries));
  }
  // Trailing garbage is refused as well.
  auto longer = bytes;
  longer.push_back('x');
  write_all(file, longer);
  CHECK_FALSE(namespace_index::restore(f.dim, f.params, file, entries));
  write_all(file, bytes);
  CHECK(namespace_index::restore(f.dim, f.params, file, entries));
}

TEST_CASE("restore refuses a graph file with any flipped byte") {
  auto seed = test::test_seed(25);
  CAPTURE(seed);
  saved_graph saved(seed, 200);
  auto& f = saved.f;
  const auto& file = saved.file;
  auto bytes = read_all(file);
  auto entries = saved.entries;
  std::mt19937_64 rng(seed);
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < graph_file::header_size; ++i)
    positions.push_back(i);
  for (std::size_t i = bytes.size() - graph_file::trailer_size; i < bytes.size(); ++i)
    positions.push_back(i);
  for (int i = 0; i < 300; ++i)
    positions.push_back(rng() % bytes.size());
  for (auto pos : positions) {
    auto copy = bytes;
    copy[pos] = static_cast<char>(copy[pos] ^ static_cast<char>(1 + rng() % 255));
    write_all(file, copy);
    CAPTURE(pos);
    auto r = namespace_index::restore(f.dim, f.params, file, entries);
    CHECK_FALSE(r);
  }
}

TEST_CASE("restore refuses a graph with out-of-range links even when its checksum is valid") {
  auto seed = test::test_seed(26);
  CAPTURE(seed);
  saved_graph saved(seed, 200);
  auto& f = saved.f;
  const auto& file = saved.file;
  auto bytes = read_all(file);
  auto entries = saved.entries;
  graph_file::header h;
  {
    unsigned char raw[graph_file::header_size];
    std::memcpy(raw, bytes.data(), sizeof(raw));
    h = graph_file::decode_header(raw);
  }
  REQUIRE(h.element_count > 10);
  auto node = [&](std::size_t i) { return graph_file::header_size + i * h.size_data_per_element; };

  SECTION("a level-0 link past the last node") {
    std::uint16_t count;
    std::memcpy(&count, bytes.data() + node(3), 2);
    REQUIRE(count > 0);
    std::uint32_t target = 0xfffffff0u;
    std::memcpy(bytes.data() + node(3) + 4, &target, 4);
  }
  SECTION("more level-0 links than 2M") {
    std::uint16_t count = static_cast<std::uint16_t>(h.max_m0 + 1);
    std::memcpy(bytes.data() + node(7), &count, 2);
  }
  SECTION("an entry point past the last node") {
    std::uint32_t ep = static_cast<std::uint32_t>(h.element_count);
    std::memcpy(bytes.data() + 52, &ep, 4);
  }
  SECTION("a huge element count") {
    std::uint64_t count = std::uint64_t{1} << 40;
    std::memcpy(bytes.data() + 16, &count, 8);
  }
  SECTION("a level-0 record of another size") {
    std::uint64_t size = h.size_data_per_element + 4;
    std::memcpy(bytes.data() + 24, &size, 8);
  }
  reseal(bytes);
  write_all(file, bytes);
  CHECK_FALSE(namespace_index::restore(f.dim, f.params, file, entries));
}

TEST_CASE("rebuild from entries alone finds every entry the original held") {
  auto seed = test::test_seed(27);
  CAPTURE(seed);
  fixture f(seed, 1500);
  auto entries = f.idx->export_entries();
  auto rebuilt = namespace_index::rebuild(f.dim, f.params, entries);
  REQUIRE(rebuilt);
  CHECK(rebuilt->size() == f.idx->size());
  CHECK(rebuilt->graph_deleted() == 0);
  for (const auto& le : entries) {
    auto hit = rebuilt->lookup(le.entry.embedding, "", 0.9999, 0);
    REQUIRE(hit);
    CHECK(hit->similarity == Approx(1.0).margin(1e-6));
    CHECK(rebuilt->get(hit->uuid)->embedding == le.entry.embedding);
  }
  auto back = rebuilt->export_entries();
  REQUIRE(back.size() == entries.size());
  for (std::size_t i = 0; i < back.size(); ++i)
    CHECK(back[i].label == entries[i].label);
}

TEST_CASE("rebuild relabels colliding labels, keeps the last of duplicate uuids and skips bad entries") {
  std::mt19937_64 rng(test::test_seed(28));
  std::vector<labelled_entry> entries;
  entries.push_back({5, make_entry("a", test::random_unit(rng, 8), "first")});
  entries.push_back({5, make_entry("b", test::random_unit(rng, 8))});
  entries.push_back({9, make_entry("a", test::random_unit(rng, 8), "second")});
  entries.push_back({2, make_entry("wrong", test::random_unit(rng, 7))});
  auto idx = namespace_index::rebuild(8, hnsw_params{}, entries);
  REQUIRE(idx);
  auto out = idx->export_entries();
  REQUIRE(out.size() == 2);
  CHECK(out[0].label == 1);
  CHECK(out[0].entry.uuid == "b");
  CHECK(out[1].label == 2);
  CHECK(out[1].entry.query_text == "second");
  REQUIRE(idx->upsert(make_entry("c", test::random_unit(rng, 8))));
  CHECK(idx->export_entries().back().label == 3);
}

TEST_CASE(
    "a graph image written to a file is the saved graph byte for byte and restores to identical lookups") {
  auto seed = test::test_seed(23);
  CAPTURE(seed);
  fixture f(seed);
  temp_dir dir;
  REQUIRE(f.idx->save_graph(dir.path / "saved.hnsw"));
  auto image = f.idx->snapshot_image();
  REQUIRE(image);
  CHECK(image->dimension == f.dim);
  std::vector<char> observed;
  auto written = write_graph_image(image->graph, dir.path / "image.hnsw", [&](const void* p, std::size_t n) {
    auto* c = static_cast<const char*>(p);
    observed.insert(observed.end(), c, c + n);
  });
  REQUIRE(written);
  auto bytes = read_all(dir.path / "image.hnsw");
  CHECK(*written == bytes.size());
  CHECK(observed == bytes); // the observer saw the whole file, trailer included
  CHECK(bytes == read_all(dir.path / "saved.hnsw"));

  auto entries = f.idx->export_entries();
  REQUIRE(image->entries.size() == entries.size());
  for (const auto& le : image->entries)
    CHECK(le.entry.embedding.empty()); // held once, in the graph copy
  auto restored = namespace_index::restore(f.dim, f.params, dir.path / "image.hnsw", entries_of(*image));
  REQUIRE(restored);
  CHECK(restored.value()->size() == f.idx->size());
  check_same_answers(*f.idx, *restored.value(), f.queries);
}

TEST_CASE("writes made after an image was taken are not in it") {
  auto seed = test::test_seed(29);
  CAPTURE(seed);
  fixture f(seed);
  temp_dir dir;
  REQUIRE(f.idx->save_graph(dir.path / "before.hnsw"));
  auto before = f.idx->export_entries();
  auto image = f.idx->snapshot_image();
  REQUIRE(image);

  // Inserts rewrite the link lists of existing nodes in place and grow the
  // graph (hnswlib reallocates its level-0 block); removals mark nodes.
  std::mt19937_64 rng(seed + 1);
  auto capacity = f.idx->graph_capacity();
  for (int i = 0; i < 1200; ++i)
    REQUIRE(f.idx->upsert(make_entry(test::cat("late", i), test::random_unit(rng, f.dim))));
  CHECK(f.idx->graph_capacity() > capacity);
  std::vector<std::string> removed;
  for (std::size_t i = 0; i < before.size(); i += 7) {
    REQUIRE(f.idx->remove(before[i].entry.uuid));
    removed.push_back(before[i].entry.uuid);
  }

  REQUIRE(write_graph_image(image->graph, dir.path / "image.hnsw"));
  CHECK(read_all(dir.path / "image.hnsw") == read_all(dir.path / "before.hnsw"));
  REQUIRE(image->entries.size() == before.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    CHECK(image->entries[i].label == before[i].label);
    CHECK(image->entries[i].entry.uuid == before[i].entry.uuid);
    auto v = image->embedding(i);
    CHECK(std::vector<float>(v.begin(), v.end()) == before[i].entry.embedding);
  }
  auto restored = namespace_index::restore(f.dim, f.params, dir.path / "image.hnsw", entries_of(*image));
  REQUIRE(restored);
  auto& r = *restored.value();
  CHECK(r.size() == before.size());
  CHECK_FALSE(r.contains("late0"));
  CHECK_FALSE(r.contains("late1199"));
  for (const auto& uuid : removed)
    CHECK(r.contains(uuid));
}

TEST_CASE("an inconsistent graph image is refused, not written") {
  namespace_index idx(8, hnsw_params{});
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20; ++i)
    REQUIRE(idx.upsert(make_entry(test::cat("e", i), test::random_unit(rng, 8))));
  auto image = idx.snapshot_image();
  REQUIRE(image);
  image->graph.link_bytes.pop_back();
  temp_dir dir;
  CHECK_FALSE(write_graph_image(image->graph, dir.path / "g"));
  CHECK_FALSE(fs::exists(dir.path / "g"));
}

TEST_CASE("loading a graph shows every byte of its file to the observer, in order, trailer included") {
  auto seed = test::test_seed(31);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  temp_dir dir;
  namespace_index idx(16, hnsw_params{});
  for (int i = 0; i < 300; ++i)
    REQUIRE(idx.upsert(make_entry(test::cat("e", i), test::random_unit(rng, 16))));
  auto file = dir.path / "graph.hnsw";
  REQUIRE(idx.save_graph(file));
  std::ifstream in(file, std::ios::binary);
  std::string on_disk{std::istreambuf_iterator<char>(in), {}};
  std::string seen;
  auto loaded = hnsw_graph::load(file, 16, hnsw_params{}, [&](const void* p, std::size_t n) {
    seen.append(static_cast<const char*>(p), n);
  });
  REQUIRE(loaded);
  CHECK(seen.size() == on_disk.size());
  CHECK(seen == on_disk);
  // The loaded graph restores like the file does.
  auto entries = idx.export_entries();
  auto restored = namespace_index::restore(16, hnsw_params{}, std::move(loaded.value()), entries);
  REQUIRE(restored);
  CHECK(restored.value()->size() == 300);
  CHECK(restored.value()->backlog_size() == 0);
  for (const auto& le : entries) {
    auto hit = restored.value()->lookup(le.entry.embedding, "", 0.9999, 0);
    REQUIRE(hit);
    CHECK(hit->uuid == le.entry.uuid);
  }
}
