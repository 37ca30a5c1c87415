#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cluster/transport/transport_types.hpp"
#include "common/status.hpp"

/// The one seam all peer traffic goes through: length-prefixed frames over
/// TCP, optionally mutual TLS, on one Asio thread of its own. Each node
/// sends only on connections it dialed and receives only on connections it
/// accepted, so two nodes never race to build the same connection.
/// README.md in this folder documents the protocol and every bound.
namespace ferro::transport {

namespace detail {
struct transport_core;
}

class frame_transport {
public:
  /// Checks the options, loads the TLS files, binds and listens, and starts
  /// the I/O thread. Fails with bad_request (bad option; a TLS file that is
  /// missing, unreadable or invalid, named in the message) or unavailable
  /// (the address cannot be bound, e.g. the port is busy).
  static result<std::unique_ptr<frame_transport>> start(transport_options opts, transport_handlers handlers);

  ~frame_transport();
  frame_transport(const frame_transport&) = delete;
  frame_transport& operator=(const frame_transport&) = delete;

  /// Dials `address` (host:port) in the background: resolve, connect and TLS
  /// within connect_timeout, then the hello exchange within hello_timeout.
  /// Success calls on_peer_up; failure calls on_peer_down with an empty
  /// node_id. A no-op while a dial to the same address is in progress or
  /// established. There is no automatic redial: retrying (and its backoff)
  /// is the caller's decision. Thread-safe.
  void connect(const std::string& address);

  /// Queues `frame` for the established outgoing connection to `node_id`.
  /// False when there is none, when the frame exceeds max_frame_bytes, or
  /// when the peer's queued bytes would exceed max_queue_bytes_per_peer (a
  /// peer that stops reading costs at most that much memory). Frames to one
  /// peer arrive in the order they were accepted here. Thread-safe.
  bool send(const std::string& node_id, std::string frame);

  /// Closes both directions to `node_id` (on_peer_down follows for each
  /// connection that was up). Thread-safe.
  void disconnect(const std::string& node_id);

  /// Runs `fn` on the I/O thread after `delay` (a deadline for something
  /// sent through this transport); never once stop() began. Thread-safe.
  void after(std::chrono::milliseconds delay, std::function<void()> fn);

  /// Closes every connection and joins the I/O thread; no handler runs
  /// after it returns (none is told about the connections it closes).
  /// Idempotent; never call it from a handler.
  void stop();

  /// The bound listen port (the real one when options asked for 0).
  std::uint16_t port() const { return port_; }
  /// The address this node advertises in its hello.
  const std::string& advertise() const;
  transport_stats stats() const;

private:
  explicit frame_transport(std::unique_ptr<detail::transport_core> core);

  std::unique_ptr<detail::transport_core> core_;
  std::uint16_t port_ = 0;
  struct runner;
  std::unique_ptr<runner> runner_;
};

} // namespace ferro::transport
