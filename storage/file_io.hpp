#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.hpp"

/// Thin POSIX file helpers: errors as values, errno mapped to errc.
namespace ferro::storage {

/// ENOSPC, EIO, EDQUOT, EROFS (the disk, not us) -> unavailable; else internal.
error errno_error(int err, std::string_view what, const std::filesystem::path& path);

/// Owns a file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept;
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset();

private:
  int fd_ = -1;
};

result<unique_fd> open_file(const std::filesystem::path& path, int flags, int mode = 0644);
status write_all(int fd, std::string_view bytes, const std::filesystem::path& path);
status pwrite_all(int fd, std::string_view bytes, std::uint64_t offset, const std::filesystem::path& path);
status fsync_fd(int fd, const std::filesystem::path& path);

/// fsync of a directory, so that renames and new names in it are durable.
status sync_dir(const std::filesystem::path& dir);

result<std::string> read_whole_file(const std::filesystem::path& path);

/// Size and CRC-32C of a file, read in chunks. With `sync`, also fsyncs it
/// (files written by others, e.g. the HNSW graph, are not synced yet).
struct file_digest {
  std::uint64_t bytes = 0;
  std::uint32_t crc = 0;
};
result<file_digest> digest_file(const std::filesystem::path& path, bool sync);

/// Removes a directory tree; a missing path is fine.
status remove_tree(const std::filesystem::path& path);

} // namespace ferro::storage
