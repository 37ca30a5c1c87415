#pragma once

#include <string_view>

#include "service/messages.hpp"
#include "common/status.hpp"
#include "http/http_options.hpp"

/// JSON request bodies -> validated request messages (API.md "Limits").
/// Errors are bad_request (400: not JSON, not UTF-8, value out of range) or
/// unprocessable (422: not an object, field missing or of the wrong type);
/// every message names the offending field. The `local` flag comes from the
/// query string and is left false here.
namespace ferro {

result<insert_request> parse_insert_request(std::string_view body, const http_options& opts);
result<query_request> parse_query_request(std::string_view body, const http_options& opts);
result<feedback_request> parse_feedback_request(std::string_view body, const http_options& opts);
result<invalidate_request> parse_invalidate_request(std::string_view body, const http_options& opts);

/// Checks a uuid taken from a path or a body: non-empty, at most
/// `max_uuid_bytes`, no '/', well-formed UTF-8.
status validate_uuid(std::string_view uuid, const http_options& opts);

} // namespace ferro
