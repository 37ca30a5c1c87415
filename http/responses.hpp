#pragma once

#include <string_view>

#include "service/messages.hpp"
#include "common/metrics.hpp"
#include "common/status.hpp"
#include "http/http_types.hpp"

/// Reply messages -> HTTP responses with the exact shapes of API.md.
namespace ferro {

/// HTTP status of an error class (bad_request 400, unprocessable 422,
/// not_found 404, overloaded 429, unavailable 503, timeout 504, internal 500).
unsigned status_for(errc code);

/// `{"error": message}` with Content-Type application/json.
http_response error_response(unsigned status, std::string_view message);

/// An error value as a response; an empty message gets a generic one.
http_response error_response(const error& e);

/// Renders Unix milliseconds as Unix seconds (ms precision), or null for 0.
void append_timestamp(std::string& out, std::int64_t ms);

http_response insert_response(const insert_reply& r);
/// `with_scope`: the request carried a conversation_id.
http_response query_response(const query_reply& r, bool with_scope);
/// 200 {"status": "ok"}.
http_response feedback_response(const feedback_reply& r);
http_response delete_response(const delete_reply& r, std::string_view uuid);
http_response invalidate_response(const invalidate_reply& r);
http_response compact_response(const compact_reply& r);
http_response entry_stats_response(const entry_stats_reply& r);
http_response health_response(const health_reply& r);
http_response stats_response(const stats_reply& r, const node_metrics& m);
http_response cluster_status_response(const cluster_status_reply& r);

} // namespace ferro
