#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/entry.hpp"
#include "index/entry_slot.hpp"
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
  /// In label order. Use embedding(i): `embedding` is empty for entries in
  /// the graph copy and only set for backlog entries, which have no node.
  std::vector<labelled_entry> entries;
  /// Graph node of entries[i]; entry_slot::no_node for a backlog entry.
  std::vector<std::uint32_t> entry_nodes;

  /// The embedding of entries[i] as float32: inside the graph copy if it
  /// has a node (decoded for reduced vector types: then valid until this
  /// thread's next call, see graph_image::vector).
  std::span<const float> embedding(std::size_t i) const {
    if (entry_nodes[i] == entry_slot::no_node)
      return entries[i].entry.embedding;
    return graph.vector(entry_nodes[i], dimension);
  }
};

} // namespace ferro
