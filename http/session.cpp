#include "http/session.hpp"

#include <limits>
#include <mutex>
#include <string_view>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "http/auth.hpp"
#include "http/responses.hpp"
#include "http/routes.hpp"

namespace ferro::http_detail {

namespace {

std::string_view sv(beast::string_view s) {
  return {s.data(), s.size()};
}

bool iequals(std::string_view a, std::string_view b) {
  return beast::iequals(beast::string_view{a.data(), a.size()}, beast::string_view{b.data(), b.size()});
}

/// Client gone, timed out, or connection torn down: nothing to answer.
bool is_disconnect(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::operation_aborted || ec == beast::error::timeout ||
         ec == net::error::broken_pipe || ec == bhttp::error::partial_message;
}

constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";

} // namespace

session::session(tcp::socket&& socket, std::shared_ptr<server_shared> shared, bool counted)
    : stream_(std::move(socket)), handler_timer_(stream_.get_executor()), shared_(std::move(shared)),
      counted_(counted) {
}

session::~session() {
  if (counted_)
    shared_->connections.fetch_sub(1, std::memory_order_relaxed);
  else
    shared_->rejecting.fetch_sub(1, std::memory_order_relaxed);
}

void session::run() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_request(); });
}

void session::reject_overloaded() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    self->shared_->svc.metrics().http_rejected_overload_total.fetch_add(1, std::memory_order_relaxed);
    self->reject(error_response(503, "too many connections; retry later"), false);
  });
}

void session::read_request() {
  parser_.emplace();
  parser_->header_limit(shared_->opts.max_header_bytes);
  // No body limit while the header is read: Content-Length is checked by
  // hand after auth, so a 401 wins over a 413. (Not boost::none: Beast 1.74
  // compares `len > optional`, which is true for an empty optional.)
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  if (buffer_.size() > 0) // a pipelined request is already here
    return read_header();
  // Idle keep-alive connections should not pin a large read buffer.
  buffer_.shrink_to_fit();
  // Idle wait for the first bytes of the next request, then the (shorter)
  // header timeout for the rest of it.
  stream_.expires_after(shared_->opts.idle_timeout);
  stream_.async_read_some(buffer_.prepare(4096),
                          beast::bind_front_handler(&session::on_first_bytes, shared_from_this()));
}

void session::on_first_bytes(beast::error_code ec, std::size_t n) {
  if (ec)
    return close();
  buffer_.commit(n);
  read_header();
}

void session::read_header() {
  stream_.expires_after(shared_->opts.header_timeout);
  bhttp::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void session::on_header(beast::error_code ec) {
  const auto& opts = shared_->opts;
  if (ec == bhttp::error::header_limit)
    return reject(error_response(431, "request header is larger than " +
                                          std::to_string(opts.max_header_bytes) + " bytes"),
                  false);
  if (ec == beast::error::timeout && buffer_.size() > 0)
    return reject(error_response(408, "timed out reading the request header"), false);
  if (ec && is_disconnect(ec))
    return close();
  if (ec) {
    // Not HTTP (bad method, target, version, field, ...).
    spdlog::debug("http: malformed request header: {}", ec.message());
    return reject(error_response(400, "malformed HTTP request"), false);
  }
  const auto& req = parser_->get();
  version_ = req.version();
  if (!request_allowed(opts.auth_token, sv(req.method_string()), sv(req.target()),
                       sv(req[bhttp::field::authorization])))
    return reject(error_response(401, "unauthorized"), parser_->is_done());
  if (auto len = parser_->content_length(); len && *len > opts.max_body_bytes)
    return reject(
        error_response(413, "request body is larger than " + std::to_string(opts.max_body_bytes) + " bytes"),
        false);
  parser_->body_limit(static_cast<std::uint64_t>(opts.max_body_bytes)); // chunked bodies
  if (parser_->is_done())
    return dispatch_request();
  if (iequals(sv(req[bhttp::field::expect]), "100-continue"))
    return send_continue();
  read_body();
}

void session::send_continue() {
  stream_.expires_after(shared_->opts.write_timeout);
  net::async_write(stream_, net::buffer(continue_line.data(), continue_line.size()),
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     if (ec)
                       return self->close();
                     self->read_body();
                   });
}

void session::read_body() {
  stream_.expires_after(shared_->opts.body_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
}

void session::on_body(beast::error_code ec) {
  if (ec == bhttp::error::body_limit)
    return reject(error_response(413, "request body is larger than " +
                                          std::to_string(shared_->opts.max_body_bytes) + " bytes"),
                  false);
  if (ec == beast::error::timeout)
    return reject(error_response(408, "timed out reading the request body"), false);
  if (ec && is_disconnect(ec))
    return close();
  if (ec)
    return reject(error_response(400, "malformed HTTP request body"), false);
  dispatch_request();
}

void session::dispatch_request() {
  auto& req = parser_->get();
  keep_alive_ = req.keep_alive();
  version_ = req.version();
  const std::uint64_t seq = ++seq_;
  awaiting_ = true;

  // Backstop for a service that never answers; its pending wait also keeps
  // this session alive while the service works.
  handler_timer_.expires_after(shared_->opts.handler_timeout);
  handler_timer_.async_wait([self = shared_from_this(), seq](beast::error_code ec) {
    if (!ec)
      self->on_handler_timeout(seq);
  });

  request_view view{sv(req.method_string()), sv(req.target()), sv(req[bhttp::field::content_type]),
                    sv(req[bhttp::field::authorization]), req.body()};
  std::weak_ptr<session> weak = weak_from_this();
  handle_request(view, shared_->svc, shared_->opts, [weak, shared = shared_, seq](http_response res) {
    // May run on any thread, possibly after stop(): post only while the
    // io_context is guaranteed to exist.
    std::shared_lock lock(shared->gate);
    if (shared->stopped)
      return;
    if (auto self = weak.lock())
      net::post(self->stream_.get_executor(),
                [self, seq, res = std::move(res)]() mutable { self->on_response(seq, std::move(res)); });
  });
  // handle_request copied what it keeps: drop the request (the body may be
  // megabytes) instead of holding it while the service works and the
  // connection idles.
  parser_.reset();
}

void session::on_response(std::uint64_t seq, http_response res) {
  if (seq != seq_ || !awaiting_)
    return; // answered by the timeout already
  awaiting_ = false;
  handler_timer_.cancel();
  write(std::move(res), keep_alive_ ? after_write::keep_alive : after_write::close);
}

void session::on_handler_timeout(std::uint64_t seq) {
  if (seq != seq_ || !awaiting_)
    return;
  awaiting_ = false;
  count_response(shared_->svc.metrics(), 504);
  write(error_response(504, "the node did not answer in time"),
        keep_alive_ ? after_write::keep_alive : after_write::close);
}

void session::reject(http_response res, bool request_complete) {
  count_response(shared_->svc.metrics(), res.status);
  const bool keep = request_complete && parser_ && parser_->keep_alive();
  write(std::move(res), keep ? after_write::keep_alive : after_write::linger);
}

void session::write(http_response res, after_write then) {
  response_.emplace();
  auto& r = *response_;
  r.version(version_ == 10 ? 10 : 11);
  r.result(res.status);
  r.set(bhttp::field::server, "ferrocache");
  r.set(bhttp::field::content_type, res.content_type);
  for (auto& [name, value] : res.headers)
    r.set(name, value);
  r.body() = std::move(res.body);
  r.keep_alive(then == after_write::keep_alive);
  r.prepare_payload();
  stream_.expires_after(shared_->opts.write_timeout);
  bhttp::async_write(stream_, r, [self = shared_from_this(), then](beast::error_code ec, std::size_t) {
    self->on_write(then, ec);
  });
}

void session::on_write(after_write then, beast::error_code ec) {
  response_.reset();
  if (ec)
    return close();
  switch (then) {
    case after_write::keep_alive:
      return read_request();
    case after_write::close:
      return close();
    case after_write::linger:
      return linger();
  }
}

void session::linger() {
  // Stop sending but keep reading (and discarding) for a while: closing
  // with unread request bytes would make the kernel reset the connection,
  // and the client might never see the response.
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec)
    return close();
  drain_ = std::make_unique<std::array<char, 4096>>();
  stream_.expires_after(shared_->opts.linger_timeout);
  stream_.async_read_some(
      net::buffer(*drain_),
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_linger(ec); });
}

void session::on_linger(beast::error_code ec) {
  if (ec)
    return close();
  stream_.async_read_some(
      net::buffer(*drain_),
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_linger(ec); });
}

void session::close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  handler_timer_.cancel();
}

} // namespace ferro::http_detail
