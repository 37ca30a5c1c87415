#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ferro {

/// How a graph stores its unit vectors (`hnsw.vector_type`). Queries are
/// float32 whatever the type; only the copy held in the graph is reduced.
enum class vector_type : std::uint8_t {
  float32 = 0, ///< 4 bytes a dimension, exact (the default)
  float16 = 1, ///< IEEE half precision, 2 bytes a dimension
  int8 = 2,    ///< a float32 scale + one signed byte a dimension
};

/// The setting's spelling: "float32", "float16", "int8".
constexpr std::string_view name_of(vector_type t) {
  switch (t) {
    case vector_type::float16:
      return "float16";
    case vector_type::int8:
      return "int8";
    case vector_type::float32:
      break;
  }
  return "float32";
}

/// The type spelled `s` (exactly, lower case), or nothing.
constexpr std::optional<vector_type> parse_vector_type(std::string_view s) {
  for (auto t : {vector_type::float32, vector_type::float16, vector_type::int8})
    if (name_of(t) == s)
      return t;
  return std::nullopt;
}

/// Bytes one stored vector of `dimension` values takes in the graph.
constexpr std::size_t stored_vector_bytes(vector_type t, std::size_t dimension) {
  switch (t) {
    case vector_type::float16:
      return dimension * 2;
    case vector_type::int8:
      return sizeof(float) + dimension; // scale first, then the codes
    case vector_type::float32:
      break;
  }
  return dimension * sizeof(float);
}

} // namespace ferro
