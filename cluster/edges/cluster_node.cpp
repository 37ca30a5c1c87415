#include "cluster/edges/cluster_node.hpp"

#include <mutex>
#include <random>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "cluster/edges/cluster_actor.hpp"
#include "cluster/edges/peer_codec.hpp"
#include "cluster/edges/peer_reads.hpp"
#include "cluster/edges/read_forwarder.hpp"

namespace ferro::cluster {

/// The transport's handlers run on its own thread and may fire before the
/// actor exists (a peer dials early): they post through this holder.
struct cluster_node::target_holder {
  std::mutex mtx;
  caf::actor actor;

  template <class... Ts>
  void post(Ts&&... xs) {
    caf::actor target;
    {
      std::lock_guard lock{mtx};
      target = actor;
    }
    if (target)
      caf::anon_send(target, std::forward<Ts>(xs)...);
  }
};

namespace {

template <class T>
std::function<void(reply_msg)> deliver(cache_service::callback<T> done, T reply_msg::*field) {
  return [done = std::move(done), field](reply_msg r) {
    if (!r.ok())
      done(r.err());
    else
      done(std::move(r.*field));
  };
}

} // namespace

result<std::unique_ptr<cluster_node>> cluster_node::create(cluster_settings settings,
                                                           caf::actor_system& sys) {
  std::unique_ptr<cluster_node> out{new cluster_node};
  out->sys_ = &sys;
  out->board_ = std::make_shared<cluster_board>();
  out->target_ = std::make_shared<target_holder>();
  out->reads_ = std::make_shared<peer_reads>(sys, out->board_);
  // A read is short: a peer that does not answer one within 2 s is paused
  // or cut off, and the actor's route (which moves on once it is
  // convicted) is the better bet.
  out->forwarder_ =
      std::make_shared<read_forwarder>(sys, out->board_, settings.node_id,
                                       std::min(settings.request_timeout, std::chrono::milliseconds{2000}));
  auto opts = settings.transport;
  opts.node_id = settings.node_id;
  opts.advertise = settings.advertise;
  opts.incarnation = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
  settings.transport.incarnation = opts.incarnation;
  settings.seed = opts.incarnation;
  transport::transport_handlers handlers;
  auto target = out->target_;
  handlers.on_peer_up = [target](const transport::peer_info& p) {
    target->post(peer_up_atom::value, p.node_id, p.incarnation, p.address);
  };
  // Frames are decoded here, on the transport's thread: a forwarded query
  // this node serves is answered at once (peer_reads); the rest go to the
  // actor already decoded, in the order they arrived.
  auto reads = out->reads_;
  auto* sys_ptr = &sys;
  auto forwarder = out->forwarder_;
  handlers.on_frame = [target, reads, forwarder, sys_ptr](const std::string& from, std::string frame) {
    auto msg = decode_peer_message(*sys_ptr, frame);
    if (!msg) {
      target->post(frame_atom::value, from, std::move(frame)); // the actor logs the refusal
      return;
    }
    if (forwarder->try_complete(msg.value()) || reads->try_answer(from, msg.value()))
      return;
    target->post(peer_frame{from, std::move(msg.value())});
  };
  handlers.on_peer_down = [target, forwarder](const std::string& id, const std::string& address,
                                              const std::string& why) {
    if (!id.empty()) {
      spdlog::debug("cluster: connection to {} ({}) down: {}", id, address, why);
      forwarder->peer_down(id);
    }
    target->post(peer_down_atom::value, id, address);
  };
  auto link = transport::frame_transport::start(opts, std::move(handlers));
  if (!link)
    return link.err();
  out->transport_ = std::move(link.value());
  out->link_ = make_transport_link(*out->transport_);
  out->reads_->set_link(out->link_.get());
  auto* node_ptr = out.get();
  auto* transport_ptr = out->transport_.get();
  out->forwarder_->wire(
      out->link_.get(),
      [transport_ptr](std::chrono::milliseconds delay, std::function<void()> fn) {
        transport_ptr->after(delay, std::move(fn));
      },
      [node_ptr](call_msg call, read_forwarder::reply_fn done) {
        node_ptr->route(std::move(call), std::move(done));
      });
  out->actor_ = spawn_cluster_actor(sys, std::move(settings), out->link_.get(), out->board_);
  {
    std::lock_guard lock{out->target_->mtx};
    out->target_->actor = out->actor_;
  }
  return out;
}

cluster_node::~cluster_node() {
  stop();
}

void cluster_node::configure(node_settings& settings) const {
  settings.ns.replicator = caf::actor_cast<replicator_actor>(actor_);
  settings.ns.initial_role = namespace_role::replica;
}

void cluster_node::attach(node& local) {
  local_ = &local;
  reads_->attach(&local);
}

void cluster_node::start() {
  caf::anon_send(actor_, start_atom::value, cluster_start{local_});
}

void cluster_node::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  {
    std::lock_guard lock{target_->mtx};
    target_->actor = nullptr;
  }
  reads_->detach();
  if (actor_)
    caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
  actor_ = nullptr;
  if (transport_)
    transport_->stop();
}

void cluster_node::route(call_msg call, std::function<void(reply_msg)> done) {
  caf::anon_send(actor_, route_atom::value, routed_call{std::move(call), std::move(done)});
}

void cluster_node::insert(insert_request req, callback<insert_reply> done) {
  if (req.local) {
    local_->insert(std::move(req), std::move(done));
    return;
  }
  call_msg c;
  c.op = call_op::insert;
  c.ins = std::move(req);
  route(std::move(c), deliver(std::move(done), &reply_msg::ins_reply));
}

void cluster_node::query(query_request req, callback<query_reply> done) {
  // An in-sync copy here answers on this thread, without a hop.
  if (req.local || board_->servable(req.ns)) {
    local_->query(std::move(req), std::move(done));
    return;
  }
  // A copy here that does not serve is behind: its leader catches it up
  // now rather than at its next round (read repair).
  if (local_->settings().read_repair_enabled && board_->behind(req.ns))
    caf::anon_send(actor_, repair_atom::value, req.ns);
  call_msg c;
  c.op = call_op::query;
  c.qry = std::move(req);
  forwarder_->forward(std::move(c), deliver(std::move(done), &reply_msg::qry_reply));
}

void cluster_node::remove(delete_request req, callback<delete_reply> done) {
  if (req.local) {
    local_->remove(std::move(req), std::move(done));
    return;
  }
  call_msg c;
  c.op = call_op::remove;
  c.text = req.uuid;
  route(std::move(c), [done = std::move(done)](reply_msg r) {
    if (!r.ok())
      done(r.err());
    else
      done(delete_reply{r.deleted});
  });
}

void cluster_node::invalidate(invalidate_request req, callback<invalidate_reply> done) {
  if (req.local) {
    local_->invalidate(std::move(req), std::move(done));
    return;
  }
  call_msg c;
  c.op = call_op::invalidate;
  c.inv = std::move(req);
  route(std::move(c), deliver(std::move(done), &reply_msg::inv_reply));
}

void cluster_node::feedback(feedback_request req, callback<feedback_reply> done) {
  if (req.local) {
    local_->feedback(std::move(req), std::move(done));
    return;
  }
  call_msg c;
  c.op = call_op::feedback;
  c.fb = std::move(req);
  route(std::move(c), [done = std::move(done)](reply_msg r) {
    if (!r.ok())
      done(r.err());
    else
      done(feedback_reply{});
  });
}

void cluster_node::compact(callback<compact_reply> done) {
  local_->compact(std::move(done));
}

void cluster_node::entry_stats(callback<entry_stats_reply> done) {
  local_->entry_stats(std::move(done));
}

void cluster_node::stats(callback<stats_reply> done) {
  local_->stats(std::move(done));
}

health_reply cluster_node::health() {
  return local_->health();
}

cluster_status_reply cluster_node::cluster_status() {
  auto out = board_->status();
  out.read_repair_enabled = local_->settings().read_repair_enabled;
  if (transport_) {
    auto t = transport_->stats();
    out.transport = {t.frames_in,          t.frames_out,   t.connections_accepted,
                     t.handshakes_refused, t.dials_failed, t.oversized_frames,
                     t.protocol_errors,    t.queue_drops,  t.queued_bytes,
                     t.peers_up,           t.peers_in};
  }
  if (out.mode.empty()) { // the actor has not published yet
    out.mode = "clustered";
    out.self_node_id = local_->settings().node_id;
    out.nodes = {out.self_node_id};
    out.replication_factor = local_->settings().replication_factor;
  }
  return out;
}

node_metrics& cluster_node::metrics() {
  return local_->metrics();
}

} // namespace ferro::cluster
