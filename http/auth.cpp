#include "http/auth.hpp"

#include <climits>
#include <cstddef>

#include "http/target.hpp"

namespace ferro {

namespace http_detail {

bool constant_time_equals(std::string_view supplied, std::string_view expected) {
  static const unsigned char zero = 0;
  const std::size_t n = supplied.size();
  const auto* s = n ? reinterpret_cast<const unsigned char*>(supplied.data()) : &zero;
  // A length mismatch is folded into the result instead of returning early,
  // and the loop always runs over the configured length.
  unsigned diff = static_cast<unsigned>(n != expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    // in_range is 1 while i < n, computed without a branch: i - n wraps
    // around and sets the top bit exactly then.
    const std::size_t in_range = (i - n) >> (sizeof(std::size_t) * CHAR_BIT - 1);
    const std::size_t mask = 0 - in_range;
    const unsigned char byte = s[i & mask] & static_cast<unsigned char>(mask);
    diff |= static_cast<unsigned>(byte ^ static_cast<unsigned char>(expected[i]));
  }
  return diff == 0;
}

} // namespace http_detail

namespace {

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z')
      x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z')
      y = static_cast<char>(y - 'A' + 'a');
    if (x != y)
      return false;
  }
  return true;
}

} // namespace

bool is_open_route(std::string_view method, std::string_view target) {
  if (method != "GET")
    return false;
  auto path = http_detail::split_target(target).path;
  return path == "/health" || path == "/metrics";
}

bool is_authorized(std::string_view configured_token, std::string_view authorization) {
  if (configured_token.empty())
    return true;
  constexpr std::string_view scheme = "bearer";
  std::string_view supplied;
  bool scheme_ok = authorization.size() > scheme.size() &&
                   iequals_ascii(authorization.substr(0, scheme.size()), scheme) &&
                   (authorization[scheme.size()] == ' ' || authorization[scheme.size()] == '\t');
  if (scheme_ok) {
    supplied = authorization.substr(scheme.size());
    while (!supplied.empty() && (supplied.front() == ' ' || supplied.front() == '\t'))
      supplied.remove_prefix(1);
    while (!supplied.empty() && (supplied.back() == ' ' || supplied.back() == '\t'))
      supplied.remove_suffix(1);
  }
  // Compare even when the scheme is wrong, so that timing does not tell a
  // malformed header from a wrong token.
  bool token_ok = http_detail::constant_time_equals(supplied, configured_token);
  return scheme_ok & token_ok;
}

bool request_allowed(std::string_view configured_token, std::string_view method, std::string_view target,
                     std::string_view authorization) {
  return is_open_route(method, target) || is_authorized(configured_token, authorization);
}

} // namespace ferro
