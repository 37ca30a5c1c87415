// Requests between nodes: calls with an id and a deadline, the handler of
// every call a peer (or this node, through the same path) makes, and the
// routing of this node's own client requests to the node that must answer.

#include <algorithm>

#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "common/planted_bug.hpp"
#include "cluster/edges/cluster_state.hpp"
#include "cluster/edges/peer_codec.hpp"

namespace ferro::cluster {

namespace {

using reply_fn = std::function<void(reply_msg)>;

// How the answer to `msg` gets back: a frame to the caller, or (when this
// node called itself) a message to this actor. Either is safe from any
// thread, so node callbacks may answer directly.
reply_fn reply_to(cluster_pointer self, const call_msg& msg) {
  auto& st = self->state;
  auto rid = msg.rid;
  if (rid == 0)
    return [](reply_msg) {};
  if (msg.from == st.settings.node_id) {
    caf::actor handle = caf::actor_cast<caf::actor>(self);
    return [handle, rid](reply_msg r) {
      r.rid = rid;
      caf::anon_send(handle, std::move(r));
    };
  }
  auto* link = st.link;
  auto* sys = &self->system();
  return [link, sys, rid, to = msg.from](reply_msg r) {
    r.rid = rid;
    send_reply(*sys, *link, to, std::move(r));
  };
}

template <class T>
std::function<void(result<T>)> answer_with(reply_fn reply, T reply_msg::*field) {
  return [reply = std::move(reply), field](result<T> r) {
    if (!r) {
      reply(reply_msg::failure(0, r.err()));
      return;
    }
    reply_msg m;
    m.*field = std::move(r.value());
    reply(std::move(m));
  };
}

error not_leader(cluster_pointer self, const namespace_key& ns) {
  auto placed = placement_of(self, ns);
  return error{errc::not_owner, "node " + self_id(self) + " does not lead namespace '" + display_name(ns) +
                                    "' (placement names " +
                                    (placed.empty() ? "no live node" : placed.front()) + "); retry"};
}

// An answer that changed nothing ("not found", "nothing removed") had no
// replica vouch for this copy: a deposed leader that has not noticed yet
// would give it for entries its successor holds. A majority confirms the
// lead first (swarm seeds 331 and 176).
void reply_once_confirmed(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch, reply_fn reply,
                          reply_msg answer) {
  confirm_leadership(self, ns, epoch,
                     [self, ns, reply = std::move(reply), answer = std::move(answer)](bool leading) mutable {
                       if (!leading)
                         reply(reply_msg::failure(0, not_leader(self, ns)));
                       else
                         reply(std::move(answer));
                     });
}

bool has_local(cluster_pointer self, const namespace_key& ns) {
  return self->state.local->has_namespace(ns);
}

// Runs `work` at this node as the namespace's leader, or refuses.
void as_leader(cluster_pointer self, const namespace_key& ns, reply_fn reply, std::function<void()> work) {
  // A node no majority heard lately (paused, cut off, just started) takes
  // no client write: what reaches it now may have waited in a socket
  // buffer through a pause, its caller long told it timed out, and a later
  // write (a retry, then a delete) already done elsewhere; run after them,
  // it would bring a deleted entry back (3-node swarm seed 124).
  if (now_ms(self) >= read_lease_until(self)) {
    reply(reply_msg::failure(
        0, error{errc::unavailable, self_id(self) + " was not heard by a majority lately; retry"}));
    return;
  }
  with_leadership(self, ns, [self, ns, reply, work = std::move(work)](bool leading) {
    if (!leading) {
      reply(reply_msg::failure(0, not_leader(self, ns)));
      return;
    }
    work();
  });
}

template <class Atom, class... Ts>
void ask_namespace(cluster_pointer self, const namespace_key& ns, reply_fn reply, Atom atom, Ts... args) {
  auto actor = self->state.local->namespace_for(ns);
  if (!actor) {
    reply(reply_msg::failure(0, error{errc::unavailable, "the node is shutting down"}));
    return;
  }
  self->request(actor, self->state.settings.request_timeout, atom, std::move(args)...)
      .then(
          [reply](const ns_position& pos) {
            reply_msg m;
            m.pos = pos;
            reply(std::move(m));
          },
          [reply](caf::error& err) { reply(reply_msg::failure(0, from_caf_error(err))); });
}

void on_follow(cluster_pointer self, call_msg& msg, reply_fn reply) {
  auto& sp = space(self, msg.ns);
  if (msg.epoch < sp.epoch && !planted(planted_bug::no_epoch_fencing)) {
    auto r = reply_msg::failure(0, error{errc::fenced, "epoch " + std::to_string(msg.epoch) + " of '" +
                                                           display_name(msg.ns) + "' is over (now " +
                                                           std::to_string(sp.epoch) + ")"});
    r.pos.epoch = sp.epoch;
    reply(std::move(r));
    return;
  }
  if (sp.mode == ns_mode::primary && msg.epoch > sp.epoch)
    step_down(self, msg.ns, msg.epoch);
  // While electing itself, a node is brought up to date by the most
  // advanced copy at its own election epoch: that does not make it a follower.
  bool own_election = sp.mode == ns_mode::electing && msg.epoch == sp.epoch;
  // Records from the copy pushing to us: the push is alive (see push_idle).
  if (own_election && msg.from == sp.push_source && sp.push_rid != 0)
    keep_call_alive(self, sp.push_rid, std::min(sp.push_limit_ms, now_ms(self) + push_idle(self).count()));
  if (!own_election && sp.mode != ns_mode::primary) {
    if (sp.mode != ns_mode::follower || sp.primary != msg.from)
      sp.local_in_sync = false;
    sp.mode = ns_mode::follower;
    sp.primary = msg.from;
  }
  sp.epoch = msg.epoch;
  sp.holds_copy = true;
  if (msg.op == call_op::reset) {
    sp.local_in_sync = false;
    ask_namespace(self, msg.ns, std::move(reply), reset_atom::value, msg.epoch, msg.seq);
  } else {
    ask_namespace(self, msg.ns, std::move(reply), follow_atom::value, msg.epoch, std::move(msg.batch));
  }
}

} // namespace

void defer(cluster_pointer self, std::chrono::milliseconds delay, std::function<void()> fn) {
  self->delayed_send(self, delay, defer_atom::value, deferred{std::move(fn)});
}

std::uint64_t send_call(cluster_pointer self, const std::string& peer, call_msg msg,
                        std::chrono::milliseconds timeout, std::function<void(const reply_msg&)> done) {
  auto& st = self->state;
  msg.rid = st.next_rid++;
  msg.from = st.settings.node_id;
  auto rid = msg.rid;
  st.calls[rid] = pending_call{peer, now_ms(self) + timeout.count(), std::move(done)};
  if (peer == st.settings.node_id) {
    on_call(self, std::move(msg));
    return rid;
  }
  if (!st.link->send(peer, encode_peer_message(self->system(), caf::make_message(std::move(msg))))) {
    auto it = st.calls.find(rid);
    auto pending = std::move(it->second);
    st.calls.erase(it);
    pending.done(reply_msg::failure(rid, error{errc::unavailable, "no connection to node " + peer}));
  }
  return rid;
}

void keep_call_alive(cluster_pointer self, std::uint64_t rid, std::int64_t deadline_ms) {
  auto it = self->state.calls.find(rid);
  if (it != self->state.calls.end())
    it->second.deadline_ms = std::max(it->second.deadline_ms, deadline_ms);
}

void on_reply(cluster_pointer self, const reply_msg& reply) {
  auto it = self->state.calls.find(reply.rid);
  if (it == self->state.calls.end())
    return; // timed out meanwhile
  auto pending = std::move(it->second);
  if (planted(planted_bug::leak_answered_calls)) // the entry stays, answered, for good
    it->second = pending_call{pending.peer, INT64_MAX, [](const reply_msg&) {}};
  else
    self->state.calls.erase(it);
  pending.done(reply);
}

void fail_calls_to(cluster_pointer self, const std::string& peer, const std::string& why) {
  std::vector<pending_call> failed;
  for (auto it = self->state.calls.begin(); it != self->state.calls.end();) {
    if (it->second.peer == peer) {
      failed.push_back(std::move(it->second));
      it = self->state.calls.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& c : failed)
    c.done(reply_msg::failure(0, error{errc::unavailable, why}));
}

void expire_calls(cluster_pointer self) {
  auto now = now_ms(self);
  std::vector<pending_call> expired;
  for (auto it = self->state.calls.begin(); it != self->state.calls.end();) {
    if (it->second.deadline_ms <= now) {
      expired.push_back(std::move(it->second));
      it = self->state.calls.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& c : expired)
    c.done(reply_msg::failure(0, error{errc::timeout, "node " + c.peer + " did not answer in time"}));
}

void on_call(cluster_pointer self, call_msg msg) {
  auto& st = self->state;
  auto* local = st.local;
  auto reply = reply_to(self, msg);
  switch (msg.op) {
    case call_op::insert: {
      auto ns = msg.ins.ns; // read before the request moves into the lambda
      as_leader(self, ns, reply, [local, reply, req = std::move(msg.ins)]() mutable {
        local->insert(std::move(req), answer_with(reply, &reply_msg::ins_reply));
      });
      return;
    }
    case call_op::invalidate: {
      auto ns = msg.inv.ns; // read before the request moves into the lambda
      as_leader(self, ns, reply, [self, local, reply, ns, req = std::move(msg.inv)]() mutable {
        auto epoch = space(self, ns).epoch;
        local->invalidate(std::move(req), [self, reply, ns, epoch](result<invalidate_reply> r) {
          if (!r || !r->uuids.empty()) {
            answer_with(reply, &reply_msg::inv_reply)(std::move(r));
            return;
          }
          reply_once_confirmed(self, ns, epoch, reply, reply_msg{}); // nothing removed
        });
      });
      return;
    }
    case call_op::feedback: {
      auto ns = msg.fb.ns; // read before the request moves into the lambda
      as_leader(self, ns, reply, [local, reply, req = std::move(msg.fb)]() mutable {
        local->feedback(std::move(req), [reply](result<feedback_reply> r) {
          reply(r ? reply_msg{} : reply_msg::failure(0, r.err()));
        });
      });
      return;
    }
    case call_op::query:
      // Only a leader or an in-sync replica answers for others: a copy that
      // is behind (or no copy) would report misses for entries that exist.
      if (!msg.qry.local && !serves_reads(self, msg.qry.ns)) {
        auto r = reply_msg::failure(0, error{errc::not_owner, self_id(self) + " holds no in-sync copy of '" +
                                                                  display_name(msg.qry.ns) + "'"});
        r.pos.exists = has_local(self, msg.qry.ns); // a copy that is behind, or none at all
        reply(std::move(r));
        return;
      }
      local->query(std::move(msg.qry), answer_with(reply, &reply_msg::qry_reply));
      return;
    case call_op::locate: {
      reply_msg m;
      m.keys = local->holders_of(msg.text);
      reply(std::move(m));
      return;
    }
    case call_op::remove:
      as_leader(self, msg.ns, reply, [self, local, reply, ns = msg.ns, uuid = msg.text] {
        auto actor = local->namespace_for(ns);
        if (!actor) {
          reply(reply_msg::failure(0, error{errc::unavailable, "the node is shutting down"}));
          return;
        }
        auto epoch = space(self, ns).epoch;
        self->request(actor, self->state.settings.request_timeout, delete_atom::value, uuid)
            .then(
                [self, reply, ns, epoch](bool deleted) {
                  if (deleted) {
                    reply_msg m;
                    m.deleted = true;
                    reply(std::move(m));
                    return;
                  }
                  reply_msg not_found;
                  not_found.deleted = false;
                  reply_once_confirmed(self, ns, epoch, reply, std::move(not_found));
                },
                [reply](caf::error& err) { reply(reply_msg::failure(0, from_caf_error(err))); });
      });
      return;
    case call_op::prepare:
      on_prepare(self, msg, std::move(reply));
      return;
    case call_op::follow:
    case call_op::reset:
      on_follow(self, msg, std::move(reply));
      return;
    case call_op::position:
      if (!has_local(self, msg.ns)) {
        reply_msg m;
        m.pos.epoch = st.spaces.count(msg.ns) ? st.spaces[msg.ns].epoch : 0;
        reply(std::move(m));
        return;
      }
      ask_namespace(self, msg.ns, std::move(reply), position_atom::value);
      return;
    case call_op::push:
      sync_replica(self, msg.ns, msg.text, msg.epoch, [reply](result<ns_position> r) {
        if (!r) {
          reply(reply_msg::failure(0, r.err()));
          return;
        }
        reply_msg m;
        m.pos = r.value();
        reply(std::move(m));
      });
      return;
    case call_op::in_sync: {
      auto& sp = space(self, msg.ns);
      if (msg.seq == 0 && msg.from == sp.primary) {
        sp.local_in_sync = false; // whatever the epoch: its leader no longer vouches for this copy
        publish_changes(self);
      } else if (msg.epoch >= sp.epoch && sp.mode == ns_mode::follower) {
        sp.epoch = msg.epoch;
        sp.primary = msg.from;
        sp.local_in_sync = msg.seq == 1;
        publish_changes(self);
      }
      return;
    }
    case call_op::owner_hint: {
      auto& sp = space(self, msg.ns);
      sp.holds_copy |= has_local(self, msg.ns);
      sp.hinted = true; // election_tick keeps trying while placement names this node
      with_leadership(self, msg.ns, [](bool) {});
      return;
    }
    case call_op::repair:
      repair_replica(self, msg.ns, msg.from);
      return;
    case call_op::retire: {
      auto& sp = space(self, msg.ns);
      auto placed = placement_of(self, msg.ns);
      bool named = std::find(placed.begin(), placed.end(), self_id(self)) != placed.end();
      if (msg.epoch < sp.epoch || sp.mode == ns_mode::primary || sp.mode == ns_mode::electing || named ||
          !has_local(self, msg.ns)) {
        reply(reply_msg::failure(0, error{errc::not_owner, "keeping this copy"}));
        return;
      }
      spdlog::info("cluster: {} drops its surplus copy of '{}' (placement moved it)", self_id(self),
                   display_name(msg.ns));
      sp.mode = ns_mode::none;
      sp.local_in_sync = false;
      sp.holds_copy = false;
      sp.hinted = false;
      ask_namespace(self, msg.ns, std::move(reply), reset_atom::value, msg.epoch, std::uint64_t{0});
      return;
    }
    case call_op::recall:
      answer_recall(self, std::move(reply));
      return;
    case call_op::confirm: {
      auto& sp = space(self, msg.ns);
      reply_msg m;
      if (recalling(self)) {
        // It may have granted a newer epoch before it lost its disk.
        m = reply_msg::failure(0,
                               error{errc::unavailable, self_id(self) + " is recalling its election state"});
      } else if (msg.epoch < sp.epoch) {
        m = reply_msg::failure(0, error{errc::fenced, "a newer epoch leads '" + display_name(msg.ns) + "'"});
      } else if (msg.epoch > sp.holders_epoch ||
                 (msg.epoch == sp.holders_epoch && msg.seq > sp.holders_version)) {
        // A leader's later set replaces its earlier one, even when the
        // messages arrive out of order (a set it shrank to acknowledge
        // without a failed replica must not be masked by the older one).
        if (msg.epoch > sp.holders_epoch)
          note_new_term(self, msg.ns, msg.epoch); // heartbeats tell the former leader
        sp.holders_epoch = msg.epoch;
        sp.holders_version = msg.seq;
        sp.holders.clear();
        for (std::size_t at = 0; at < msg.text.size();) {
          auto comma = msg.text.find(',', at);
          if (comma == std::string::npos)
            comma = msg.text.size();
          if (comma > at)
            sp.holders.push_back(msg.text.substr(at, comma - at));
          at = comma + 1;
        }
        // The next election must learn this set even if this node crashes.
        persist_then(self, [self, ns = msg.ns, epoch = msg.epoch, reply](bool kept) {
          auto& sp = space(self, ns);
          reply_msg m;
          if (!kept)
            m = reply_msg::failure(0, error{errc::unavailable, self_id(self) + " cannot keep the copy set"});
          else if (epoch < sp.epoch) // overtaken while it waited for the disk
            m = reply_msg::failure(0, error{errc::fenced, "a newer epoch leads '" + display_name(ns) + "'"});
          m.pos.epoch = sp.epoch;
          reply(std::move(m));
        });
        return;
      }
      m.pos.epoch = sp.epoch;
      reply(std::move(m));
      return;
    }
  }
  reply(reply_msg::failure(0, error{errc::bad_request, "unknown call"}));
}

namespace {

// DELETE /cache/{id} names no namespace: find every namespace holding the id
// (any copy will do: ask every live node), then delete through each one's
// leader.
void route_delete(cluster_pointer self, routed_call rc) {
  struct fan {
    std::set<namespace_key> keys;
    std::size_t waiting = 0;
    bool deleted = false;
    std::optional<error> failure;
    std::function<void(reply_msg)> done;
  };
  auto state = std::make_shared<fan>();
  state->done = std::move(rc.done);
  auto uuid = rc.call.text;
  auto finish = [state] {
    if (state->failure && !state->deleted) {
      state->done(reply_msg::failure(0, *state->failure));
      return;
    }
    reply_msg m;
    m.deleted = state->deleted;
    state->done(std::move(m));
  };
  auto delete_each = [self, state, uuid, finish] {
    if (state->keys.empty()) {
      finish();
      return;
    }
    state->waiting = state->keys.size();
    for (const auto& key : state->keys) {
      auto placed = placement_of(self, key);
      if (placed.empty()) {
        state->failure = error{errc::unavailable, "no live node holds namespace '" + display_name(key) + "'"};
        if (--state->waiting == 0)
          finish();
        continue;
      }
      call_msg c;
      c.op = call_op::remove;
      c.ns = key;
      c.text = uuid;
      spdlog::debug("cluster: {} deletes {} of '{}' through {}", self_id(self), uuid, display_name(key),
                    placed.front());
      send_call(self, placed.front(), std::move(c), self->state.settings.request_timeout,
                [state, finish](const reply_msg& r) {
                  if (r.ok())
                    state->deleted = state->deleted || r.deleted;
                  else
                    state->failure = r.err();
                  if (--state->waiting == 0)
                    finish();
                });
    }
  };
  auto nodes = alive_peers(self);
  nodes.push_back(self_id(self));
  // A node this one cannot reach may hold the only copy: not finding the id
  // is then no proof that it does not exist.
  if (nodes.size() < cluster_size(self))
    state->failure =
        error{errc::unavailable, "not every node is reachable to find entry '" + uuid + "'; retry"};
  state->waiting = nodes.size();
  for (const auto& n : nodes) {
    call_msg c;
    c.op = call_op::locate;
    c.text = uuid;
    send_call(self, n, std::move(c), self->state.settings.request_timeout,
              [state, delete_each](const reply_msg& r) {
                if (r.ok())
                  state->keys.insert(r.keys.begin(), r.keys.end());
                else
                  state->failure = r.err();
                if (--state->waiting == 0)
                  delete_each();
              });
  }
}

// A query goes to the first node in ring order that serves reads of its
// namespace (the leader, or an in-sync replica); a node that does not
// refuses and the next is asked. When none does (a namespace nobody holds
// yet, or every copy catching up), this node's own copy answers.
void ask_next(cluster_pointer self, std::shared_ptr<routed_call> rc, std::vector<std::string> candidates,
              std::size_t at, bool copy_behind = false) {
  auto* local = self->state.local;
  if (at >= candidates.size()) {
    // No node serves it. When copies exist but are all behind (a failover
    // in progress), a miss could be a lie: refuse. When none exists, a
    // miss is the truth; but "none" is known only if at most R - 1 members
    // were left out of `candidates` (the live nodes when the query came),
    // since then one copy of any namespace written with R copies was asked
    // (a node cut off from the others used to answer misses for entries
    // they held, and so did one that was paused: the simulator's reads).
    if (copy_behind || has_local(self, rc->call.qry.ns)) {
      rc->done(reply_msg::failure(0, error{errc::unavailable, "no in-sync copy of '" +
                                                                  display_name(rc->call.qry.ns) +
                                                                  "' answers right now (failover); retry"}));
      return;
    }
    // A namespace acknowledged by fewer than R copies (a leader whose
    // replicas failed) may live only on nodes out of reach: the newest copy
    // set published here names them (3-node swarm --crashes seed 111).
    // This node counts only through its own copy, and it has none (above):
    // named in a set it never heard was replaced, it has nothing to vouch
    // with (3-node swarm seed 161: a replica cut off before its first
    // record answered a miss for an entry its leader acknowledged alone).
    if (auto sp = self->state.spaces.find(rc->call.qry.ns); sp != self->state.spaces.end()) {
      const auto& holders = sp->second.holders;
      bool asked = std::any_of(holders.begin(), holders.end(), [&](const std::string& h) {
        return h != self_id(self) && std::find(candidates.begin(), candidates.end(), h) != candidates.end();
      });
      if (!holders.empty() && !asked) {
        rc->done(
            reply_msg::failure(0, error{errc::unavailable, "the copies of '" + display_name(rc->call.qry.ns) +
                                                               "' are on nodes out of reach; retry"}));
        return;
      }
    }
    auto reachable = candidates.size();
    auto size = cluster_size(self);
    if (size > reachable && size - reachable >= self->state.settings.replication_factor) {
      rc->done(reply_msg::failure(
          0, error{errc::unavailable, std::to_string(size - reachable) + " of " + std::to_string(size) +
                                          " nodes are out of reach: they may hold '" +
                                          display_name(rc->call.qry.ns) + "'; retry"}));
      return;
    }
    spdlog::debug("cluster: query of '{}' answered by {}'s own copy (no node serves it)",
                  display_name(rc->call.qry.ns), self_id(self));
    local->query(rc->call.qry, answer_with(rc->done, &reply_msg::qry_reply));
    return;
  }
  auto target = candidates[at];
  if (target == self_id(self) && !serves_reads(self, rc->call.qry.ns)) {
    ask_next(self, std::move(rc), std::move(candidates), at + 1, copy_behind);
    return;
  }
  call_msg c = rc->call;
  send_call(
      self, target, std::move(c), self->state.settings.request_timeout,
      [self, rc, candidates, at, copy_behind](const reply_msg& r) {
        if (r.ok()) {
          if (spdlog::should_log(spdlog::level::debug)) // every forwarded query passes here
            spdlog::debug("cluster: query of '{}' answered by {}", display_name(rc->call.qry.ns),
                          candidates[at]);
          rc->done(r);
          return;
        }
        auto code = r.err().code;
        spdlog::debug("cluster: query of '{}' at {} refused by {}: {}{}", display_name(rc->call.qry.ns),
                      self_id(self), candidates[at], r.message, r.pos.exists ? " (it holds a copy)" : "");
        if (code == errc::not_owner || code == errc::unavailable || code == errc::timeout)
          ask_next(self, rc, candidates, at + 1, copy_behind || code != errc::not_owner || r.pos.exists);
        else
          rc->done(r);
      });
}

void route_query(cluster_pointer self, routed_call rc) {
  auto candidates = ring_order(self, rc.call.qry.ns);
  ask_next(self, std::make_shared<routed_call>(std::move(rc)), std::move(candidates), 0);
}

} // namespace

void route(cluster_pointer self, routed_call rc) {
  auto& call = rc.call;
  if (call.op == call_op::remove && call.ns.model_id.empty()) {
    route_delete(self, std::move(rc));
    return;
  }
  namespace_key ns = call.op == call_op::insert       ? call.ins.ns
                     : call.op == call_op::query      ? call.qry.ns
                     : call.op == call_op::invalidate ? call.inv.ns
                     : call.op == call_op::feedback   ? call.fb.ns
                                                      : call.ns;
  if (call.op == call_op::query) {
    route_query(self, std::move(rc));
    return;
  }
  auto placed = placement_of(self, ns);
  if (placed.empty()) {
    rc.done(reply_msg::failure(
        0, error{errc::unavailable, "no live node can take namespace '" + display_name(ns) + "'"}));
    return;
  }
  send_call(self, placed.front(), std::move(call), self->state.settings.request_timeout,
            [done = std::move(rc.done)](const reply_msg& r) { done(r); });
}

} // namespace ferro::cluster
