#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cluster/transport/peer_stream.hpp"
#include "cluster/transport/transport_core.hpp"
#include "cluster/transport/wire.hpp"

/// One TCP (or TLS) connection to a peer, in one direction: accepted
/// connections carry frames in, dialed ones carry frames out (internal).
namespace ferro::transport::detail {

class connection : public std::enable_shared_from_this<connection> {
public:
  using tcp = boost::asio::ip::tcp;

  /// Starts a dial of `address` (host:port). Call on the I/O thread, after
  /// the address was entered in core.dialing.
  static void dial(transport_core& core, const std::string& address);
  /// Takes over an accepted socket and waits for its hello. I/O thread.
  static void accept(transport_core& core, tcp::socket socket);

  connection(transport_core& core, bool outbound, tcp::socket socket, std::string remote);

  /// Queues a frame; the caller holds core.mu. False when the queue would
  /// exceed max_queue_bytes_per_peer.
  bool enqueue_locked(std::string frame);
  /// Closes the connection and tells the handler (if the peer was known or
  /// it was a dial). I/O thread; idempotent.
  void close(const std::string& reason);
  /// Closes without calling any handler (stop). I/O thread.
  void close_silently();

  const peer_info& peer() const { return peer_; }

private:
  enum class phase { connecting, hello, established, closed };

  void start_dial(const std::string& address);
  void on_connected();
  void start_accepted();
  void arm_deadline(std::chrono::milliseconds after, const char* what);
  void read_some();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  void handle_frame(std::string frame);
  void handle_hello_inbound(const std::string& payload);
  void handle_hello_reply(const std::string& payload);
  void refuse(const std::string& claimed, const std::string& reason, bool tell_peer);
  void send_control(std::string payload);
  void schedule_write_locked();
  void write_next();
  void on_written(const boost::system::error_code& ec);
  void arm_stall_timer();
  void do_close(const std::string& reason, bool notify);

  transport_core& core_;
  const bool outbound_;
  peer_stream stream_;
  std::string remote_;       ///< endpoint text for logs
  std::string dial_address_; ///< outbound: what connect() was given
  peer_info peer_;           ///< after the hello
  phase phase_ = phase::connecting;
  unsigned deadline_generation_ = 0;
  bool faulty_ = false;   ///< closed for a protocol error: logged as a warning
  bool refusing_ = false; ///< a refusal is being flushed; nothing more is read

  tcp::resolver resolver_;
  boost::asio::steady_timer deadline_;
  boost::asio::steady_timer stall_timer_;
  bool stall_armed_ = false;
  std::chrono::steady_clock::time_point last_progress_;

  wire::frame_decoder decoder_;
  std::vector<char> read_buf_;

  // Under core.mu: frames waiting, bytes waiting or in flight.
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool write_scheduled_ = false;
  bool open_ = true; ///< false once closed: enqueue refuses
  bool close_after_flush_ = false;
  std::string close_reason_;

  // I/O thread: the batch being written.
  bool writing_ = false;
  std::vector<std::string> batch_;
  std::size_t batch_bytes_ = 0;
  std::size_t batch_control_frames_ = 0;
  std::size_t control_pending_ = 0; ///< (mu) control frames in queue_
  std::vector<std::array<char, wire::header_bytes>> headers_;
  std::vector<boost::asio::const_buffer> buffers_;
};

} // namespace ferro::transport::detail
