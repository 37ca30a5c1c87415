#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/defaults.hpp"

namespace ferro {

/// Settings of the HTTP front end. Plain values: the app fills them from
/// `node_config`; tests set them directly.
struct http_options {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = defaults::port; ///< 0: an ephemeral port (see start())
  std::size_t io_threads = defaults::io_threads;
  std::size_t max_body_bytes = defaults::max_body_bytes;
  std::string auth_token; ///< empty: auth off
  double default_threshold = defaults::hnsw_default_threshold;
  /// Default of /query's `check`: true for "strict" (config quality.default_check).
  bool default_strict_check = false;
  std::size_t max_dimension = defaults::max_dimension;
  std::size_t max_connections = 1024;

  // Input limits of API.md "Limits".
  std::size_t max_response_bytes = defaults::max_response_bytes;
  std::size_t max_query_text_bytes = defaults::max_query_text_bytes;
  std::size_t max_uuid_bytes = defaults::max_uuid_bytes;
  /// Upper bound of `ttl_seconds` (100 years), so that expiry times in
  /// milliseconds can never overflow.
  std::int64_t max_ttl_seconds = 3'155'760'000;

  /// Request line plus header fields; larger headers get 431.
  std::uint32_t max_header_bytes = 16 * 1024;

  /// A keep-alive connection with no request in progress is closed after this.
  std::chrono::milliseconds idle_timeout{60'000};
  /// Time to receive the rest of a header once its first byte arrived.
  std::chrono::milliseconds header_timeout{10'000};
  /// Time to receive a whole body once the header is accepted.
  std::chrono::milliseconds body_timeout{30'000};
  /// Time to send one response.
  std::chrono::milliseconds write_timeout{30'000};
  /// Backstop when the service never answers: 504. Longer than the gateway's
  /// own timeout (defaults::request_timeout_ms), so the service's answer wins.
  std::chrono::milliseconds handler_timeout{defaults::request_timeout_ms + 5'000};
  /// After an early rejection (401, 413, 400, 503) the server stops sending
  /// and discards what the client still sends for at most this long, so the
  /// client reads the response instead of a connection reset.
  std::chrono::milliseconds linger_timeout{2'000};
};

} // namespace ferro
