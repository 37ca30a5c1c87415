#pragma once

#include <bit>
#include <cstdint>

/// IEEE 754 binary16 <-> binary32 conversion in portable C++, for CPUs
/// without F16C and for the tails of the SIMD kernels. Rounds to nearest,
/// ties to even, as F16C's _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)
/// does; the unit tests check both agree on every half and many floats.
namespace ferro::half {

/// The half nearest to f (overflow gives infinity, NaN stays NaN).
constexpr std::uint16_t from_float(float f) {
  const auto x = std::bit_cast<std::uint32_t>(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) // infinity or NaN (NaN keeps a quiet payload bit)
    return sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (abs >= 0x477ff000u) // at or above 65520, halfway past the largest half
    return sign | 0x7c00u;
  if (abs <= 0x33000000u) // at most 2^-25, half of the smallest subnormal: ties to 0
    return sign;
  const std::uint32_t exponent = abs >> 23;
  if (exponent < 113) { // below 2^-14: a subnormal half in units of 2^-24
    const std::uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const std::uint32_t shift = 126 - exponent; // 14..24 here
    std::uint32_t q = mantissa >> shift;
    const std::uint32_t rest = mantissa & ((1u << shift) - 1);
    const std::uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (q & 1u)))
      ++q; // may carry into the smallest normal, which is the right encoding
    return sign | static_cast<std::uint16_t>(q);
  }
  std::uint32_t h = ((exponent - 112) << 10) | ((abs & 0x7fffffu) >> 13);
  const std::uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h; // a carry into the exponent is correct rounding too
  return sign | static_cast<std::uint16_t>(h);
}

/// The exact float value of half h.
constexpr float to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    float v = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exponent == 31)
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

} // namespace ferro::half
