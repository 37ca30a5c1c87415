#include "cluster/edges/election_file.hpp"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "common/planted_bug.hpp"
#include "common/write_fully.hpp"

namespace ferro::cluster {

namespace {

bool fsync_folder(const std::filesystem::path& path) {
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool ok = dir >= 0 && ::fsync(dir) == 0;
  if (dir >= 0)
    ::close(dir);
  return ok;
}

} // namespace

bool election_file::save(const std::string& changed, std::size_t live_bytes,
                         const std::function<std::string()>& whole) {
  // The planted bug (simulator only): the first save after a start appends
  // to the file as it was found, a torn append of before a power loss
  // included, so the new lines fuse with that partial one.
  if (planted(planted_bug::append_after_torn_line) && !saved_once_) {
    std::error_code ec;
    auto found = std::filesystem::file_size(path_, ec);
    if (!ec) {
      rewrite_next_ = false;
      file_bytes_ = found;
    }
  }
  saved_once_ = true;
  bool compact = file_bytes_ + changed.size() > 2 * live_bytes + slack_bytes_;
  bool ok = true;
  if (rewrite_next_ || compact)
    ok = rewrite(whole());
  else if (!changed.empty())
    ok = append(changed);
  // A failed append may have left part of a line: the next save starts a
  // new file rather than write after it.
  rewrite_next_ = !ok;
  return ok;
}

bool election_file::rewrite(const std::string& text) {
  auto tmp = path_;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write_fully(fd, text) && ::fsync(fd) == 0;
  if (fd >= 0)
    ok = ::close(fd) == 0 && ok;
  ok = ok && std::rename(tmp.c_str(), path_.c_str()) == 0 && fsync_folder(path_);
  if (ok)
    file_bytes_ = text.size();
  return ok;
}

bool election_file::append(const std::string& lines) {
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  // The file exists (the rename that made it was synced with its folder):
  // its data and size are what must reach the disk.
  bool ok = fd >= 0 && write_fully(fd, lines) && ::fdatasync(fd) == 0;
  if (fd >= 0)
    ok = ::close(fd) == 0 && ok;
  if (ok)
    file_bytes_ += lines.size();
  return ok;
}

result<election_records> election_file::load(bool& exists, bool& damaged) const {
  exists = false;
  damaged = false;
  std::ifstream in(path_, std::ios::binary);
  if (!in)
    return election_records{};
  exists = true;
  std::stringstream text;
  text << in.rdbuf();
  return decode_election_records(text.str(), damaged);
}

} // namespace ferro::cluster
