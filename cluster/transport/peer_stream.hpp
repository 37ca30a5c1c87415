#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

/// One connection's byte stream, plain TCP or TLS over TCP, behind one
/// interface so that the frame logic does not care which.
namespace ferro::transport {

class peer_stream {
public:
  using tcp = boost::asio::ip::tcp;
  using error_code = boost::system::error_code;

  /// `tls` null: plain TCP.
  peer_stream(tcp::socket socket, boost::asio::ssl::context* tls);

  bool is_tls() const { return tls_ != nullptr; }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  /// The TLS session, or null for plain TCP.
  SSL* session() { return tls_ ? tls_->native_handle() : nullptr; }

  /// TLS: the handshake (server side for accepted connections). Plain TCP:
  /// completes at once.
  void async_handshake(bool as_server, std::function<void(error_code)> done);
  void async_read_some(boost::asio::mutable_buffer into, std::function<void(error_code, std::size_t)> done);
  /// Writes all of `buffers` (which must outlive the call); `progress` is
  /// told each time bytes leave, so a stall can be told from a slow peer.
  void async_write(const std::vector<boost::asio::const_buffer>& buffers, std::function<void()> progress,
                   std::function<void(error_code, std::size_t)> done);
  /// Closes the socket: pending operations complete with operation_aborted.
  void close();

private:
  tcp::socket plain_;
  std::unique_ptr<boost::asio::ssl::stream<tcp::socket>> tls_;
};

} // namespace ferro::transport
