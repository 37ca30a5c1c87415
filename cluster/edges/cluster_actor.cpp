#include "cluster/edges/cluster_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "cluster/edges/cluster_state.hpp"
#include "cluster/edges/peer_codec.hpp"

namespace ferro::cluster {

std::int64_t now_ms(cluster_pointer self) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(self->clock().now().time_since_epoch())
      .count();
}

const std::string& self_id(cluster_pointer self) {
  return self->state.settings.node_id;
}

namespace {

void dispatch_frame(cluster_pointer self, const std::string& from, const caf::message& m) {
  if (m.match_elements<heartbeat_msg>()) {
    on_heartbeat(self, m.get_as<heartbeat_msg>(0));
  } else if (m.match_elements<call_msg>()) {
    auto call = m.get_as<call_msg>(0);
    call.from = from; // the transport authenticated the sender; the field does not
    on_call(self, std::move(call));
  } else if (m.match_elements<reply_msg>()) {
    on_reply(self, m.get_as<reply_msg>(0));
  } else {
    spdlog::warn("cluster: frame from {} holds no peer message", from);
  }
}

void on_frame(cluster_pointer self, const std::string& from, const std::string& frame) {
  auto msg = decode_peer_message(self->system(), frame);
  if (!msg) {
    spdlog::warn("cluster: frame from {} refused: {}", from, msg.err().message);
    return;
  }
  dispatch_frame(self, from, msg.value());
}

void begin(cluster_pointer self, node* local) {
  auto& st = self->state;
  if (st.local)
    return;
  st.local = local;
  st.started_ms = now_ms(self);
  for (const auto& s : st.settings.seeds)
    if (!s.empty() && s != st.settings.advertise)
      st.seed_addresses.insert(s);
  phi_settings phi;
  phi.first_heartbeat_estimate_ms = st.settings.heartbeat_interval.count();
  // A floor of one interval: on a loaded machine heartbeats jitter by about
  // that much, and a false conviction costs an election.
  phi.min_stddev_ms = std::max<double>(50.0, static_cast<double>(st.settings.heartbeat_interval.count()));
  st.phi = phi_detector{phi};
  // What this node promised before a crash or restart still binds it.
  if (!load_election_state(self))
    begin_recall(self);
  // Copies recovered from disk: their epochs are where elections start.
  for (const auto& key : local->local_namespaces()) {
    auto& sp = space(self, key);
    sp.holds_copy = true;
    if (auto actor = local->namespace_for(key))
      self->request(actor, st.settings.request_timeout, position_atom::value)
          .then(
              [self, key](const ns_position& pos) {
                auto& sp = space(self, key);
                sp.epoch = std::max(sp.epoch, pos.epoch);
              },
              [](caf::error&) {});
  }
  publish_board(self);
  self->send(self, tick_atom::value);
}

caf::behavior cluster_behavior(cluster_pointer self, cluster_settings settings, peer_link* link,
                               std::shared_ptr<cluster_board> board) {
  // A bug here must be loud: this actor is the node's whole cluster side.
  self->set_exception_handler([self](std::exception_ptr& eptr) -> caf::error {
    try {
      std::rethrow_exception(eptr);
    } catch (const std::exception& e) {
      spdlog::critical("cluster: {} stops on an exception: {}", self->state.settings.node_id, e.what());
    } catch (...) {
      spdlog::critical("cluster: {} stops on an unknown exception", self->state.settings.node_id);
    }
    return caf::exit_reason::unhandled_exception;
  });
  auto& st = self->state;
  st.settings = std::move(settings);
  st.jitter.seed(static_cast<std::uint_fast32_t>(st.settings.seed | 1));
  st.link = link;
  st.board = std::move(board);
  // Until the node has started, peers' frames are dropped (they retry)
  // and primaries cannot exist yet.
  auto started = [self] { return self->state.local != nullptr; };
  // Every message ends by showing the I/O threads the namespaces it
  // touched (publish_changes): a copy that stopped serving must not be read
  // once the next message runs.
  return {
      [=](start_atom, const cluster_start& s) { begin(self, s.local); },
      [=](frame_atom, const std::string& from, const std::string& frame) {
        if (started())
          on_frame(self, from, frame);
        publish_changes(self);
      },
      [=](const peer_frame& f) {
        if (started())
          dispatch_frame(self, f.from, f.msg);
        publish_changes(self);
      },
      [=](peer_up_atom, const std::string& id, std::uint64_t incarnation, const std::string& address) {
        if (started())
          on_peer_up(self, id, incarnation, address);
      },
      [=](peer_down_atom, const std::string& id, const std::string& address) {
        if (started())
          on_peer_down(self, id, address);
      },
      [=](tick_atom) {
        spdlog::trace("cluster: {} tick at {}", self->state.settings.node_id, now_ms(self));
        self->delayed_send(self, self->state.settings.heartbeat_interval, tick_atom::value);
        expire_calls(self);
        membership_tick(self);
        recall_tick(self);
        election_tick(self);
        replication_tick(self);
        publish_tick(self);
      },
      [=](flush_atom) {
        self->state.flush_queued = false;
        publish_changes(self);
      },
      [=](reply_msg& reply) {
        on_reply(self, reply);
        publish_changes(self);
      },
      [=](route_atom, routed_call& rc) {
        if (!started()) {
          rc.done(reply_msg::failure(0, error{errc::unavailable, "the node is starting"}));
          return;
        }
        route(self, std::move(rc));
        publish_changes(self);
      },
      [=](repair_atom, const namespace_key& ns) {
        if (started())
          ask_for_repair(self, ns);
        publish_changes(self);
      },
      [=](ship_atom, log_batch& batch) -> caf::result<bool> {
        auto out = ship(self, batch);
        publish_changes(self);
        return out;
      },
      [=](resign_atom, const namespace_key& ns, std::uint64_t epoch) {
        resign(self, ns, epoch);
        publish_changes(self);
      },
      [=](defer_atom, deferred& d) {
        d.fn();
        publish_changes(self);
      },
      [=](persist_atom) {
        persist_now(self);
        publish_changes(self);
      },
  };
}

} // namespace

caf::actor spawn_cluster_actor(caf::actor_system& sys, cluster_settings settings, peer_link* link,
                               std::shared_ptr<cluster_board> board) {
  return sys.spawn(cluster_behavior, std::move(settings), link, std::move(board));
}

} // namespace ferro::cluster
