#pragma once

// Internal to http/: includes Beast, so only session.cpp and http_server.cpp
// include it.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/http_types.hpp"
#include "http/server_shared.hpp"

namespace ferro::http_detail {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

/// One client connection. Every member runs on the connection's strand; the
/// object lives as long as an operation (or the handler timer) refers to it.
class session : public std::enable_shared_from_this<session> {
public:
  /// `counted`: the session holds one of the `connections` slots (false for
  /// a session that only answers 503 and closes).
  session(tcp::socket&& socket, std::shared_ptr<server_shared> shared, bool counted);
  ~session();

  /// Serves requests until the client leaves, a timeout, or an error.
  void run();
  /// Answers 503 (too many connections) and closes.
  void reject_overloaded();

private:
  enum class after_write { keep_alive, close, linger };

  void read_request();
  void on_first_bytes(beast::error_code ec, std::size_t n);
  void read_header();
  void on_header(beast::error_code ec);
  void send_continue();
  void read_body();
  void on_body(beast::error_code ec);
  void dispatch_request();
  void on_response(std::uint64_t seq, http_response res);
  void on_handler_timeout(std::uint64_t seq);
  /// Answers without (fully) reading the request: counted here, and the
  /// connection is closed unless nothing of the request is left unread.
  void reject(http_response res, bool request_complete);
  void write(http_response res, after_write then);
  void on_write(after_write then, beast::error_code ec);
  void linger();
  void on_linger(beast::error_code ec);
  void close();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  net::steady_timer handler_timer_;
  std::shared_ptr<server_shared> shared_;
  const bool counted_;

  std::uint64_t seq_ = 0;                         ///< id of the request being served
  bool awaiting_ = false;                         ///< the service has not answered it yet
  bool keep_alive_ = false;                       ///< of the request being served
  unsigned version_ = 11;                         ///< HTTP version of that request
  std::unique_ptr<std::array<char, 4096>> drain_; ///< only while lingering
};

} // namespace ferro::http_detail
