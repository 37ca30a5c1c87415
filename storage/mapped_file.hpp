#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "common/status.hpp"

namespace ferro::storage {

/// A whole file mapped read-only, for parsing large files that are never
/// changed once published (a snapshot's entries file). Reading the 1.9 GB
/// entries file of a 1M x 384 namespace into a string cost a zeroed
/// allocation and a kernel copy of every byte; the map reads the page cache
/// in place. The file must not shrink while it is mapped (a read past its
/// new end faults).
class mapped_file {
public:
  static result<mapped_file> open(const std::filesystem::path& path);

  mapped_file() = default;
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();

  std::string_view bytes() const { return {data_, size_}; }

private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

} // namespace ferro::storage
