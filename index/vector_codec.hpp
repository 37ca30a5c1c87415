#pragma once

#include <cstddef>
#include <vector>

#include "index/vector_math.hpp"
#include "index/vector_type.hpp"

namespace ferro {

/// Turns unit float32 vectors into a graph's stored form and back, and names
/// the distance kernels for that form. float32 is stored as is, with the
/// same kernel as before compact vectors existed (`best_ip_distance()`).
///
/// float16 needs no scale: every component of a unit vector lies in [-1, 1],
/// where half precision has its full 11-bit significand down to 2^-14
/// (smaller components, rare at hundreds of dimensions, keep an absolute
/// error below 2^-25). int8 is per-vector symmetric quantisation: scale =
/// max|v_i| / 127, code_i = round(v_i / scale), so the largest component
/// uses the whole code range.
class vector_codec {
public:
  vector_codec(vector_type type, std::size_t dimension);

  vector_type type() const { return type_; }
  std::size_t dimension() const { return dimension_; }
  std::size_t bytes() const { return bytes_; } ///< one stored vector

  /// Writes the stored form of v (`dimension()` floats) to out (`bytes()`).
  void encode(const float* v, void* out) const;
  /// The float32 values a stored vector stands for (`dimension()` floats).
  void decode(const void* stored, float* out) const;
  std::vector<float> decode(const void* stored) const;
  /// decode(encode(v)): what the graph will hand back for v.
  void round_trip(std::vector<float>& v) const;
  /// Whether `stored` is what v encodes to. For int8 the codes must match
  /// exactly and the scales to a relative 2^-20: re-encoding a decoded
  /// vector can move the scale by an ulp (127 * s / 127 need not be s).
  bool encodes_to(const float* v, const void* stored) const;

  /// 1 - <a,b> between two stored vectors: hnswlib's space distance.
  ip_distance_fn stored_distance() const { return stored_; }
  /// 1 - <q,b> between a float32 query q and a stored vector b.
  ip_distance_fn query_distance() const { return query_; }

private:
  vector_type type_;
  std::size_t dimension_;
  std::size_t bytes_;
  ip_distance_fn stored_;
  ip_distance_fn query_;
};

} // namespace ferro
