#include "storage/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace ferro::storage {

namespace {

#if !defined(__SSE4_2__)
constexpr std::uint32_t reflected_poly = 0x82F63B78u;

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k)
      c = (c & 1) ? (c >> 1) ^ reflected_poly : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr auto table = make_table();
#endif

// Works on the raw (non-inverted) register.
std::uint32_t update(std::uint32_t reg, const unsigned char* p, std::size_t n) {
#if defined(__SSE4_2__)
  std::uint64_t r = reg;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    r = _mm_crc32_u64(r, word);
    p += 8;
    n -= 8;
  }
  reg = static_cast<std::uint32_t>(r);
  while (n-- > 0)
    reg = _mm_crc32_u8(reg, *p++);
  return reg;
#else
  while (n-- > 0)
    reg = table[(reg ^ *p++) & 0xffu] ^ (reg >> 8);
  return reg;
#endif
}

} // namespace

std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size) {
  return ~update(~crc, static_cast<const unsigned char*>(data), size);
}

std::uint32_t crc32c(const void* data, std::size_t size) {
  return crc32c_extend(0, data, size);
}

} // namespace ferro::storage
