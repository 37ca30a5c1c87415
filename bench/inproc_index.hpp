#pragma once

// hnswlib as the server configures it, behind a small interface: hnswlib's
// header defines non-inline functions, so exactly one translation unit
// (inproc_index.cpp) may include it, and that one is compiled for the build
// machine's SIMD (see bench/CMakeLists.txt).

#include <cstddef>
#include <cstdint>
#include <memory>

namespace ferro::bench {

struct inproc_hit {
  bool found = false;
  std::uint64_t label = 0;
  double similarity = 0; ///< 1 - hnswlib's inner-product distance
};

class inproc_index {
public:
  inproc_index(std::size_t dim, std::size_t capacity, std::size_t m, std::size_t ef_construction,
               std::uint64_t seed);
  ~inproc_index();
  inproc_index(const inproc_index&) = delete;
  inproc_index& operator=(const inproc_index&) = delete;

  void add(const float* v, std::uint64_t label);
  void set_ef(std::size_t ef);
  /// The nearest neighbour (k = 1), as the server's query path asks for.
  inproc_hit search(const float* q) const;

  /// The distance kernel hnswlib picked: "avx512", "avx", "sse" or "scalar".
  static const char* simd_kernel();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ferro::bench
