#include "cluster/transport/frame_transport.hpp"

#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "cluster/transport/address.hpp"
#include "cluster/transport/connection.hpp"
#include "cluster/transport/tls_setup.hpp"
#include "cluster/transport/transport_core.hpp"
#include "cluster/transport/wire.hpp"

namespace ferro::transport {

namespace asio = boost::asio;
using boost::system::error_code;
using detail::connection;
using detail::transport_core;

namespace {

status check_options(const transport_options& o) {
  auto bad = [](std::string m) { return status(error{errc::bad_request, std::move(m)}); };
  if (o.node_id.empty() || o.node_id.size() > wire::max_name_bytes)
    return bad("transport node_id must be 1.." + std::to_string(wire::max_name_bytes) + " bytes");
  if (o.max_frame_bytes == 0 || o.max_frame_bytes > 0x7fffffffu)
    return bad("transport max_frame_bytes must be 1..2^31-1");
  if (o.max_queue_bytes_per_peer < o.max_frame_bytes + wire::header_bytes)
    return bad("transport max_queue_bytes_per_peer must hold one frame of max_frame_bytes");
  if (o.connect_timeout.count() <= 0 || o.hello_timeout.count() <= 0)
    return bad("transport connect_timeout and hello_timeout must be positive");
  if (o.max_pending_handshakes == 0)
    return bad("transport max_pending_handshakes must be positive");
  if (o.advertise.size() > wire::max_name_bytes)
    return bad("transport advertise address is too long");
  return {};
}

result<std::uint16_t> open_acceptor(transport_core& core) {
  const auto& o = core.opts;
  error_code ec;
  auto addr = asio::ip::make_address(o.bind_address, ec);
  if (ec)
    return error{errc::bad_request, "transport bind_address '" + o.bind_address + "': " + ec.message()};
  asio::ip::tcp::endpoint endpoint{addr, o.port};
  auto& a = core.acceptor.emplace(core.io);
  if (a.open(endpoint.protocol(), ec); ec)
    return error{errc::internal, "transport socket: " + ec.message()};
  a.set_option(asio::socket_base::reuse_address(true), ec);
  if (a.bind(endpoint, ec); ec)
    return error{errc::unavailable,
                 "transport bind " + format_address(o.bind_address, o.port) + ": " + ec.message()};
  if (a.listen(asio::socket_base::max_listen_connections, ec); ec)
    return error{errc::unavailable, "transport listen: " + ec.message()};
  auto local = a.local_endpoint(ec);
  if (ec)
    return error{errc::internal, "transport local endpoint: " + ec.message()};
  return local.port();
}

void accept_loop(transport_core& core) {
  core.acceptor->async_accept([&core](const error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || core.stopping.load())
      return;
    if (ec) {
      // Typically out of file descriptors: back off instead of spinning.
      spdlog::warn("{}: accept failed: {}", core.self_name(), ec.message());
      core.accept_retry->expires_after(std::chrono::milliseconds(50));
      core.accept_retry->async_wait([&core](const error_code& e) {
        if (!e)
          accept_loop(core);
      });
      return;
    }
    core.stats.connections_accepted.fetch_add(1);
    if (core.pending_handshakes >= core.opts.max_pending_handshakes) {
      core.stats.handshakes_refused.fetch_add(1);
      spdlog::warn("{}: {} connections are in their handshake; closing a new one at once", core.self_name(),
                   core.pending_handshakes);
      error_code ignored;
      socket.close(ignored);
    } else {
      connection::accept(core, std::move(socket));
    }
    accept_loop(core);
  });
}

} // namespace

struct frame_transport::runner {
  std::thread thread;
  bool stopped = false;
};

frame_transport::frame_transport(std::unique_ptr<transport_core> core)
    : core_(std::move(core)), runner_(std::make_unique<runner>()) {
}

frame_transport::~frame_transport() {
  stop();
}

result<std::unique_ptr<frame_transport>> frame_transport::start(transport_options opts,
                                                                transport_handlers handlers) {
  if (auto st = check_options(opts); !st)
    return st.err();
  auto core = std::make_unique<transport_core>(std::move(opts), std::move(handlers));
  if (core->opts.tls.enabled) {
    auto ctx = tls::make_context(core->opts.tls);
    if (!ctx)
      return ctx.err();
    core->tls = std::move(*ctx);
  }
  auto port = open_acceptor(*core);
  if (!port)
    return port.err();
  core->advertise =
      core->opts.advertise.empty() ? format_address(core->opts.bind_address, *port) : core->opts.advertise;
  core->accept_retry.emplace(core->io);
  std::unique_ptr<frame_transport> t(new frame_transport(std::move(core)));
  t->port_ = *port;
  auto& c = *t->core_;
  accept_loop(c);
  t->runner_->thread = std::thread([&c] {
    auto guard = asio::make_work_guard(c.io);
    for (;;) {
      try {
        c.io.run();
        return;
      } catch (const std::exception& e) {
        // A handler threw: log and keep serving the other connections.
        spdlog::error("{}: I/O thread caught: {}", c.self_name(), e.what());
      }
    }
  });
  spdlog::info("{}: listening on {} (advertising {}, {})", c.self_name(),
               format_address(c.opts.bind_address, t->port_), c.advertise,
               c.tls ? "mutual TLS" : "plain TCP");
  return t;
}

void frame_transport::connect(const std::string& address) {
  auto& c = *core_;
  {
    std::lock_guard lock(c.mu);
    if (c.stopping.load() || !c.dialing.insert(address).second)
      return;
  }
  asio::post(c.io, [&c, address] { connection::dial(c, address); });
}

bool frame_transport::send(const std::string& node_id, std::string frame) {
  auto& c = *core_;
  if (frame.size() > c.opts.max_frame_bytes)
    return false;
  std::lock_guard lock(c.mu);
  auto it = c.outbound.find(node_id);
  if (it == c.outbound.end() || c.stopping.load())
    return false;
  return it->second->enqueue_locked(std::move(frame));
}

void frame_transport::disconnect(const std::string& node_id) {
  auto& c = *core_;
  asio::post(c.io, [&c, node_id] {
    std::shared_ptr<connection> out;
    {
      std::lock_guard lock(c.mu);
      if (auto it = c.outbound.find(node_id); it != c.outbound.end())
        out = it->second;
    }
    if (out)
      out->close("disconnected by this node");
    if (auto it = c.inbound.find(node_id); it != c.inbound.end())
      it->second->close("disconnected by this node");
  });
}

void frame_transport::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto& c = *core_;
  auto timer = std::make_shared<asio::steady_timer>(c.io, delay);
  timer->async_wait([timer, &c, fn = std::move(fn)](const error_code& ec) {
    if (!ec && !c.stopping.load())
      fn();
  });
}

void frame_transport::stop() {
  if (!runner_ || runner_->stopped)
    return;
  runner_->stopped = true;
  auto& c = *core_;
  {
    std::lock_guard lock(c.mu);
    c.stopping.store(true);
  }
  asio::post(c.io, [&c] {
    error_code ignored;
    c.acceptor->close(ignored);
    c.accept_retry->cancel(ignored);
    auto live = c.live; // closing edits the set
    for (auto& conn : live)
      conn->close_silently();
    c.io.stop();
  });
  if (runner_->thread.joinable())
    runner_->thread.join();
  {
    std::lock_guard lock(c.mu);
    c.outbound.clear();
  }
  c.inbound.clear();
  c.live.clear();
  c.acceptor.reset();
  c.accept_retry.reset();
  spdlog::info("{}: stopped", c.self_name());
}

const std::string& frame_transport::advertise() const {
  return core_->advertise;
}

transport_stats frame_transport::stats() const {
  const auto& s = core_->stats;
  transport_stats r;
  r.frames_in = s.frames_in.load();
  r.bytes_in = s.bytes_in.load();
  r.frames_out = s.frames_out.load();
  r.bytes_out = s.bytes_out.load();
  r.connections_accepted = s.connections_accepted.load();
  r.handshakes_refused = s.handshakes_refused.load();
  r.dials_failed = s.dials_failed.load();
  r.oversized_frames = s.oversized_frames.load();
  r.protocol_errors = s.protocol_errors.load();
  r.queue_drops = s.queue_drops.load();
  r.queued_bytes = s.queued_bytes.load();
  r.peers_up = s.peers_up.load();
  r.peers_in = s.peers_in.load();
  return r;
}

} // namespace ferro::transport
