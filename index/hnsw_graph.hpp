#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "common/status.hpp"
#include "index/graph_image.hpp"
#include "index/index_types.hpp"
#include "index/memory_usage.hpp"

namespace ferro {

/// One namespace's HNSW graph over unit vectors: hnswlib 0.6.2 with an
/// inner-product distance on run-time selected SIMD kernels. Vectors go in
/// and come out as float32; the graph stores them as `params.stored_type`
/// says (index/vector_codec.hpp).
///
/// Nodes are addressed by a dense `node_id` (hnswlib's internal id) and carry
/// a 64-bit label chosen by the caller. Deleting only marks a node; searches
/// skip marked nodes but still route through them.
///
/// Not synchronised: const members may run in parallel with each other, every
/// non-const member needs exclusive access (namespace_index's locks).
///
/// hnsw_graph.cpp is the only translation unit that includes hnswlib: its
/// header defines non-inline functions, so a second one would not link.
class hnsw_graph {
public:
  using node_id = std::uint32_t;

  struct candidate {
    float distance; ///< 1 - inner product
    node_id node;
  };

  /// Clamps parameters into what hnswlib supports (M in [2, 1024], ef and
  /// capacity at least 1).
  static hnsw_params sanitize(hnsw_params p);

  /// An empty graph with room for `capacity` nodes.
  static result<std::unique_ptr<hnsw_graph>> create(std::size_t dimension, const hnsw_params& params,
                                                    std::size_t capacity);

  /// Reads a file written by `save`. Any truncation, checksum mismatch,
  /// layout that does not fit (dimension, M, vector type) or out-of-range
  /// link is an error; nothing of the file is trusted before it is checked.
  /// `watch` sees every byte of the file in order (graph_file::reader).
  static result<std::unique_ptr<hnsw_graph>> load(const std::filesystem::path& file, std::size_t dimension,
                                                  const hnsw_params& params,
                                                  std::function<void(const void*, std::size_t)> watch = {});

  ~hnsw_graph();
  hnsw_graph(const hnsw_graph&) = delete;
  hnsw_graph& operator=(const hnsw_graph&) = delete;

  std::size_t dimension() const;
  vector_type stored_type() const;
  std::size_t capacity() const;
  std::size_t node_count() const; ///< nodes ever added: live + deleted
  std::size_t deleted_count() const;
  /// Adds the graph's parts to `m` (index/memory_usage.hpp).
  void add_memory_usage(memory_usage& m) const;

  /// Adds a node (doubling the capacity first when full). `label` must be
  /// new to the graph: that is not checked (there is no label map), a
  /// reused label makes a second node with it.
  result<node_id> add(const float* v, std::uint64_t label);

  /// Adds `labels.size()` nodes (vectors[i] gets labels[i], all new) using
  /// up to `threads` threads; result i is node i's id or why it failed (a
  /// label twice in `labels` fails its later copies).
  /// Same as add() on each in turn, except that the graph's shape depends on
  /// the order the threads happen to insert in.
  std::vector<result<node_id>> add_many(const std::vector<const float*>& vectors,
                                        const std::vector<std::uint64_t>& labels, std::size_t threads);
  /// Adds node n of `from` (same dimension and vector type) with its stored
  /// bytes as they are; for rebuilding a graph without re-encoding.
  result<node_id> add_copy(const hnsw_graph& from, node_id n, std::uint64_t label);

  void mark_deleted(node_id n);   ///< no-op if already marked
  void unmark_deleted(node_id n); ///< no-op if not marked
  bool is_deleted(node_id n) const;
  /// Node n's vector, decoded to `dimension()` floats (exact for float32).
  void vector(node_id n, float* out) const;
  /// 1 - <q, node n's vector> for a float32 unit query: the kernel searches
  /// use, so a brute-force scan and a search agree to the bit.
  float distance(const float* q, node_id n) const;
  /// Whether node n stores what v encodes to (vector_codec::encodes_to).
  bool holds(node_id n, const float* v) const;
  /// v as this graph would hand it back after storing it (no-op for float32).
  void round_trip(std::vector<float>& v) const;
  std::uint64_t label(node_id n) const;
  /// Every node as (label, node), ascending by label. The graph keeps no
  /// label -> node map (it would cost ~40 B a node); callers that match
  /// labels with nodes (restore) walk this once.
  std::vector<std::pair<std::uint64_t, node_id>> nodes_by_label() const;

  /// The (up to) `ef` nearest unmarked nodes to the unit vector q, closest
  /// first, into `out` (cleared first; left empty on an internal error).
  void search(const float* q, std::size_t ef, std::vector<candidate>& out) const;

  /// Writes the graph (hnswlib's format plus a checksum trailer) to
  /// `file.tmp`, fsyncs it and renames it over `file`.
  status save(const std::filesystem::path& file) const;

  /// A copy of the graph in its file layout (memcpy of the level-0 block and
  /// the upper-level link lists); `write_graph_image` writes the same bytes
  /// `save` would. Throws std::bad_alloc if the copy cannot be allocated.
  graph_image image() const;

private:
  std::vector<result<node_id>> add_stored(const std::vector<const void*>& vectors,
                                          const std::vector<std::uint64_t>& labels, std::size_t threads);

  struct impl;
  explicit hnsw_graph(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace ferro
