#include "index/graph_image.hpp"

#include "index/vector_codec.hpp"

namespace ferro {

std::span<const float> graph_image::vector(std::size_t n, std::size_t dimension) const {
  const char* stored = level0.get() + n * header.size_data_per_element + header.offset_data;
  if (type == vector_type::float32)
    return {reinterpret_cast<const float*>(stored), dimension};
  thread_local std::vector<float> decoded;
  decoded.resize(dimension);
  vector_codec(type, dimension).decode(stored, decoded.data());
  return decoded;
}

result<std::uint64_t> write_graph_image(const graph_image& image, const std::filesystem::path& file,
                                        const byte_observer& observe) {
  const auto count = static_cast<std::size_t>(image.header.element_count);
  if (image.link_bytes.size() != count || image.level0_bytes != count * image.header.size_data_per_element)
    return error{errc::internal, "graph image is inconsistent: " + std::to_string(count) + " nodes, " +
                                     std::to_string(image.link_bytes.size()) + " link list sizes"};
  unsigned char raw[graph_file::header_size];
  graph_file::encode_header(image.header, raw);
  graph_file::writer w(file, observe);
  if (image.type != vector_type::float32) {
    unsigned char prefix[graph_file::prefix_size];
    graph_file::encode_prefix(image.type, prefix);
    w.bytes(prefix, sizeof(prefix));
  }
  w.bytes(raw, sizeof(raw));
  w.bytes(image.level0.get(), image.level0_bytes);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    auto n = image.link_bytes[i];
    if (n > image.links.size() - offset)
      return error{errc::internal, "graph image is inconsistent: link lists end early"};
    w.pod(n);
    w.bytes(image.links.data() + offset, n);
    offset += n;
  }
  if (auto s = w.finish(graph_file::magic_for(image.type)); !s)
    return s.err();
  return w.written();
}

} // namespace ferro
