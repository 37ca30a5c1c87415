#include "actors/graph_prefetch.hpp"

#include <algorithm>
#include <string>

#include "storage/crc32c.hpp"

namespace ferro {

graph_prefetch::graph_prefetch(std::vector<wal_store::snapshot_graph> graphs, const hnsw_params& params) {
  items_.reserve(graphs.size());
  for (auto& g : graphs)
    items_.push_back(item{std::move(g)});
  if (!items_.empty())
    thread_ = std::thread([this, params] { run(params); });
}

graph_prefetch::~graph_prefetch() {
  if (thread_.joinable())
    thread_.join();
}

void graph_prefetch::run(const hnsw_params& params) {
  for (auto& it : items_) {
    const auto& g = it.graph;
    if (g.dimension == 0) {
      it.loaded = error{errc::internal, "the manifest names no dimension"};
      continue;
    }
    std::uint64_t bytes = 0;
    std::uint32_t crc = 0;
    auto digest = [&](const void* p, std::size_t n) {
      crc = storage::crc32c_extend(crc, p, n);
      bytes += n;
    };
    auto loaded = hnsw_graph::load(g.file, g.dimension, params, digest);
    // A load stops at the first problem it finds, so the digest covers the
    // whole file only after a successful load; either way the file does
    // not stand for its snapshot.
    if (!loaded)
      it.loaded = error{errc::internal, "snapshot graph " + g.file.string() + " does not load (" +
                                            loaded.err().message + "); rebuild it from the snapshot entries"};
    else if (bytes != g.bytes || crc != g.crc)
      it.loaded = error{errc::internal, "snapshot graph " + g.file.string() +
                                            " does not verify (size or checksum mismatch); rebuild it "
                                            "from the snapshot entries"};
    else
      it.loaded = std::move(loaded);
  }
}

result<std::unique_ptr<hnsw_graph>> graph_prefetch::take(const std::filesystem::path& file) {
  if (thread_.joinable())
    thread_.join();
  auto it = std::find_if(items_.begin(), items_.end(), [&](const item& i) { return i.graph.file == file; });
  if (it == items_.end())
    return error{errc::internal, "snapshot graph " + file.string() + " was not loaded"};
  auto out = std::move(it->loaded);
  it->loaded = error{errc::internal, "snapshot graph " + file.string() + " was handed out already"};
  return out;
}

} // namespace ferro
