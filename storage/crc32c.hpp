#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ferro::storage {

/// CRC-32C (Castagnoli), as used by iSCSI, ext4 and LevelDB. Uses the SSE4.2
/// instruction when the build baseline has it (x86-64-v2 does), a table
/// otherwise; both give the same value.
std::uint32_t crc32c(const void* data, std::size_t size);

/// Continues a CRC over more bytes: crc32c_extend(crc32c(a), b) == crc32c(a ‖ b).
std::uint32_t crc32c_extend(std::uint32_t crc, const void* data, std::size_t size);

inline std::uint32_t crc32c(std::string_view bytes) {
  return crc32c(bytes.data(), bytes.size());
}

} // namespace ferro::storage
