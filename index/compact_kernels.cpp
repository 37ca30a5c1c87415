#include "index/compact_kernels.hpp"

#include <cstdint>
#include <cstring>

#include "index/half_float.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#define FERRO_X86 1
// GCC 12's AVX-512 headers start conversions from _mm512_undefined_*(),
// written `__m512i __Y = __Y;`, and -Wmaybe-uninitialized then fires inside
// the header wherever such a conversion is inlined (a known false positive:
// the value is a don't-care input of an all-ones mask). The header lines are
// what the warning names, so it is switched off before the include, for
// this file's kernels only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif

namespace ferro {

namespace {

// ---- stored layouts

const std::uint16_t* halves(const void* p) {
  return static_cast<const std::uint16_t*>(p);
}

float scale_of(const void* p) {
  float s;
  std::memcpy(&s, p, sizeof(s)); // hnswlib's slots put it at any 4-byte offset
  return s;
}

const std::int8_t* codes_of(const void* p) {
  return static_cast<const std::int8_t*>(p) + sizeof(float);
}

std::size_t dim_of(const void* param) {
  return *static_cast<const std::size_t*>(param);
}

// ---- portable C++: four independent sums, as dot_portable

float f16_query_portable(const void* a, const void* b, const void* param) {
  auto* q = static_cast<const float*>(a);
  auto* h = halves(b);
  const std::size_t n = dim_of(param);
  float s[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k)
      s[k] += q[i + k] * half::to_float(h[i + k]);
  for (; i < n; ++i)
    s[0] += q[i] * half::to_float(h[i]);
  return 1.0f - ((s[0] + s[1]) + (s[2] + s[3]));
}

float f16_stored_portable(const void* a, const void* b, const void* param) {
  auto* x = halves(a);
  auto* y = halves(b);
  const std::size_t n = dim_of(param);
  float s[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k)
      s[k] += half::to_float(x[i + k]) * half::to_float(y[i + k]);
  for (; i < n; ++i)
    s[0] += half::to_float(x[i]) * half::to_float(y[i]);
  return 1.0f - ((s[0] + s[1]) + (s[2] + s[3]));
}

float i8_query_portable(const void* a, const void* b, const void* param) {
  auto* q = static_cast<const float*>(a);
  auto* c = codes_of(b);
  const std::size_t n = dim_of(param);
  float s[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k)
      s[k] += q[i + k] * static_cast<float>(c[i + k]);
  for (; i < n; ++i)
    s[0] += q[i] * static_cast<float>(c[i]);
  return 1.0f - ((s[0] + s[1]) + (s[2] + s[3])) * scale_of(b);
}

float i8_stored_portable(const void* a, const void* b, const void* param) {
  auto* x = codes_of(a);
  auto* y = codes_of(b);
  const std::size_t n = dim_of(param);
  // Exact in 32 bits up to 133,000 dimensions (127^2 per term).
  std::int32_t s = 0;
  for (std::size_t i = 0; i < n; ++i)
    s += static_cast<std::int32_t>(x[i]) * y[i];
  return 1.0f - static_cast<float>(s) * (scale_of(a) * scale_of(b));
}

#ifdef FERRO_X86

// ---- AVX2 + FMA + F16C (Haswell and later; not in the x86-64-v2 baseline)

#define FERRO_AVX2 __attribute__((target("avx2,fma,f16c")))

FERRO_AVX2 float sum8(__m256 s) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 0x55));
  return _mm_cvtss_f32(h);
}

FERRO_AVX2 __m256 load_f16x8(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

FERRO_AVX2 __m256 load_i8x8(const std::int8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

FERRO_AVX2 float f16_query_avx2(const void* a, const void* b, const void* param) {
  auto* q = static_cast<const float*>(a);
  auto* h = halves(b);
  const std::size_t n = dim_of(param);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16x8(h + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_f16x8(h + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), load_f16x8(h + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), load_f16x8(h + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16x8(h + i), s0);
  float r = sum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i)
    r += q[i] * half::to_float(h[i]);
  return 1.0f - r;
}

FERRO_AVX2 float f16_stored_avx2(const void* a, const void* b, const void* param) {
  auto* x = halves(a);
  auto* y = halves(b);
  const std::size_t n = dim_of(param);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), s0);
    s1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), load_f16x8(y + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), s0);
  float r = sum8(_mm256_add_ps(s0, s1));
  for (; i < n; ++i)
    r += half::to_float(x[i]) * half::to_float(y[i]);
  return 1.0f - r;
}

FERRO_AVX2 float i8_query_avx2(const void* a, const void* b, const void* param) {
  auto* q = static_cast<const float*>(a);
  auto* c = codes_of(b);
  const std::size_t n = dim_of(param);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_i8x8(c + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), load_i8x8(c + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 16), load_i8x8(c + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 24), load_i8x8(c + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_i8x8(c + i), s0);
  float r = sum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i)
    r += q[i] * static_cast<float>(c[i]);
  return 1.0f - r * scale_of(b);
}

FERRO_AVX2 float i8_stored_avx2(const void* a, const void* b, const void* param) {
  auto* x = codes_of(a);
  auto* y = codes_of(b);
  const std::size_t n = dim_of(param);
  // 16 codes widen to 16-bit lanes; madd sums adjacent products into 32 bits.
  __m256i s = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i xa = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    __m256i yb = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(y + i)));
    s = _mm256_add_epi32(s, _mm256_madd_epi16(xa, yb));
  }
  alignas(32) std::int32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  std::int32_t r = 0;
  for (int k = 0; k < 8; ++k)
    r += lanes[k];
  for (; i < n; ++i)
    r += static_cast<std::int32_t>(x[i]) * y[i];
  return 1.0f - static_cast<float>(r) * (scale_of(a) * scale_of(b));
}

// ---- AVX-512F (16 lanes; conversions from half and int8 are in AVX-512F)

#define FERRO_AVX512 __attribute__((target("avx512f")))

FERRO_AVX512 float sum16(__m512 s) {
  // Through memory: GCC 12's 512-bit reduce intrinsics trip -Wuninitialized
  // (see dot_avx512).
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  float r = 0;
  for (int k = 0; k < 8; ++k)
    r += lanes[k] + lanes[k + 8];
  return r;
}

FERRO_AVX512 __m512 load_f16x16(const std::uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

FERRO_AVX512 __m512 load_i8x16(const std::int8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
}

FERRO_AVX512 float f16_query_avx512(const void* a, const void* b, const void* param) {
  auto* q = static_cast<const float*>(a);
  auto* h = halves(b);
  const std::size_t n = dim_of(param);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_f16x16(h + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_f16x16(h + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_f16x16(h + i), s0);
  float r = sum16(_mm512_add_ps(s0, s1));
  for (; i < n; ++i)
    r += q[i] * half::to_float(h[i]);
  return 1.0f - r;
}

FERRO_AVX512 float f16_stored_avx512(const void* a, const void* b, const void* param) {
  auto* x = halves(a);
  auto* y = halves(b);
  const std::size_t n = dim_of(param);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(load_f16x16(x + i), load_f16x16(y + i), s0);
    s1 = _mm512_fmadd_ps(load_f16x16(x + i + 16), load_f16x16(y + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps(load_f16x16(x + i), load_f16x16(y + i), s0);
  float r = sum16(_mm512_add_ps(s0, s1));
  for (; i < n; ++i)
    r += half::to_float(x[i]) * half::to_float(y[i]);
  return 1.0f - r;
}

FERRO_AVX512 float i8_query_avx512(const void* a, const void* b, const void* param) {
  auto* q = static_cast<const float*>(a);
  auto* c = codes_of(b);
  const std::size_t n = dim_of(param);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_i8x16(c + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), load_i8x16(c + i + 16), s1);
  }
  for (; i + 16 <= n; i += 16)
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), load_i8x16(c + i), s0);
  float r = sum16(_mm512_add_ps(s0, s1));
  for (; i < n; ++i)
    r += q[i] * static_cast<float>(c[i]);
  return 1.0f - r * scale_of(b);
}

#endif

std::vector<compact_kernels> detect() {
  std::vector<compact_kernels> out;
#ifdef FERRO_X86
  __builtin_cpu_init();
  const bool avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  // int8 x int8 stays on AVX2's 16-bit multiply-add: AVX-512F alone has no
  // cheaper integer dot product.
  if (avx2 && __builtin_cpu_supports("avx512f"))
    out.push_back({"avx512f", &f16_stored_avx512, &f16_query_avx512, &i8_stored_avx2, &i8_query_avx512});
  if (avx2)
    out.push_back({"avx2+fma+f16c", &f16_stored_avx2, &f16_query_avx2, &i8_stored_avx2, &i8_query_avx2});
#endif
  out.push_back(
      {"portable", &f16_stored_portable, &f16_query_portable, &i8_stored_portable, &i8_query_portable});
  return out;
}

} // namespace

const compact_kernels& best_compact_kernels() {
  static const compact_kernels k = detect().front();
  return k;
}

std::vector<compact_kernels> available_compact_kernels() {
  return detect();
}

} // namespace ferro
