#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace ferro::http_detail {

/// A request target split at the first '?' (a '#' fragment is dropped).
struct split_target_result {
  std::string_view path;
  std::string_view query; ///< without the '?'
};
split_target_result split_target(std::string_view target);

/// RFC 3986 percent-decoding ('+' stays '+': this is for paths and for query
/// values alike). nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s);

/// The `local` flag of a query string: absent, `local`, `local=true`,
/// `local=1` -> true / false; `local=false`, `local=0` -> false; any other
/// value, or a malformed escape anywhere in the query, is bad_request.
/// Other parameters are ignored.
result<bool> parse_local_flag(std::string_view query);

} // namespace ferro::http_detail
