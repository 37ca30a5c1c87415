#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "common/status.hpp"
#include "index/hnsw_graph.hpp"
#include "index/index_types.hpp"
#include "storage/wal_store.hpp"

namespace ferro {

/// Loads the graph files of a store's snapshots on a thread of its own while
/// wal_store::recover(false) reads the entries files and the log on the
/// caller's: a restart of 1M x 384 reads a 1.7 GB graph and 1.9 GB of
/// entries, and the two are independent until namespace_index::restore
/// matches them. Each file is digested (size, CRC-32C) in the same pass as
/// its load and checked against its manifest, the check recover(true) makes
/// with a read of its own.
class graph_prefetch {
public:
  graph_prefetch(std::vector<wal_store::snapshot_graph> graphs, const hnsw_params& params);
  ~graph_prefetch(); ///< waits for the thread
  graph_prefetch(const graph_prefetch&) = delete;
  graph_prefetch& operator=(const graph_prefetch&) = delete;

  /// The graph loaded from `file`, if it matched its manifest and loaded;
  /// otherwise why not. Waits for the thread; each file is handed out once.
  result<std::unique_ptr<hnsw_graph>> take(const std::filesystem::path& file);

private:
  struct item {
    wal_store::snapshot_graph graph;
    result<std::unique_ptr<hnsw_graph>> loaded{error{errc::internal, "not loaded"}};
  };
  void run(const hnsw_params& params);

  std::vector<item> items_;
  std::thread thread_;
};

} // namespace ferro
