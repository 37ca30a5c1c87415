#include "storage/mapped_file.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <utility>

#include "storage/file_io.hpp"

namespace ferro::storage {

result<mapped_file> mapped_file::open(const std::filesystem::path& path) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd)
    return fd.err();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0)
    return errno_error(errno, "cannot stat", path);
  mapped_file out;
  if (st.st_size == 0)
    return out; // mmap refuses a length of 0
  auto size = static_cast<std::size_t>(st.st_size);
  // Populated up front: one pass over the page cache instead of a fault
  // per few pages while parsing.
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd->get(), 0);
  if (p == MAP_FAILED)
    return errno_error(errno, "cannot map", path);
  out.data_ = static_cast<const char*>(p);
  out.size_ = size;
  return out; // the map outlives the descriptor
}

mapped_file::mapped_file(mapped_file&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {
}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    if (data_)
      ::munmap(const_cast<char*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

mapped_file::~mapped_file() {
  if (data_)
    ::munmap(const_cast<char*>(data_), size_);
}

} // namespace ferro::storage
