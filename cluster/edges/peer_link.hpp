#pragma once

#include <memory>
#include <string>

namespace ferro::transport {
class frame_transport;
}

namespace ferro::cluster {

/// The one seam peer traffic goes through, as the cluster actor sees it:
/// outgoing frames and dials. Incoming traffic arrives as messages to the
/// actor (frame_atom, peer_up_atom, peer_down_atom), whoever produces them.
/// In production a `frame_transport` (TCP, optionally mutual TLS) sits
/// behind it; a simulator can put a simulated network there instead.
/// Every function is thread-safe.
class peer_link {
public:
  virtual ~peer_link() = default;
  /// Dial `address` (host:port); success is reported as peer_up.
  virtual void connect(const std::string& address) = 0;
  /// Queue a frame for the peer; false when it cannot be sent now.
  virtual bool send(const std::string& node_id, std::string frame) = 0;
  virtual void disconnect(const std::string& node_id) = 0;
};

/// The production link: a started frame_transport (which must outlive it).
std::unique_ptr<peer_link> make_transport_link(transport::frame_transport& transport);

} // namespace ferro::cluster
