#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "index/graph_file.hpp"
#include "index/namespace_index.hpp"
#include "index_test_support.hpp"
#include "v1_graph_fixture.hpp"

using namespace ferro;
using test::make_entry;
using test::temp_dir;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t dim = 48;

hnsw_params params_for(vector_type type) {
  auto p = test::small_graph();
  p.stored_type = type;
  return p;
}

std::vector<unsigned char> read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_all(const fs::path& file, const std::vector<unsigned char>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::uint64_t trailer_magic(const std::vector<unsigned char>& bytes) {
  std::uint64_t m = 0;
  std::memcpy(&m, bytes.data() + bytes.size() - 8, 8);
  return m;
}

struct filled {
  std::vector<cache_entry> entries;
  std::unique_ptr<namespace_index> idx;
};

filled fill(vector_type type, std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed);
  filled f;
  f.entries = test::distinct_entries(rng, n, dim, "e");
  f.idx = std::make_unique<namespace_index>(dim, params_for(type));
  for (const auto& e : f.entries)
    REQUIRE(f.idx->upsert(e));
  return f;
}

} // namespace

TEST_CASE("an index with reduced vectors finds each entry by its own float32 vector") {
  auto seed = test::test_seed(31);
  CAPTURE(seed);
  for (auto type : {vector_type::float16, vector_type::int8}) {
    CAPTURE(name_of(type));
    auto f = fill(type, seed, 500);
    std::size_t found = 0;
    for (const auto& e : f.entries) {
      auto hit = f.idx->lookup(e.embedding, "", 0.95, 0);
      if (hit && hit->uuid == e.uuid) {
        ++found;
        // The similarity is computed against the stored copy: close to 1.
        CHECK(hit->similarity == Approx(1.0).margin(type == vector_type::float16 ? 1e-3 : 2e-2));
        // within_radius uses the same kernel: it includes the entry at the
        // reported similarity, to the bit.
        auto near = f.idx->within_radius(e.embedding, hit->similarity, 0);
        CHECK(std::find(near.begin(), near.end(), e.uuid) != near.end());
      }
    }
    CHECK(found >= f.entries.size() * 98 / 100);
    // get() hands back a float32 copy decoded from the graph.
    auto got = f.idx->get(f.entries[0].uuid);
    REQUIRE(got);
    REQUIRE(got->embedding.size() == dim);
    CHECK(got->embedding != f.entries[0].embedding);
    CHECK(test::cosine(got->embedding, f.entries[0].embedding) == Approx(1.0).margin(1e-3));
  }
}

TEST_CASE("the graph's vector memory is halved by float16 and about quartered by int8") {
  auto seed = test::test_seed(32);
  CAPTURE(seed);
  auto f32 = fill(vector_type::float32, seed, 100).idx->memory();
  auto f16 = fill(vector_type::float16, seed, 100).idx->memory();
  auto i8 = fill(vector_type::int8, seed, 100).idx->memory();
  CHECK(f32.graph_vectors == 100 * dim * 4);
  CHECK(f16.graph_vectors == 100 * dim * 2);
  CHECK(i8.graph_vectors == 100 * (dim + 4));
  CHECK(f16.graph_level0 == f32.graph_level0);
}

TEST_CASE("a graph with reduced vectors survives save, restore and snapshot images per type") {
  auto seed = test::test_seed(33);
  CAPTURE(seed);
  for (auto type : {vector_type::float32, vector_type::float16, vector_type::int8}) {
    CAPTURE(name_of(type));
    auto f = fill(type, seed, 300);
    REQUIRE(f.idx->remove(f.entries[5].uuid));
    temp_dir dir;
    auto saved = dir.path / "saved.hnsw";
    REQUIRE(f.idx->save_graph(saved));
    auto image = f.idx->snapshot_image();
    REQUIRE(image);
    CHECK(image->graph.type == type);
    auto written = dir.path / "image.hnsw";
    REQUIRE(write_graph_image(image->graph, written));
    auto bytes = read_all(saved);
    CHECK(read_all(written) == bytes);
    // float32 graphs keep the version-1 layout: hnswlib's header first (its
    // first field, offset_level0, is 0) and the old magic.
    CHECK(trailer_magic(bytes) == (type == vector_type::float32 ? graph_file::magic : graph_file::magic_v2));
    std::uint64_t first = 0;
    std::memcpy(&first, bytes.data(), 8);
    CHECK(first == (type == vector_type::float32 ? 0u : 2u + (std::uint64_t(type) << 32)));

    // The image's entries carry decoded float32 vectors; restoring from them
    // matches every node.
    auto entries = test::entries_of(*image);
    auto restored = namespace_index::restore(dim, params_for(type), written, entries);
    REQUIRE(restored);
    auto& r = *restored.value();
    CHECK(r.size() == f.idx->size());
    CHECK(r.backlog_size() == 0);
    CHECK(r.export_entries().size() == entries.size());
    for (std::size_t i = 0; i < entries.size(); i += 7) {
      const auto& e = entries[i].entry;
      auto a = f.idx->lookup(e.embedding, "", 0.5, 0);
      auto b = r.lookup(e.embedding, "", 0.5, 0);
      REQUIRE(a);
      REQUIRE(b);
      CHECK(a->uuid == b->uuid);
      CHECK(a->similarity == b->similarity);
      CHECK(r.get(e.uuid)->embedding == e.embedding);
    }
  }
}

TEST_CASE("a graph file of another vector type is refused, naming both, and the entries rebuild it") {
  auto seed = test::test_seed(34);
  CAPTURE(seed);
  auto f = fill(vector_type::float16, seed, 200);
  temp_dir dir;
  auto file = dir.path / "g.hnsw";
  REQUIRE(f.idx->save_graph(file));
  auto entries = f.idx->export_entries();
  for (auto other : {vector_type::float32, vector_type::int8}) {
    auto r = namespace_index::restore(dim, params_for(other), file, entries);
    REQUIRE_FALSE(r);
    CHECK(r.err().message.find("float16") != std::string::npos);
    CHECK(r.err().message.find(std::string(name_of(other))) != std::string::npos);
    // What recovery does next: rebuild from the snapshot's float32 entries.
    auto rebuilt = namespace_index::rebuild(dim, params_for(other), entries);
    CHECK(rebuilt->size() == entries.size());
    auto hit = rebuilt->lookup(entries[3].entry.embedding, "", 0.9, 0);
    REQUIRE(hit);
    CHECK(hit->uuid == entries[3].entry.uuid);
  }
  // And a float32 file is refused by a float16 node.
  auto f32 = fill(vector_type::float32, seed, 50);
  REQUIRE(f32.idx->save_graph(dir.path / "f32.hnsw"));
  auto r = namespace_index::restore(dim, params_for(vector_type::float16), dir.path / "f32.hnsw",
                                    f32.idx->export_entries());
  REQUIRE_FALSE(r);
  CHECK(r.err().message.find("float32") != std::string::npos);
}

TEST_CASE("a version-2 graph file with a bad prefix, magic or byte is refused") {
  auto seed = test::test_seed(35);
  CAPTURE(seed);
  auto f = fill(vector_type::int8, seed, 100);
  temp_dir dir;
  auto file = dir.path / "g.hnsw";
  REQUIRE(f.idx->save_graph(file));
  const auto good = read_all(file);
  auto entries = f.idx->export_entries();
  auto refused = [&](std::vector<unsigned char> bytes, const char* why) {
    CAPTURE(why);
    write_all(file, bytes);
    auto r = namespace_index::restore(dim, params_for(vector_type::int8), file, entries);
    CHECK_FALSE(r);
  };
  write_all(file, good);
  REQUIRE(namespace_index::restore(dim, params_for(vector_type::int8), file, entries));

  auto bytes = good;
  bytes[0] = 3; // format version 3
  refused(bytes, "unknown format version");
  bytes = good;
  bytes[4] = 7; // vector type 7
  refused(bytes, "unknown vector type");
  bytes = good;
  bytes[4] = 1; // says float16, laid out as int8: refused as another type
  refused(bytes, "type field changed");
  bytes = good;
  bytes[graph_file::prefix_size + graph_file::header_size + 200] ^= 0x10; // inside the vectors
  refused(bytes, "checksum");
  bytes = good;
  std::uint64_t v1 = graph_file::magic;
  std::memcpy(bytes.data() + bytes.size() - 8, &v1, 8); // read as version 1: prefix taken for header
  refused(bytes, "version-1 magic on a version-2 file");
  bytes.assign(good.begin(), good.begin() + 40);
  std::uint64_t v2 = graph_file::magic_v2;
  bytes.insert(bytes.end(), reinterpret_cast<unsigned char*>(&v2), reinterpret_cast<unsigned char*>(&v2) + 8);
  refused(bytes, "truncated");
}

TEST_CASE("backlog entries hold what the graph will hold, before and after they are linked") {
  auto seed = test::test_seed(36);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto entries = test::distinct_entries(rng, 40, dim, "b");
  namespace_index idx(dim, params_for(vector_type::float16));
  for (const auto& st : idx.upsert_unindexed(entries))
    REQUIRE(st);
  auto before = idx.get(entries[0].uuid)->embedding;
  CHECK(before != entries[0].embedding);
  auto hit = idx.lookup(entries[0].embedding, "", 0.99, 0);
  REQUIRE(hit);
  CHECK(hit->uuid == entries[0].uuid);
  REQUIRE(idx.index_backlog(100, 1));
  CHECK(idx.backlog_size() == 0);
  CHECK(idx.get(entries[0].uuid)->embedding == before);
}

TEST_CASE("a version-1 float32 graph file from before compact vectors loads, and float32 still writes it") {
  temp_dir dir;
  auto file = dir.path / "v1.hnsw";
  const std::vector<unsigned char> fixture(std::begin(test::v1_graph_fixture),
                                           std::end(test::v1_graph_fixture));
  write_all(file, fixture);
  hnsw_params p;
  p.initial_capacity = 4;
  std::vector<labelled_entry> entries;
  for (int i = 0; i < 12; ++i)
    if (i != 5)
      entries.push_back(
          {static_cast<std::uint64_t>(i), make_entry(test::cat("", i), test::v1_fixture_vector(i))});
  auto restored = namespace_index::restore(4, p, file, entries);
  REQUIRE(restored);
  auto& r = *restored.value();
  CHECK(r.size() == 11);
  CHECK(r.backlog_size() == 0);
  for (const auto& le : entries) {
    auto hit = r.lookup(le.entry.embedding, "", 0.999, 0);
    REQUIRE(hit);
    CHECK(hit->uuid == le.entry.uuid);
    CHECK(r.get(le.entry.uuid)->embedding == le.entry.embedding);
  }
  // The same inserts today write the same bytes.
  namespace_index fresh(4, p);
  for (int i = 0; i < 12; ++i)
    REQUIRE(fresh.upsert(make_entry(test::cat("", i), test::v1_fixture_vector(i))));
  REQUIRE(fresh.remove("5"));
  REQUIRE(fresh.save_graph(dir.path / "today.hnsw"));
  CHECK(read_all(dir.path / "today.hnsw") == fixture);
  // A float16 node refuses it (and would rebuild from the entries).
  auto p16 = p;
  p16.stored_type = vector_type::float16;
  CHECK_FALSE(namespace_index::restore(4, p16, file, entries));
}
