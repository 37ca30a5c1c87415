#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferro {

/// One parsed HTTP request as the router sees it: no sockets, no Beast. The
/// views must stay valid until `handle_request` returns (it copies what it
/// keeps).
struct request_view {
  std::string_view method;        ///< "GET", "POST", ... (case-sensitive)
  std::string_view target;        ///< origin-form: path plus optional "?query"
  std::string_view content_type;  ///< empty when absent
  std::string_view authorization; ///< empty when absent
  std::string_view body;
};

/// A complete response. Every error has a JSON body `{"error": "..."}`.
struct http_response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// Extra header fields, e.g. {"Allow", "POST"} on a 405.
  std::vector<std::pair<std::string, std::string>> headers;
};

} // namespace ferro
