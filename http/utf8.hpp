#pragma once

#include <cstddef>
#include <string_view>

namespace ferro::http_detail {

/// Length of the well-formed UTF-8 sequence at the start of `s` (1..4), or 0
/// when it is malformed (overlong, surrogate, above U+10FFFF, truncated).
std::size_t utf8_sequence_length(std::string_view s);

/// True when the whole string is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

} // namespace ferro::http_detail
