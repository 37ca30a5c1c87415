#pragma once

#include <cstdint>

namespace ferro {

/// Writes a growing file back to disk in slices while it is written.
///
/// On ext4 (data=ordered) every fsync of the WAL commits the journal, which
/// first writes out the dirty data of files that got new blocks: a snapshot
/// file of 100+ MB written in one go made the WAL fsyncs of every namespace
/// wait for it. Writing each slice back as soon as it is complete bounds what
/// a WAL fsync can inherit. Only a hint: errors surface at the final fsync.
class write_back {
public:
  static constexpr std::uint64_t slice_bytes = std::uint64_t{8} << 20;

  /// `start`: the offset from which the file is written in order.
  explicit write_back(std::uint64_t start = 0) : done_(start) {}

  /// Whether a file written up to `end` has a whole new slice to write back
  /// (for buffered writers: flush the buffer to the kernel, then call
  /// written_up_to).
  bool due(std::uint64_t end) const { return end >= done_ + slice_bytes; }

  /// The file behind `fd` now holds its first `end` bytes (in the kernel,
  /// not in a user-space buffer): once due(end), writes back what is new and
  /// waits for it.
  void written_up_to(int fd, std::uint64_t end);

private:
  std::uint64_t done_;
};

} // namespace ferro
