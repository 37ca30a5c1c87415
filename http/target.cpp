#include "http/target.hpp"

namespace ferro::http_detail {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

split_target_result split_target(std::string_view target) {
  if (auto hash = target.find('#'); hash != std::string_view::npos)
    target = target.substr(0, hash);
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;
    int hi = hex_value(s[i + 1]);
    int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

result<bool> parse_local_flag(std::string_view query) {
  bool local = false;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq));
    auto value =
        eq == std::string_view::npos ? std::optional<std::string>{""} : percent_decode(pair.substr(eq + 1));
    if (!name || !value)
      return error{errc::bad_request, "malformed query string"};
    if (*name != "local")
      continue;
    if (eq == std::string_view::npos || *value == "true" || *value == "1")
      local = true;
    else if (*value == "false" || *value == "0")
      local = false;
    else
      return error{errc::bad_request, "query parameter local must be true or false"};
  }
  return local;
}

} // namespace ferro::http_detail
