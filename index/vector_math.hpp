#pragma once

#include <cstddef>
#include <vector>

namespace ferro {

/// Scales v to unit length in place; false (v untouched) if v is empty, has a
/// non-finite value, or is all zero.
bool normalize(std::vector<float>& v);

/// Inner product of two arrays of n floats.
using dot_kernel = float (*)(const float* a, const float* b, std::size_t n);

/// A dot-product kernel and the instruction set it needs.
struct named_dot_kernel {
  const char* name;
  dot_kernel fn;
};

/// The widest kernel this CPU runs (AVX-512F, AVX2+FMA, SSE, or portable C++),
/// picked once at start-up: the binary is built for a portable baseline.
named_dot_kernel best_dot_kernel();

/// Every kernel this CPU can run, widest first (for tests and benchmarks).
std::vector<named_dot_kernel> available_dot_kernels();

/// Inner product with the best kernel.
float dot(const float* a, const float* b, std::size_t n);

/// Distance as hnswlib's spaces compute it, with the signature they use:
/// `1 - <a,b>`; `param` points at the dimension as a std::size_t.
using ip_distance_fn = float (*)(const void* a, const void* b, const void* param);

/// The inner-product distance built on `best_dot_kernel()`.
ip_distance_fn best_ip_distance();

/// Cosine similarity of two unit vectors from their inner-product distance,
/// clamped to [-1, 1] (rounding can push it slightly outside).
inline double similarity_from_distance(float distance) {
  double s = 1.0 - static_cast<double>(distance);
  return s > 1.0 ? 1.0 : (s < -1.0 ? -1.0 : s);
}

} // namespace ferro
