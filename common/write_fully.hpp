#pragma once

#include <string_view>

namespace ferro {

/// Writes all of `data` to `fd`, going on after partial writes and EINTR;
/// false (errno set) when the descriptor refuses. No fsync.
bool write_fully(int fd, std::string_view data);

} // namespace ferro
