#pragma once

#include <string_view>

namespace ferro {

/// GET /health and GET /metrics stay open when auth is on (API.md "Auth").
/// `target` may carry a query string.
bool is_open_route(std::string_view method, std::string_view target);

/// True when `configured_token` is empty (auth off), or `authorization` is
/// `Bearer <token>` (scheme case-insensitive) with exactly that token. The
/// token comparison runs in time that depends only on the configured token's
/// length, whatever the supplied token and its length. Never logs either.
bool is_authorized(std::string_view configured_token, std::string_view authorization);

/// Auth decision for a whole request: open route, or authorized.
bool request_allowed(std::string_view configured_token, std::string_view method, std::string_view target,
                     std::string_view authorization);

namespace http_detail {
/// Constant-time equality (see is_authorized); exposed for tests.
bool constant_time_equals(std::string_view supplied, std::string_view expected);
} // namespace http_detail

} // namespace ferro
