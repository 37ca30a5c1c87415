#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace ferro {

/// Generates lowercase hyphenated UUIDv4 strings from a seeded generator, so
/// tests and the simulator get reproducible ids. Not thread-safe: one per
/// owner (each namespace actor has its own).
class uuid_generator {
public:
  explicit uuid_generator(std::uint64_t seed) : rng_(seed) {}

  std::string next() {
    std::uint64_t hi = rng_();
    std::uint64_t lo = rng_();
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL; // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL; // RFC 4122 variant
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(36, '-');
    std::size_t pos = 0;
    auto put = [&](std::uint64_t v, int nibbles) {
      for (int i = nibbles - 1; i >= 0; --i) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23)
          ++pos;
        out[pos++] = hex[(v >> (i * 4)) & 0xf];
      }
    };
    put(hi, 16);
    put(lo, 16);
    return out;
  }

private:
  std::mt19937_64 rng_;
};

} // namespace ferro
