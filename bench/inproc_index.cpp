#include "inproc_index.hpp"

#include <hnswlib.h>

namespace ferro::bench {

struct inproc_index::impl {
  impl(std::size_t dim, std::size_t capacity, std::size_t m, std::size_t ef_construction, std::uint64_t seed)
      : space(dim), graph(&space, capacity, m, ef_construction, seed) {}
  hnswlib::InnerProductSpace space;
  hnswlib::HierarchicalNSW<float> graph;
};

inproc_index::inproc_index(std::size_t dim, std::size_t capacity, std::size_t m, std::size_t ef_construction,
                           std::uint64_t seed)
    : impl_(std::make_unique<impl>(dim, capacity, m, ef_construction, seed)) {
}

inproc_index::~inproc_index() = default;

void inproc_index::add(const float* v, std::uint64_t label) {
  impl_->graph.addPoint(v, label);
}

void inproc_index::set_ef(std::size_t ef) {
  impl_->graph.setEf(ef);
}

inproc_hit inproc_index::search(const float* q) const {
  auto top = impl_->graph.searchKnn(q, 1);
  if (top.empty())
    return {};
  return {true, static_cast<std::uint64_t>(top.top().second), 1.0 - static_cast<double>(top.top().first)};
}

const char* inproc_index::simd_kernel() {
#if defined(USE_AVX512)
  if (AVX512Capable())
    return "avx512";
#endif
#if defined(USE_AVX)
  if (AVXCapable())
    return "avx";
#endif
#if defined(USE_SSE)
  return "sse";
#else
  return "scalar";
#endif
}

} // namespace ferro::bench
