#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace ferro {

/// Wall-clock milliseconds since the epoch. Logic never calls the system
/// clock directly: it receives a `wall_clock` so tests and the simulator can
/// drive time.
using wall_clock = std::function<std::int64_t()>;

inline std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

inline wall_clock system_wall_clock() {
  return &system_now_ms;
}

} // namespace ferro
