#pragma once

#include <functional>
#include <string_view>

#include "service/cache_service.hpp"
#include "http/http_options.hpp"
#include "http/http_types.hpp"

namespace ferro {

/// Routes one complete request: auth (401), body size (413), route (404,
/// 405 + Allow), Content-Type of a POST body (415), JSON -> request message
/// (400/422), the service call, and the reply -> JSON response. Sockets play
/// no part, so every rule of API.md is testable in memory.
///
/// `done` is called exactly once: inline, or later on whatever thread the
/// service answers on (the caller hops back to its own strand). Nothing is
/// thrown. Counts http_requests_total / http_errors_total /
/// http_rejected_overload_total and observes the query and insert duration
/// histograms in `svc.metrics()`; cache events are counted by the service.
void handle_request(const request_view& req, cache_service& svc, const http_options& opts,
                    std::function<void(http_response)> done);

/// True for `application/json`, case-insensitive, with optional parameters;
/// a `charset` parameter must be utf-8.
bool is_json_content_type(std::string_view content_type);

/// Counts one answered request by status in the http_* counters.
void count_response(node_metrics& m, unsigned status);

} // namespace ferro
