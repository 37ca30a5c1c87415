#include "common/write_back.hpp"

#include <fcntl.h>

namespace ferro {

void write_back::written_up_to(int fd, std::uint64_t end) {
  if (!due(end))
    return;
  ::sync_file_range(fd, static_cast<off_t>(done_), static_cast<off_t>(end - done_),
                    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  done_ = end;
}

} // namespace ferro
