// Restart paths of recover_namespaces: the snapshot's graph is loaded on a
// second thread while the store reads the rest, checked against its
// manifest in the same pass, and the whole log tail waits in the backlog.

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "actor_fixture.hpp"
#include "actors/graph_prefetch.hpp"
#include "actors/recovery.hpp"
#include "storage/snapshot_files.hpp"

using namespace ferro;
using ferro::test::actor_fixture;
using ferro::test::make_insert;
using ferro::test::next_reply;

namespace {

const namespace_key key{"m", "", ""};

/// Entry i's vector: random directions in 16 dimensions (seeded by i), far
/// enough apart that each is its own nearest neighbour.
std::vector<float> unit(int i) {
  std::mt19937 rng(static_cast<unsigned>(i) + 1);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> v(16);
  for (auto& x : v)
    x = g(rng);
  return v;
}

/// Inserts uuids first..last-1 through the namespace actor, each durable.
void insert_range(actor_fixture& f, caf::scoped_actor& self, int first, int last) {
  auto ns = f.directory.actor_for(key);
  for (int i = first; i < last; ++i) {
    std::string id = "e";
    id += std::to_string(i);
    self->send(ns, insert_atom::value, make_insert(unit(i), id));
    f.settle();
    REQUIRE(next_reply<insert_reply>(self).ok());
  }
}

void snapshot(actor_fixture& f, caf::scoped_actor& self) {
  self->send(f.directory.actor_for(key), compact_atom::value);
  f.settle();
  REQUIRE(next_reply<std::uint64_t>(self).ok());
}

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

/// The graph file of the namespace's snapshot: the only one in the data
/// dir (a published snapshot removes its predecessor's folder). Not through
/// a second wal_store: LMDB allows one open env per file and process.
std::filesystem::path graph_of(const std::filesystem::path& data_dir) {
  std::vector<std::filesystem::path> found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_dir / "snapshots"))
    if (e.path().filename() == storage::graph_file_name)
      found.push_back(e.path());
  REQUIRE(found.size() == 1);
  return found.front();
}

} // namespace

TEST_CASE("a restart loads the snapshot's graph and leaves the whole log tail in the backlog") {
  actor_fixture f;
  {
    caf::scoped_actor self{*f.sys};
    insert_range(f, self, 0, 40);
    snapshot(f, self);
    insert_range(f, self, 40, 70);
  }
  auto recovered = f.recover_after_stop();
  REQUIRE(recovered.size() == 1);
  auto& index = *recovered.front().index;
  CHECK(index.size() == 70);
  CHECK(index.backlog_size() == 30); // every tail insert, however long the tail
  CHECK(index.graph_deleted() == 0);
  for (int i = 0; i < 70; ++i) {
    std::string id = "e";
    id += std::to_string(i);
    CAPTURE(i);
    CHECK(index.contains(id));
    auto v = unit(i);
    REQUIRE(normalize(v));
    auto hit = index.lookup(v, "", 0.9999, f.now_ms);
    REQUIRE(hit);
    CHECK(hit->uuid == id);
  }
}

TEST_CASE("graph_prefetch hands out a graph only if it matches its manifest's size and checksum") {
  actor_fixture f;
  std::string older_graph;
  {
    caf::scoped_actor self{*f.sys};
    insert_range(f, self, 0, 20);
    snapshot(f, self);
    older_graph = read_bytes(graph_of(f.dir));
    insert_range(f, self, 20, 30);
    snapshot(f, self);
  }
  auto folder = f.dir;
  f.stop_actors();
  storage_options opts;
  opts.data_dir = folder;
  hnsw_params params;
  {
    auto store = wal_store::open(opts);
    REQUIRE(store.ok());
    graph_prefetch intact((*store)->snapshot_graphs(), params);
    auto graph = intact.take(graph_of(folder));
    REQUIRE(graph.ok());
    CHECK(graph.value()->node_count() == 30);
    CHECK_FALSE(intact.take(graph_of(folder)).ok()); // handed out once
  }
  // A whole, self-consistent graph file of an older snapshot in place of
  // the newer one's: it loads, but it is not the graph the manifest names.
  write_bytes(graph_of(folder), older_graph);
  {
    auto store = wal_store::open(opts);
    REQUIRE(store.ok());
    graph_prefetch swapped((*store)->snapshot_graphs(), params);
    auto graph = swapped.take(graph_of(folder));
    REQUIRE_FALSE(graph.ok());
    CHECK_THAT(graph.err().message, Catch::Contains("does not verify"));
  }
  // Recovery falls back to a rebuild from the entries: nothing is lost.
  auto store = wal_store::open(opts);
  REQUIRE(store.ok());
  node_metrics m;
  auto recovered = recover_namespaces(**store, params, m, 2);
  REQUIRE(recovered.ok());
  REQUIRE(recovered->size() == 1);
  CHECK(recovered->front().index->size() == 30);
  CHECK(recovered->front().index->backlog_size() == 0);
}

TEST_CASE("a truncated snapshot graph is not handed out, and recovery rebuilds from the entries") {
  actor_fixture f;
  {
    caf::scoped_actor self{*f.sys};
    insert_range(f, self, 0, 25);
    snapshot(f, self);
    insert_range(f, self, 25, 28);
  }
  auto folder = f.dir;
  f.stop_actors();
  auto file = graph_of(folder);
  auto bytes = read_bytes(file);
  write_bytes(file, bytes.substr(0, bytes.size() / 2));
  storage_options opts;
  opts.data_dir = folder;
  auto store = wal_store::open(opts);
  REQUIRE(store.ok());
  node_metrics m;
  auto recovered = recover_namespaces(**store, hnsw_params{}, m, 2);
  REQUIRE(recovered.ok());
  REQUIRE(recovered->size() == 1);
  CHECK(recovered->front().index->size() == 28);
  CHECK(recovered->front().index->backlog_size() == 3);
}
