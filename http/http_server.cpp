#include "http/http_server.hpp"

#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "http/session.hpp"

namespace ferro {

namespace {

using namespace http_detail;

/// At most this many connections beyond the limit are answered with a 503
/// at once; further ones are closed without an answer.
constexpr std::size_t max_rejecting = 64;

/// Accepts connections and hands each to a session (or a 503). Sessions are
/// spread round-robin over the I/O contexts, one thread each: a connection
/// stays on one thread for its life, so its requests find that core's caches
/// warm and no completion is handed between threads.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(std::vector<net::io_context*> contexts, std::shared_ptr<server_shared> shared)
      : contexts_(std::move(contexts)), acceptor_(*contexts_.front()), retry_timer_(*contexts_.front()),
        shared_(std::move(shared)) {}

  result<std::uint16_t> open(const std::string& address, std::uint16_t port) {
    beast::error_code ec;
    auto addr = net::ip::make_address(address, ec);
    if (ec)
      return error{errc::bad_request, "invalid bind address '" + address + "': " + ec.message()};
    tcp::endpoint endpoint{addr, port};
    if (acceptor_.open(endpoint.protocol(), ec); ec)
      return error{errc::internal, "socket: " + ec.message()};
    if (acceptor_.set_option(net::socket_base::reuse_address(true), ec); ec)
      return error{errc::internal, "SO_REUSEADDR: " + ec.message()};
    if (acceptor_.bind(endpoint, ec); ec)
      return error{errc::unavailable, "bind: " + ec.message()};
    if (acceptor_.listen(net::socket_base::max_listen_connections, ec); ec)
      return error{errc::unavailable, "listen: " + ec.message()};
    auto local = acceptor_.local_endpoint(ec);
    if (ec)
      return error{errc::internal, "local endpoint: " + ec.message()};
    return local.port();
  }

  void accept() {
    auto& ioc = *contexts_[next_context_++ % contexts_.size()];
    acceptor_.async_accept(net::make_strand(ioc),
                           beast::bind_front_handler(&listener::on_accept, shared_from_this()));
  }

private:
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted)
      return;
    if (ec) {
      // Typically out of file descriptors: back off briefly instead of
      // spinning on the error.
      spdlog::warn("http: accept failed: {}", ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e)
          self->accept();
      });
      return;
    }
    if (shared_->connections.load(std::memory_order_relaxed) < shared_->opts.max_connections) {
      shared_->connections.fetch_add(1, std::memory_order_relaxed);
      std::make_shared<session>(std::move(socket), shared_, true)->run();
    } else if (shared_->rejecting.load(std::memory_order_relaxed) < max_rejecting) {
      shared_->rejecting.fetch_add(1, std::memory_order_relaxed);
      std::make_shared<session>(std::move(socket), shared_, false)->reject_overloaded();
    } else {
      shared_->svc.metrics().http_rejected_overload_total.fetch_add(1, std::memory_order_relaxed);
      beast::error_code ignored;
      socket.close(ignored);
    }
    accept();
  }

  std::vector<net::io_context*> contexts_;
  std::size_t next_context_ = 0; ///< only touched by the accept loop
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::shared_ptr<server_shared> shared_;
};

} // namespace

struct http_server::impl {
  impl(http_options o, cache_service& s) : shared(std::make_shared<server_shared>(std::move(o), s)) {}

  std::shared_ptr<server_shared> shared;
  std::vector<std::unique_ptr<net::io_context>> contexts; ///< one per I/O thread
  std::vector<std::thread> threads;
  bool started = false;
  bool stopped = false;
};

http_server::http_server(http_options opts, cache_service& service)
    : impl_(std::make_unique<impl>(std::move(opts), service)) {
}

http_server::~http_server() {
  stop();
}

result<std::uint16_t> http_server::start() {
  auto& s = *impl_;
  if (s.started)
    return error{errc::internal, "http_server::start called twice"};
  s.started = true;
  const auto& opts = s.shared->opts;
  const std::size_t threads = opts.io_threads == 0 ? 1 : opts.io_threads;
  std::vector<net::io_context*> raw;
  for (std::size_t i = 0; i < threads; ++i) {
    // Hint 1: each context is run by exactly one thread, which lets asio
    // skip the locking and wake-ups a shared context needs.
    s.contexts.push_back(std::make_unique<net::io_context>(1));
    raw.push_back(s.contexts.back().get());
  }
  auto l = std::make_shared<listener>(raw, s.shared);
  auto port = l->open(opts.bind_address, opts.port);
  if (!port) {
    l.reset(); // before the io_contexts it lives on
    s.contexts.clear();
    s.stopped = true;
    return port.err();
  }
  l->accept();
  for (auto* ioc : raw)
    s.threads.emplace_back([ioc] {
      // Keeps run() from returning while this context has no connection.
      auto guard = net::make_work_guard(*ioc);
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          // A handler threw: log and keep the thread serving.
          spdlog::error("http: I/O thread caught: {}", e.what());
        }
      }
    });
  return *port;
}

void http_server::stop() {
  auto& s = *impl_;
  if (!s.started || s.stopped)
    return;
  s.stopped = true;
  {
    // From here on no completion posts to the io_context.
    std::unique_lock lock(s.shared->gate);
    s.shared->stopped = true;
  }
  for (auto& ioc : s.contexts)
    ioc->stop();
  for (auto& t : s.threads)
    t.join();
  s.threads.clear();
  // Destroys the acceptor, every session and every pending handler. The
  // listener's context goes last: sessions on the others hold no reference
  // to it, but the acceptor lives on it.
  while (!s.contexts.empty())
    s.contexts.pop_back();
}

} // namespace ferro
