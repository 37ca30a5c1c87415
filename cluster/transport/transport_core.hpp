#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "cluster/transport/transport_types.hpp"

/// State shared by frame_transport and its connections (internal).
namespace ferro::transport::detail {

class connection;

struct counters {
  std::atomic<std::uint64_t> frames_in{0}, bytes_in{0}, frames_out{0}, bytes_out{0};
  std::atomic<std::uint64_t> connections_accepted{0}, handshakes_refused{0}, dials_failed{0};
  std::atomic<std::uint64_t> oversized_frames{0}, protocol_errors{0}, queue_drops{0};
  std::atomic<std::uint64_t> queued_bytes{0}, peers_up{0}, peers_in{0};
};

/// Fields marked (io) are only touched on the I/O thread; (mu) only under `mu`.
struct transport_core {
  transport_core(transport_options o, transport_handlers h) : opts(std::move(o)), handlers(std::move(h)) {}

  const transport_options opts;
  const transport_handlers handlers;
  std::string advertise;                                  ///< set once by start
  std::shared_ptr<boost::asio::ssl::context> tls;         ///< null: plain TCP
  boost::asio::io_context io{1};                          ///< run by one thread
  std::optional<boost::asio::ip::tcp::acceptor> acceptor; ///< (io)
  std::optional<boost::asio::steady_timer> accept_retry;  ///< (io)
  counters stats;
  std::atomic<bool> stopping{false}; ///< set by stop: no handler runs afterwards

  std::mutex mu;
  std::unordered_map<std::string, std::shared_ptr<connection>>
      outbound;                            ///< (mu) node_id -> dialed, established
  std::unordered_set<std::string> dialing; ///< (mu) addresses with a dial in progress or established

  std::unordered_map<std::string, std::shared_ptr<connection>>
      inbound;                                          ///< (io) node_id -> accepted, past hello
  std::unordered_set<std::shared_ptr<connection>> live; ///< (io) every open connection
  std::size_t pending_handshakes = 0;                   ///< (io) accepted, hello not yet done

  /// "transport[node_id]" for log lines.
  std::string self_name() const { return "transport[" + opts.node_id + "]"; }

  void notify_up(const peer_info& p) const {
    if (!stopping.load() && handlers.on_peer_up)
      guarded("on_peer_up", [&] { handlers.on_peer_up(p); });
  }
  void notify_down(const std::string& node_id, const std::string& address, const std::string& reason) const {
    if (!stopping.load() && handlers.on_peer_down)
      guarded("on_peer_down", [&] { handlers.on_peer_down(node_id, address, reason); });
  }
  void notify_frame(const std::string& node_id, std::string frame) const {
    if (!stopping.load() && handlers.on_frame)
      guarded("on_frame", [&] { handlers.on_frame(node_id, std::move(frame)); });
  }

private:
  /// A throwing handler must not leave a connection half-updated: log it and
  /// carry on as if it had returned.
  template <class F>
  void guarded(const char* which, F&& f) const {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("{}: {} threw: {}", self_name(), which, e.what());
    } catch (...) {
      spdlog::error("{}: {} threw", self_name(), which);
    }
  }
};

} // namespace ferro::transport::detail
