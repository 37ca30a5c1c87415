#pragma once

#include <vector>

#include "index/vector_math.hpp"

namespace ferro {

/// Inner-product distances (`1 - <a,b>`, hnswlib's signature, `param`
/// pointing at the dimension as a std::size_t) for the reduced vector types
/// of index/vector_type.hpp, one set per instruction set. "stored" kernels
/// compare two stored vectors (hnswlib's own distance, used while linking);
/// "query" kernels compare a float32 query (a) with a stored vector (b), so a
/// query is never rounded: only the graph's copy is.
///
/// Stored layouts: float16 = `dimension` IEEE halves; int8 = a float32
/// scale, then `dimension` signed codes, value_i = code_i * scale.
struct compact_kernels {
  const char* name; ///< the instruction set it needs
  ip_distance_fn f16_stored;
  ip_distance_fn f16_query;
  ip_distance_fn i8_stored;
  ip_distance_fn i8_query;
};

/// The widest set this CPU runs (AVX-512F, AVX2+FMA+F16C, or portable C++),
/// picked once at start-up, as `best_dot_kernel()` is: the binary is built
/// for x86-64-v2, which has neither F16C nor AVX2.
const compact_kernels& best_compact_kernels();

/// Every set this CPU can run, widest first (tests and benchmarks).
std::vector<compact_kernels> available_compact_kernels();

} // namespace ferro
