#pragma once

#include <cstddef>
#include <vector>

#include "common/entry.hpp"
#include "index/graph_image.hpp"

namespace ferro {

/// A consistent copy of one namespace's index at one moment: its graph in
/// file layout and every entry with its label, taken under one hold of the
/// index's lock (`namespace_index::snapshot_image`). It shares nothing with
/// the live index, so a snapshot can write it to disk on another thread
/// while the index keeps changing. It costs about one more copy of the
/// namespace (graph plus entries) for as long as it lives.
struct namespace_image {
  std::size_t dimension = 0;
  graph_image graph;
  std::vector<labelled_entry> entries; ///< in label order
};

} // namespace ferro
