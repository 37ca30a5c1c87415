#include "cluster/transport/connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <spdlog/spdlog.h>

#include "cluster/transport/address.hpp"
#include "cluster/transport/tls_setup.hpp"

namespace ferro::transport::detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t read_chunk_bytes = 64 * 1024;

std::string endpoint_text(const asio::ip::tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  return ec ? std::string("?") : format_address(ep.address().to_string(), ep.port());
}

void tune(asio::ip::tcp::socket& s) {
  error_code ignored;
  s.set_option(asio::ip::tcp::no_delay(true), ignored);
  s.set_option(asio::socket_base::keep_alive(true), ignored);
}

bool is_clean_eof(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
         ec == asio::error::connection_reset;
}

} // namespace

connection::connection(transport_core& core, bool outbound, tcp::socket socket, std::string remote)
    : core_(core), outbound_(outbound), stream_(std::move(socket), core.tls.get()),
      remote_(std::move(remote)), resolver_(core.io), deadline_(core.io), stall_timer_(core.io),
      decoder_(wire::max_hello_bytes), read_buf_(read_chunk_bytes) {
}

void connection::dial(transport_core& core, const std::string& address) {
  auto c = std::make_shared<connection>(core, true, tcp::socket(core.io), address);
  core.live.insert(c);
  c->dial_address_ = address;
  c->start_dial(address);
}

void connection::accept(transport_core& core, tcp::socket socket) {
  auto remote = endpoint_text(socket);
  tune(socket);
  auto c = std::make_shared<connection>(core, false, std::move(socket), std::move(remote));
  core.live.insert(c);
  ++core.pending_handshakes;
  c->start_accepted();
}

void connection::arm_deadline(std::chrono::milliseconds after, const char* what) {
  auto generation = ++deadline_generation_;
  deadline_.expires_after(after);
  deadline_.async_wait([self = shared_from_this(), generation, what, after](const error_code& ec) {
    if (ec || generation != self->deadline_generation_ || self->phase_ == phase::closed ||
        self->phase_ == phase::established)
      return;
    auto reason = std::string(what) + " timed out after " + std::to_string(after.count()) + " ms";
    if (self->refusing_)
      self->do_close("refusal not flushed: " + reason, false); // already counted and logged
    else if (self->outbound_)
      self->do_close(reason, true);
    else
      self->refuse("", reason, false);
  });
}

void connection::start_dial(const std::string& address) {
  arm_deadline(core_.opts.connect_timeout, "connect");
  auto hp = parse_address(address);
  if (!hp) {
    // Reported from the I/O thread like every other dial failure.
    asio::post(core_.io, [self = shared_from_this(), msg = hp.err().message] { self->do_close(msg, true); });
    return;
  }
  resolver_.async_resolve(hp->host, std::to_string(hp->port),
                          [self = shared_from_this()](const error_code& ec, tcp::resolver::results_type r) {
                            if (self->phase_ == phase::closed)
                              return;
                            if (ec) {
                              self->do_close("resolve failed: " + ec.message(), true);
                              return;
                            }
                            asio::async_connect(self->stream_.socket(), r,
                                                [self](const error_code& ec2, const tcp::endpoint&) {
                                                  if (self->phase_ == phase::closed)
                                                    return;
                                                  if (ec2) {
                                                    self->do_close("connect failed: " + ec2.message(), true);
                                                    return;
                                                  }
                                                  self->on_connected();
                                                });
                          });
}

void connection::on_connected() {
  tune(stream_.socket());
  remote_ = endpoint_text(stream_.socket());
  stream_.async_handshake(false, [self = shared_from_this()](const error_code& ec) {
    if (self->phase_ == phase::closed)
      return;
    if (ec) {
      self->core_.stats.protocol_errors.fetch_add(1);
      self->faulty_ = true;
      self->do_close("TLS handshake failed: " + ec.message(), true);
      return;
    }
    self->phase_ = phase::hello;
    self->arm_deadline(self->core_.opts.hello_timeout, "hello");
    self->send_control(wire::encode_hello({self->core_.opts.wire_version, self->core_.opts.incarnation,
                                           self->core_.opts.node_id, self->core_.advertise}));
    self->read_some();
  });
}

void connection::start_accepted() {
  arm_deadline(core_.opts.hello_timeout, "hello");
  stream_.async_handshake(true, [self = shared_from_this()](const error_code& ec) {
    if (self->phase_ == phase::closed)
      return;
    if (ec) {
      self->refuse("", "TLS handshake failed: " + ec.message(), false);
      return;
    }
    self->phase_ = phase::hello;
    self->read_some();
  });
}

void connection::read_some() {
  stream_.async_read_some(
      asio::buffer(read_buf_),
      [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void connection::on_read(const error_code& ec, std::size_t n) {
  if (phase_ == phase::closed)
    return;
  if (ec) {
    std::string reason;
    if (decoder_.mid_frame()) {
      core_.stats.protocol_errors.fetch_add(1);
      faulty_ = true;
      reason = "truncated frame (" + std::to_string(decoder_.declared_length()) +
               " bytes declared): " + ec.message();
    } else {
      reason = is_clean_eof(ec) ? "connection closed by peer" : "read failed: " + ec.message();
    }
    if (!outbound_ && phase_ != phase::established)
      refuse("", "before its hello: " + reason, false);
    else
      do_close(reason, true);
    return;
  }
  std::string_view in(read_buf_.data(), n);
  std::string frame;
  for (;;) {
    auto out = decoder_.next(in, frame);
    if (out == wire::frame_decoder::outcome::need_more)
      break;
    if (out == wire::frame_decoder::outcome::oversized) {
      auto declared = std::to_string(decoder_.declared_length());
      if (outbound_ && phase_ == phase::established) {
        core_.stats.protocol_errors.fetch_add(1);
        faulty_ = true;
        do_close("unexpected data from the accepting side", true);
      } else if (phase_ != phase::established) {
        core_.stats.protocol_errors.fetch_add(1);
        faulty_ = true;
        if (outbound_)
          do_close("hello reply declares " + declared + " bytes: not our protocol", true);
        else
          refuse("", "not a hello (first frame declares " + declared + " bytes)", false);
      } else {
        core_.stats.oversized_frames.fetch_add(1);
        faulty_ = true;
        do_close("frame declares " + declared + " bytes, above max_frame_bytes " +
                     std::to_string(core_.opts.max_frame_bytes) + "; refused before allocating",
                 true);
      }
      return;
    }
    handle_frame(std::move(frame));
    if (phase_ == phase::closed || refusing_)
      return; // a refused connection reads nothing more; its refusal is flushing
  }
  read_some();
}

void connection::handle_frame(std::string frame) {
  if (phase_ == phase::established) {
    if (outbound_) {
      core_.stats.protocol_errors.fetch_add(1);
      faulty_ = true;
      do_close("unexpected frame from the accepting side", true);
      return;
    }
    core_.stats.frames_in.fetch_add(1);
    core_.stats.bytes_in.fetch_add(frame.size());
    core_.notify_frame(peer_.node_id, std::move(frame));
    return;
  }
  if (outbound_)
    handle_hello_reply(frame);
  else
    handle_hello_inbound(frame);
}

void connection::handle_hello_inbound(const std::string& payload) {
  auto first = wire::decode_first_frame(payload);
  if (!first) {
    core_.stats.protocol_errors.fetch_add(1);
    faulty_ = true;
    refuse("", first.err().message, false);
    return;
  }
  if (!first->hi) {
    refuse("", "dialer sent a refusal instead of a hello", false);
    return;
  }
  const auto& h = *first->hi;
  const auto& o = core_.opts;
  if (h.wire_version != o.wire_version) {
    refuse(h.node_id,
           "wire version " + std::to_string(h.wire_version) + ", this node speaks " +
               std::to_string(o.wire_version),
           true);
    return;
  }
  if (h.node_id == o.node_id) {
    refuse(h.node_id, "node_id '" + h.node_id + "' is this node's own id", true);
    return;
  }
  if (stream_.is_tls() && o.tls.require_node_id_in_cert &&
      !tls::certificate_names(stream_.session(), h.node_id)) {
    refuse(h.node_id, "its certificate does not name node_id '" + h.node_id + "'", true);
    return;
  }
  if (auto it = core_.inbound.find(h.node_id); it != core_.inbound.end()) {
    auto& old = *it->second;
    if (old.peer_.address != h.advertise) {
      refuse(h.node_id,
             "node_id '" + h.node_id + "' is already connected from " + old.remote_ + " (advertising " +
                 old.peer_.address + ", incarnation " + std::to_string(old.peer_.incarnation) + ")",
             true);
      return;
    }
    // Same advertised address: the same node redialed (same incarnation) or
    // restarted (new one; two live processes cannot hold one listen address).
    // The new connection wins; the old one is stale.
    spdlog::info("{}: {} (incarnation {}) replaces its connection from {} (incarnation {})",
                 core_.self_name(), h.node_id, h.incarnation, old.remote_, old.peer_.incarnation);
    it->second->do_close("replaced by a new connection from " + remote_, true);
  }
  peer_ = {h.node_id, h.incarnation, h.advertise};
  phase_ = phase::established;
  ++deadline_generation_;
  deadline_.cancel();
  --core_.pending_handshakes;
  core_.inbound[h.node_id] = shared_from_this();
  core_.stats.peers_in.fetch_add(1);
  decoder_.set_limit(o.max_frame_bytes);
  send_control(wire::encode_hello({o.wire_version, o.incarnation, o.node_id, core_.advertise}));
  spdlog::info("{}: accepted {} (incarnation {}, advertising {}) from {}", core_.self_name(), h.node_id,
               h.incarnation, h.advertise, remote_);
}

void connection::handle_hello_reply(const std::string& payload) {
  auto first = wire::decode_first_frame(payload);
  const auto& o = core_.opts;
  auto fail = [&](const std::string& why) {
    core_.stats.protocol_errors.fetch_add(1);
    faulty_ = true;
    do_close(why, true);
  };
  if (!first)
    return fail("bad hello reply from " + remote_ + ": " + first.err().message);
  if (first->refused)
    return do_close("refused by " + remote_ + ": " + first->refused->reason, true);
  const auto& h = *first->hi;
  if (h.wire_version != o.wire_version)
    return fail("peer speaks wire version " + std::to_string(h.wire_version) + ", this node " +
                std::to_string(o.wire_version));
  if (h.node_id == o.node_id)
    return fail("dialed a node with this node's own id '" + h.node_id + "'");
  if (stream_.is_tls() && o.tls.require_node_id_in_cert &&
      !tls::certificate_names(stream_.session(), h.node_id))
    return fail("its certificate does not name node_id '" + h.node_id + "'");
  peer_ = {h.node_id, h.incarnation, h.advertise};
  phase_ = phase::established;
  ++deadline_generation_;
  deadline_.cancel();
  decoder_.set_limit(0); // the accepting side never sends frames after its hello
  std::shared_ptr<connection> replaced;
  {
    std::lock_guard lock(core_.mu);
    auto& slot = core_.outbound[h.node_id];
    replaced = std::move(slot);
    slot = shared_from_this();
  }
  if (replaced)
    replaced->do_close("replaced by a new connection to " + dial_address_, true);
  core_.stats.peers_up.fetch_add(1);
  spdlog::info("{}: connected to {} (incarnation {}) at {}", core_.self_name(), h.node_id, h.incarnation,
               remote_);
  core_.notify_up(peer_);
}

void connection::refuse(const std::string& claimed, const std::string& reason, bool tell_peer) {
  core_.stats.handshakes_refused.fetch_add(1);
  spdlog::warn("{} (advertising {}): refused {} from {}: {}", core_.self_name(), core_.advertise,
               claimed.empty() ? std::string("a connection") : "'" + claimed + "'", remote_, reason);
  if (!tell_peer) {
    do_close(reason, false);
    return;
  }
  // Tell the dialer why, then close; the hello deadline still bounds the flush.
  refusing_ = true;
  send_control(wire::encode_refusal(reason));
  std::lock_guard lock(core_.mu);
  close_after_flush_ = true;
  close_reason_ = reason;
}

void connection::send_control(std::string payload) {
  std::lock_guard lock(core_.mu);
  auto bytes = payload.size() + wire::header_bytes;
  queue_.push_back(std::move(payload));
  queued_bytes_ += bytes;
  ++control_pending_;
  core_.stats.queued_bytes.fetch_add(bytes);
  schedule_write_locked();
}

bool connection::enqueue_locked(std::string frame) {
  auto bytes = frame.size() + wire::header_bytes;
  if (!open_ || queued_bytes_ + bytes > core_.opts.max_queue_bytes_per_peer) {
    core_.stats.queue_drops.fetch_add(1);
    return false;
  }
  queue_.push_back(std::move(frame));
  queued_bytes_ += bytes;
  core_.stats.queued_bytes.fetch_add(bytes);
  schedule_write_locked();
  return true;
}

void connection::schedule_write_locked() {
  if (write_scheduled_)
    return;
  write_scheduled_ = true;
  asio::post(core_.io, [self = shared_from_this()] { self->write_next(); });
}

void connection::write_next() {
  if (phase_ == phase::closed)
    return;
  {
    std::lock_guard lock(core_.mu);
    if (queue_.empty()) {
      write_scheduled_ = false;
      return;
    }
    batch_.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    batch_control_frames_ = control_pending_;
    control_pending_ = 0;
  }
  headers_.clear();
  buffers_.clear();
  batch_bytes_ = 0;
  headers_.reserve(batch_.size());
  for (const auto& f : batch_) {
    headers_.push_back(wire::encode_header(static_cast<std::uint32_t>(f.size())));
    batch_bytes_ += f.size() + wire::header_bytes;
  }
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    buffers_.emplace_back(headers_[i].data(), headers_[i].size());
    if (!batch_[i].empty())
      buffers_.emplace_back(batch_[i].data(), batch_[i].size());
  }
  writing_ = true;
  last_progress_ = std::chrono::steady_clock::now();
  arm_stall_timer();
  stream_.async_write(
      buffers_, [self = shared_from_this()] { self->last_progress_ = std::chrono::steady_clock::now(); },
      [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_written(ec); });
}

void connection::on_written(const error_code& ec) {
  writing_ = false;
  if (phase_ == phase::closed)
    return;
  if (ec) {
    do_close("write failed: " + ec.message(), true);
    return;
  }
  auto data_frames = batch_.size() - batch_control_frames_;
  std::size_t data_bytes = batch_bytes_ - batch_.size() * wire::header_bytes;
  for (std::size_t i = 0; i < batch_control_frames_; ++i)
    data_bytes -= batch_[i].size();
  core_.stats.frames_out.fetch_add(data_frames);
  core_.stats.bytes_out.fetch_add(data_bytes);
  core_.stats.queued_bytes.fetch_sub(batch_bytes_);
  batch_.clear();
  bool close_now = false;
  std::string reason;
  {
    std::lock_guard lock(core_.mu);
    queued_bytes_ -= batch_bytes_;
    batch_bytes_ = 0;
    close_now = close_after_flush_ && queue_.empty();
    reason = close_reason_;
  }
  if (close_now) {
    do_close(reason, false);
    return;
  }
  write_next();
}

void connection::arm_stall_timer() {
  auto limit = core_.opts.write_stall_timeout;
  if (stall_armed_ || limit.count() <= 0)
    return;
  stall_armed_ = true;
  stall_timer_.expires_at(last_progress_ + limit);
  stall_timer_.async_wait([self = shared_from_this(), limit](const error_code& ec) {
    self->stall_armed_ = false;
    if (ec || self->phase_ == phase::closed || !self->writing_)
      return;
    if (std::chrono::steady_clock::now() - self->last_progress_ >= limit) {
      self->do_close("write stalled: no progress for " + std::to_string(limit.count()) + " ms", true);
      return;
    }
    self->arm_stall_timer();
  });
}

void connection::close(const std::string& reason) {
  do_close(reason, true);
}

void connection::close_silently() {
  do_close("transport stopped", false);
}

void connection::do_close(const std::string& reason, bool notify) {
  if (phase_ == phase::closed)
    return;
  const bool was_established = phase_ == phase::established;
  phase_ = phase::closed;
  auto self = shared_from_this(); // the maps below may hold the last reference
  error_code ignored;
  deadline_.cancel(ignored);
  stall_timer_.cancel(ignored);
  resolver_.cancel();
  stream_.close();
  {
    std::lock_guard lock(core_.mu);
    open_ = false;
    core_.stats.queued_bytes.fetch_sub(queued_bytes_ - batch_bytes_);
    queue_.clear();
    queued_bytes_ = batch_bytes_; // the in-flight batch is released by its completion
    if (outbound_) {
      core_.dialing.erase(dial_address_);
      if (auto it = core_.outbound.find(peer_.node_id); it != core_.outbound.end() && it->second == self)
        core_.outbound.erase(it);
    }
  }
  if (writing_) {
    // The aborted write's completion sees phase closed; release its bytes now.
    core_.stats.queued_bytes.fetch_sub(batch_bytes_);
    batch_bytes_ = 0;
  }
  core_.live.erase(self);
  if (!outbound_) {
    if (was_established) {
      if (auto it = core_.inbound.find(peer_.node_id); it != core_.inbound.end() && it->second == self)
        core_.inbound.erase(it);
      core_.stats.peers_in.fetch_sub(1);
    } else {
      --core_.pending_handshakes;
    }
  } else if (was_established) {
    core_.stats.peers_up.fetch_sub(1);
  } else {
    core_.stats.dials_failed.fetch_add(1);
  }
  if (outbound_ || was_established)
    spdlog::log(faulty_ ? spdlog::level::warn : spdlog::level::info, "{}: {} {} ({}) down: {}",
                core_.self_name(), outbound_ ? "outgoing to" : "incoming from",
                peer_.node_id.empty() ? dial_address_ : peer_.node_id, remote_, reason);
  if (!notify)
    return;
  if (outbound_)
    core_.notify_down(peer_.node_id, dial_address_, reason);
  else if (was_established)
    core_.notify_down(peer_.node_id, peer_.address, reason);
}

} // namespace ferro::transport::detail
