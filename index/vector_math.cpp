#include "index/vector_math.hpp"

#include <cmath>
#include <cstdint>

#if defined(__x86_64__) || defined(_M_X64)
#define FERRO_X86 1
#include <immintrin.h>
#endif

namespace ferro {

bool normalize(std::vector<float>& v) {
  if (v.empty())
    return false;
  // Accumulate in double: float squares of values near FLT_MAX overflow.
  double sum = 0;
  for (float x : v) {
    if (!std::isfinite(x))
      return false;
    sum += static_cast<double>(x) * x;
  }
  if (sum == 0)
    return false;
  double inv = 1.0 / std::sqrt(sum);
  for (float& x : v)
    x = static_cast<float>(x * inv);
  return true;
}

namespace {

float dot_portable(const float* a, const float* b, std::size_t n) {
  // Four independent sums so the loop is not bound by add latency.
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i)
    s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

#ifdef FERRO_X86

float dot_sse(const float* a, const float* b, std::size_t n) {
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
  }
  for (; i + 4 <= n; i += 4)
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
  __m128 s = _mm_add_ps(s0, s1);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  float r = _mm_cvtss_f32(s);
  for (; i < n; ++i)
    r += a[i] * b[i];
  return r;
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, std::size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x55));
  float r = _mm_cvtss_f32(h);
  for (; i < n; ++i)
    r += a[i] * b[i];
  return r;
}

__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b, std::size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  if (i < n) {
    // Masked loads read no byte past the arrays.
    auto m = static_cast<__mmask16>((1u << (n - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  // Fold through memory: GCC 12's 512-bit extract/reduce intrinsics trip
  // -Wuninitialized (a false positive that -Werror would turn fatal).
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(s0, s1));
  float r = 0;
  for (int k = 0; k < 8; ++k)
    r += lanes[k] + lanes[k + 8];
  return r;
}

#endif

std::vector<named_dot_kernel> detect_kernels() {
  std::vector<named_dot_kernel> out;
#ifdef FERRO_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    out.push_back({"avx512f", &dot_avx512});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    out.push_back({"avx2+fma", &dot_avx2});
  out.push_back({"sse", &dot_sse});
#endif
  out.push_back({"portable", &dot_portable});
  return out;
}

// A function-local static: safe to use from other translation units' static
// initialisers.
const named_dot_kernel& selected() {
  static const named_dot_kernel k = detect_kernels().front();
  return k;
}

template <dot_kernel K>
float ip_distance(const void* a, const void* b, const void* param) {
  return 1.0f - K(static_cast<const float*>(a), static_cast<const float*>(b),
                  *static_cast<const std::size_t*>(param));
}

ip_distance_fn pick_ip_distance() {
  // One instantiation per kernel, so hnswlib's distance calls cost a single
  // indirect call, as with its own spaces.
#ifdef FERRO_X86
  if (selected().fn == &dot_avx512)
    return &ip_distance<&dot_avx512>;
  if (selected().fn == &dot_avx2)
    return &ip_distance<&dot_avx2>;
  if (selected().fn == &dot_sse)
    return &ip_distance<&dot_sse>;
#endif
  return &ip_distance<&dot_portable>;
}

} // namespace

named_dot_kernel best_dot_kernel() {
  return selected();
}

std::vector<named_dot_kernel> available_dot_kernels() {
  return detect_kernels();
}

float dot(const float* a, const float* b, std::size_t n) {
  return selected().fn(a, b, n);
}

ip_distance_fn best_ip_distance() {
  return pick_ip_distance();
}

} // namespace ferro
