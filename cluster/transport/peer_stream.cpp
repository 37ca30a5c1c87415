#include "cluster/transport/peer_stream.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace ferro::transport {

namespace asio = boost::asio;

peer_stream::peer_stream(tcp::socket socket, asio::ssl::context* tls) : plain_(socket.get_executor()) {
  if (tls)
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket), *tls);
  else
    plain_ = std::move(socket);
}

void peer_stream::async_handshake(bool as_server, std::function<void(error_code)> done) {
  if (!tls_) {
    asio::post(plain_.get_executor(), [done = std::move(done)] { done({}); });
    return;
  }
  tls_->async_handshake(as_server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                        std::move(done));
}

void peer_stream::async_read_some(asio::mutable_buffer into,
                                  std::function<void(error_code, std::size_t)> done) {
  if (tls_)
    tls_->async_read_some(into, std::move(done));
  else
    plain_.async_read_some(into, std::move(done));
}

void peer_stream::async_write(const std::vector<asio::const_buffer>& buffers, std::function<void()> progress,
                              std::function<void(error_code, std::size_t)> done) {
  auto condition = [progress = std::move(progress)](const error_code& ec, std::size_t) -> std::size_t {
    progress();
    return ec ? 0 : std::size_t{65536};
  };
  if (tls_)
    asio::async_write(*tls_, buffers, std::move(condition), std::move(done));
  else
    asio::async_write(plain_, buffers, std::move(condition), std::move(done));
}

void peer_stream::close() {
  error_code ignored;
  socket().shutdown(tcp::socket::shutdown_both, ignored);
  socket().close(ignored);
}

} // namespace ferro::transport
