#pragma once

#include <stdexcept>
#include <string>

#include <simdjson.h>

#include "http/http_types.hpp"

namespace ferro::test {

/// Parses a response body (must be valid JSON) and keeps the parser alive.
class json_doc {
public:
  explicit json_doc(const std::string& text) {
    if (parser_.parse(text).get(root_))
      throw std::runtime_error("response is not valid JSON: " + text);
  }
  simdjson::dom::element root() const { return root_; }
  simdjson::dom::element operator[](std::string_view key) const { return root_[key].value(); }
  bool has(std::string_view key) const { return !root_[key].error(); }

private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

/// The "error" string of an error response; throws unless the response is a
/// JSON object with a string "error" and the JSON content type.
inline std::string error_of(const http_response& res) {
  if (res.content_type != "application/json")
    throw std::runtime_error("error response without application/json: " + res.content_type);
  json_doc doc{res.body};
  std::string_view msg;
  if (doc.root()["error"].get_string().get(msg))
    throw std::runtime_error("error response without \"error\": " + res.body);
  return std::string{msg};
}

} // namespace ferro::test
