#pragma once

// Request bodies for the HTTP contract (docs: docs/api.md), built
// ahead of time so formatting never shows up in a measurement.

#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>

namespace ferro::bench {

/// ~7 significant digits: a float round-trips within one or two ulps, which
/// is all a cosine above 0.95 needs, and bodies stay ~12 bytes per value.
inline void append_float(std::string& out, float v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 7);
  out.append(buf, r.ptr);
}

inline void append_embedding(std::string& out, const float* v, std::size_t dim) {
  out += "\"embedding\":[";
  for (std::size_t i = 0; i < dim; ++i) {
    if (i)
      out += ',';
    append_float(out, v[i]);
  }
  out += ']';
}

inline void append_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      static const char hex[] = "0123456789abcdef";
      out += "\\u00";
      out += hex[(c >> 4) & 0xf];
      out += hex[c & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

/// `"key":"value"` with a leading comma.
inline void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  append_string(out, key);
  out += ':';
  append_string(out, value);
}

/// The whole HTTP/1.1 request, headers and body, ready to be written.
inline std::string http_request(std::string_view method, std::string_view target, std::string_view host,
                                std::string_view token, std::string_view body, bool has_body) {
  std::string r;
  r.reserve(body.size() + 256);
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host).append("\r\n");
  if (!token.empty())
    r.append("Authorization: Bearer ").append(token).append("\r\n");
  if (has_body) {
    r.append("Content-Type: application/json\r\nContent-Length: ");
    r.append(std::to_string(body.size())).append("\r\n");
  }
  r.append("\r\n").append(body);
  return r;
}

} // namespace ferro::bench
