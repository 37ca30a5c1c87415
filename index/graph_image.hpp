#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/status.hpp"
#include "index/graph_file.hpp"

namespace ferro {

/// A copy of one HNSW graph in the layout of its file (index/graph_file.hpp),
/// detached from the live graph: writes to the graph after the copy was taken
/// do not reach it, and it can be written to disk on any thread while the
/// graph goes on changing. Taken by `hnsw_graph::image()`.
struct graph_image {
  graph_file::header header;
  /// How the nodes' vectors are stored (the file's version follows from it).
  vector_type type = vector_type::float32;
  /// element_count * size_data_per_element bytes: links, vector and label of
  /// every node (one contiguous block in hnswlib too, hence one memcpy).
  std::unique_ptr<char[]> level0;
  std::size_t level0_bytes = 0;
  /// Per node, the byte count of its upper-level link lists (0 on level 0).
  std::vector<std::uint32_t> link_bytes;
  /// Every node's upper-level link lists, concatenated in node order.
  std::vector<char> links;

  /// The float32 vector of node `n` (`dimension` values, the caller's). For
  /// float32 graphs it points into the copy; for reduced types it is decoded
  /// into a buffer of the calling thread, valid until that thread's next
  /// call (snapshot and catch-up code copy or write each vector at once, and
  /// a decoded copy of the whole image would double it).
  std::span<const float> vector(std::size_t n, std::size_t dimension) const;

  /// Heap bytes held (for logs and the memory note in docs/formats.md).
  std::size_t memory_bytes() const {
    return level0_bytes + link_bytes.size() * sizeof(std::uint32_t) + links.size();
  }
};

/// Sees every byte written to a file, in order, trailer included; lets a
/// caller digest a file while it is written instead of reading it back.
using byte_observer = std::function<void(const void* data, std::size_t n)>;

/// Writes `image` to `file` (created or truncated) in the graph file format,
/// the same bytes `hnsw_graph::save` writes for the graph the image was taken
/// of, and fsyncs it. Returns the file's size. On error the file may be left
/// half written (the caller owns its directory).
result<std::uint64_t> write_graph_image(const graph_image& image, const std::filesystem::path& file,
                                        const byte_observer& observe = {});

} // namespace ferro
