#pragma once

#include <cstdint>
#include <string_view>

namespace ferro::cluster {

/// FNV-1a, 64 bits: h = 0xcbf29ce484222325; for each byte b:
/// h = (h ^ b) * 0x100000001b3 (mod 2^64).
constexpr std::uint64_t fnv1a_64(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

/// The splitmix64 finaliser (mod 2^64):
///   z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
///   z = (z ^ (z >> 27)) * 0x94d049bb133111eb
///   z =  z ^ (z >> 31)
constexpr std::uint64_t splitmix64_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The one hash that decides placement: splitmix64_mix(fnv1a_64(bytes)).
/// Fixed by definition, so every node, standard library and CPU agrees on
/// it (std::hash does not).
constexpr std::uint64_t stable_hash(std::string_view bytes) {
  // FNV-1a alone leaves the high bits of similar strings close together;
  // the finaliser spreads them over the whole ring.
  return splitmix64_mix(fnv1a_64(bytes));
}

} // namespace ferro::cluster
