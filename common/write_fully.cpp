#include "common/write_fully.hpp"

#include <cerrno>

#include <unistd.h>

namespace ferro {

bool write_fully(int fd, std::string_view data) {
  for (std::size_t at = 0; at < data.size();) {
    auto n = ::write(fd, data.data() + at, data.size() - at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    at += static_cast<std::size_t>(n);
  }
  return true;
}

} // namespace ferro
