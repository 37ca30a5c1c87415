#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "common/defaults.hpp"

/// Options, callbacks and counters of the peer transport (README.md in this
/// folder describes the protocol and every bound).
namespace ferro::transport {

/// Mutual TLS. When enabled both sides present a certificate signed by the CA
/// in `ca_cert_path`, and each side checks that the peer's certificate names
/// the node_id its hello claims.
struct tls_options {
  bool enabled = false;
  std::string ca_cert_path; ///< PEM: the cluster CA, the only trust anchor
  std::string cert_path;    ///< PEM: this node's certificate (chain)
  std::string key_path;     ///< PEM: this node's private key
  /// The peer certificate's SAN (DNS or IP) or CN must equal the node_id of
  /// its hello; stops one node's key from speaking for another node.
  bool require_node_id_in_cert = true;
};

struct transport_options {
  std::string node_id;           ///< this node's stable member id (1..255 bytes)
  std::uint64_t incarnation = 0; ///< random per process start
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 0; ///< 0: any free port, see frame_transport::port()
  std::string advertise;  ///< host:port peers should dial; empty: bind_address:port()
  std::uint32_t wire_version = defaults::transport_wire_version;
  std::size_t max_frame_bytes = defaults::transport_max_frame_bytes;
  std::size_t max_queue_bytes_per_peer = defaults::transport_max_queue_bytes_per_peer;
  std::chrono::milliseconds connect_timeout{defaults::transport_connect_timeout_ms};
  std::chrono::milliseconds hello_timeout{defaults::transport_hello_timeout_ms};
  std::chrono::milliseconds write_stall_timeout{defaults::transport_write_stall_timeout_ms};
  std::size_t max_pending_handshakes = defaults::transport_max_pending_handshakes;
  tls_options tls;
};

/// A peer as its hello introduced it.
struct peer_info {
  std::string node_id;
  std::uint64_t incarnation = 0;
  std::string address; ///< the address it advertises (host:port)
};

/// Called on the transport's own thread; keep them cheap (post and return).
/// Never call frame_transport::stop from inside one.
struct transport_handlers {
  /// An outgoing connection finished its handshake: send() to this node works.
  std::function<void(const peer_info&)> on_peer_up;
  /// A frame arrived on an accepted connection (after its hello).
  std::function<void(const std::string& node_id, std::string frame)> on_frame;
  /// A connection was lost, in either direction, or a dial failed. node_id is
  /// empty when a dial failed before the peer said who it is; address is the
  /// dialed address (outgoing) or the advertised one (incoming).
  std::function<void(const std::string& node_id, const std::string& address, const std::string& reason)>
      on_peer_down;
};

/// Counters since start; a snapshot (each field read atomically on its own).
struct transport_stats {
  std::uint64_t frames_in = 0;
  std::uint64_t bytes_in = 0; ///< payload bytes of frames_in
  std::uint64_t frames_out = 0;
  std::uint64_t bytes_out = 0; ///< payload bytes of frames_out (written to the socket)
  std::uint64_t connections_accepted = 0;
  std::uint64_t handshakes_refused = 0; ///< incoming hellos this node refused (bad, wrong, duplicate, late)
  std::uint64_t dials_failed = 0;     ///< outgoing connections that never came up (incl. refused by the peer)
  std::uint64_t oversized_frames = 0; ///< declared lengths above the limit (refused before allocating)
  std::uint64_t protocol_errors = 0;  ///< garbage, truncated frames, TLS failures
  std::uint64_t queue_drops = 0;      ///< send() calls refused because the peer's queue was full
  std::uint64_t queued_bytes = 0;     ///< bytes now queued or in flight, all peers
  std::uint64_t peers_up = 0;         ///< outgoing connections now established
  std::uint64_t peers_in = 0;         ///< incoming connections now past their hello
};

} // namespace ferro::transport
