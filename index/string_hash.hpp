#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace ferro {

/// Transparent hash so unordered maps keyed by strings can be probed with a
/// string_view without building a std::string.
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

} // namespace ferro
