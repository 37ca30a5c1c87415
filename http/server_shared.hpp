#pragma once

#include <atomic>
#include <cstddef>
#include <shared_mutex>

#include "service/cache_service.hpp"
#include "http/http_options.hpp"

namespace ferro::http_detail {

/// State shared by the listener, the sessions and the completion callbacks
/// handed to the service (which may outlive the server: they keep this alive
/// through a shared_ptr and check `stopped` before touching the io_context).
struct server_shared {
  server_shared(http_options o, cache_service& s) : opts(std::move(o)), svc(s) {}

  const http_options opts;
  cache_service& svc;
  std::atomic<std::size_t> connections{0}; ///< sessions serving requests
  std::atomic<std::size_t> rejecting{0};   ///< sessions answering 503 on accept

  /// Readers: a completion posting to a session. Writer: stop(), once, before
  /// the io_context goes away.
  std::shared_mutex gate;
  bool stopped = false; ///< guarded by gate
};

} // namespace ferro::http_detail
