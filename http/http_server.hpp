#pragma once

#include <cstdint>
#include <memory>

#include "service/cache_service.hpp"
#include "common/status.hpp"
#include "http/http_options.hpp"

namespace ferro {

/// The node's HTTP/1.1 front end (Boost.Beast; kept out of this header).
/// Keep-alive connections, one strand per connection, no blocking on the I/O
/// threads: each parsed request goes to `handle_request`, and the answer is
/// posted back to the connection's strand from whatever thread produced it.
///
/// Per connection: the header is read first; auth (401) and Content-Length
/// (413) are checked before any body byte is read. Bad HTTP gets a 400 and
/// the connection is closed; connections above `max_connections` get a 503.
/// `service` must outlive the server (or at least its stop()).
class http_server {
public:
  http_server(http_options opts, cache_service& service);
  ~http_server(); ///< stops
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and listens, then starts `io_threads` threads. Returns the bound
  /// port (the ephemeral one when `port` is 0). Call once.
  result<std::uint16_t> start();

  /// Stops accepting, closes every connection (requests in flight are not
  /// answered), joins the threads. Replies the service delivers afterwards
  /// are dropped. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ferro
