#pragma once

// CPU time of a process from /proc, to report how busy the server was during
// a measurement (100% = one core).

#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <unistd.h>

namespace ferro::bench {

/// utime + stime of `pid` in seconds, or a negative value when unreadable.
inline double process_cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line))
    return -1;
  // The command name (field 2) may hold spaces and parentheses: skip past the
  // last ')'. Field 3 (state) follows; utime and stime are fields 14 and 15.
  auto close = line.rfind(')');
  if (close == std::string::npos)
    return -1;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int f = 3; f <= 15 && rest >> field; ++f) {
    if (f == 14)
      utime = std::stoull(field);
    if (f == 15)
      stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// Bytes `pid` caused to be written to storage so far (`write_bytes` of
/// /proc/<pid>/io: counted when a page cache page is dirtied or written
/// directly, so it includes files written and deleted before write-back;
/// the ext4 journal is the kernel's and not counted). Negative when
/// unreadable (another user's process, or no such field).
inline double process_write_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  unsigned long long value = 0;
  while (in >> key >> value)
    if (key == "write_bytes:")
      return static_cast<double>(value);
  return -1;
}

/// CPU time of this process (all threads) in seconds.
inline double own_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

} // namespace ferro::bench

namespace ferro::bench {

/// The 1-minute load average, so every result line says how busy the
/// machine was while it was measured; negative when unreadable.
inline double load_average_1m() {
  std::ifstream in("/proc/loadavg");
  double v = -1;
  in >> v;
  return in ? v : -1;
}

} // namespace ferro::bench
