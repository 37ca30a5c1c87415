#include "cluster/edges/peer_link.hpp"

#include "cluster/transport/frame_transport.hpp"

namespace ferro::cluster {

namespace {

class transport_link final : public peer_link {
public:
  explicit transport_link(transport::frame_transport& t) : t_(t) {}
  void connect(const std::string& address) override { t_.connect(address); }
  bool send(const std::string& node_id, std::string frame) override {
    return t_.send(node_id, std::move(frame));
  }
  void disconnect(const std::string& node_id) override { t_.disconnect(node_id); }

private:
  transport::frame_transport& t_;
};

} // namespace

std::unique_ptr<peer_link> make_transport_link(transport::frame_transport& transport) {
  return std::make_unique<transport_link>(transport);
}

} // namespace ferro::cluster
