#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/entry.hpp"
#include "index/graph_image.hpp"

namespace ferro {

/// A consistent copy of one namespace's index at one moment: its graph in
/// file layout and every entry with its label, taken under one hold of the
/// index's lock (`namespace_index::snapshot_image`). It shares nothing with
/// the live index, so a snapshot can write it to disk on another thread
/// while the index keeps changing. It costs about one more copy of the
/// namespace for as long as it lives: the embeddings are held once, in the
/// graph copy, not again in the entries.
struct namespace_image {
  std::size_t dimension = 0;
  graph_image graph;
  /// In label order, with empty `embedding`s: use embedding(i).
  std::vector<labelled_entry> entries;
  std::vector<std::uint32_t> entry_nodes; ///< graph node of entries[i]

  /// The embedding of entries[i], inside the graph copy.
  std::span<const float> embedding(std::size_t i) const { return {graph.vector(entry_nodes[i]), dimension}; }
};

} // namespace ferro
