#include "storage/file_io.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "storage/crc32c.hpp"

namespace ferro::storage {

error errno_error(int err, std::string_view what, const std::filesystem::path& path) {
  std::string msg{what};
  msg += " ";
  msg += path.string();
  msg += ": ";
  msg += std::strerror(err);
  bool disk = err == ENOSPC || err == EIO || err == EDQUOT || err == EROFS;
  return error{disk ? errc::unavailable : errc::internal, std::move(msg)};
}

unique_fd& unique_fd::operator=(unique_fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = other.release();
  }
  return *this;
}

void unique_fd::reset() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

result<unique_fd> open_file(const std::filesystem::path& path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return errno_error(errno, "cannot open", path);
  return unique_fd{fd};
}

status write_all(int fd, std::string_view bytes, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno_error(errno, "cannot write", path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

status pwrite_all(int fd, std::string_view bytes, std::uint64_t offset, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    auto n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno_error(errno, "cannot write", path);
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

status fsync_fd(int fd, const std::filesystem::path& path) {
  // No retry on failure: after a failed fsync the kernel may have dropped the
  // dirty pages, and a second fsync would report success for lost data.
  if (::fsync(fd) != 0)
    return errno_error(errno, "cannot fsync", path);
  return {};
}

status sync_dir(const std::filesystem::path& dir) {
  auto fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  if (!fd)
    return fd.err();
  return fsync_fd(fd->get(), dir);
}

result<std::string> read_whole_file(const std::filesystem::path& path) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd)
    return fd.err();
  struct stat st;
  if (::fstat(fd->get(), &st) != 0)
    return errno_error(errno, "cannot stat", path);
  std::string out;
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = ::read(fd->get(), out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno_error(errno, "cannot read", path);
    }
    if (n == 0)
      break; // shrank under us; the caller's checks catch it
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

result<file_digest> digest_file(const std::filesystem::path& path, bool sync) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd)
    return fd.err();
  file_digest d;
  std::vector<char> buf(1 << 20);
  for (;;) {
    auto n = ::read(fd->get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno_error(errno, "cannot read", path);
    }
    if (n == 0)
      break;
    d.crc = crc32c_extend(d.crc, buf.data(), static_cast<std::size_t>(n));
    d.bytes += static_cast<std::uint64_t>(n);
  }
  if (sync) {
    if (auto st = fsync_fd(fd->get(), path); !st)
      return st.err();
  }
  return d;
}

status remove_tree(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec)
    return error{errc::unavailable, "cannot remove " + path.string() + ": " + ec.message()};
  return {};
}

} // namespace ferro::storage
