// Who leads a namespace. Placement names the primary (the first live node
// on the ring for the namespace); that node becomes primary only through an
// election at a new epoch:
//   1. prepare(epoch) to every live node: each grants by refusing every
//      older epoch from then on (a copy there is fenced), and reports its
//      copy's position;
//   2. with grants from a majority of all known nodes, the most advanced
//      copy (newest epoch, then longest log) is pushed to this node first,
//      so nothing a former primary acknowledged is lost;
//   3. the local copy becomes primary at the epoch and catches its replicas
//      up; requests wait (bounded by cluster.replication_timeout_ms) until
//      they are in sync, so that acknowledged writes have their copies.
// Two elections at one epoch cannot both win: their majorities intersect in
// a node that grants only once per epoch.

#include <algorithm>
#include <cstdlib>
#include <random>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "cluster/edges/cluster_state.hpp"

namespace ferro::cluster {

namespace {

void fail_waiting(ns_state& sp) {
  auto waiting = std::move(sp.waiting);
  sp.waiting.clear();
  for (auto& [deadline, fn] : waiting)
    fn(false);
}

// A request that waited for the lead past its deadline is refused, not
// run: its caller has timed out and told its client so, and the client
// acts on that. An invalidation that waited 8 s for an election removed
// entries written after its client had been told it failed (5-node swarm
// seed 122 with invalidations).
void expire_waiting(cluster_pointer self, ns_state& sp) {
  auto now = now_ms(self);
  std::vector<std::function<void(bool)>> late;
  for (auto it = sp.waiting.begin(); it != sp.waiting.end();)
    if (it->first <= now) {
      late.push_back(std::move(it->second));
      it = sp.waiting.erase(it);
    } else {
      ++it;
    }
  for (auto& fn : late)
    fn(false);
}

void make_ready(cluster_pointer self, const namespace_key& ns) {
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::primary || sp.ready || now_ms(self) < sp.lease_out_ms)
    return;
  sp.ready = true;
  spdlog::info("cluster: {} leads '{}' at epoch {} with {} of {} replicas in sync", self_id(self),
               display_name(ns), sp.epoch, sp.in_sync.size(), sp.replicas.size());
  publish_changes(self);
  expire_waiting(self, sp);
  auto waiting = std::move(sp.waiting);
  sp.waiting.clear();
  for (auto& [deadline, fn] : waiting)
    fn(true);
}

void election_failed(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch,
                     const std::string& why) {
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::electing || sp.epoch != epoch)
    return;
  spdlog::info("cluster: {} could not take '{}' at epoch {}: {}", self_id(self), display_name(ns), epoch,
               why);
  sp.mode = ns_mode::none;
  sp.next_election_ms = now_ms(self) + 100 + static_cast<std::int64_t>(self->state.jitter() % 300);
  fail_waiting(sp);
}

// `first_term`: no granter held a copy or knew of a published copy set, so
// no leader ever served this namespace (a new one) and none has a lease to
// wait out.
void become_primary(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch,
                    std::set<std::string> holders, bool first_term) {
  auto actor = self->state.local->namespace_for(ns);
  if (!actor) {
    election_failed(self, ns, epoch, "the node is shutting down");
    return;
  }
  self->request(actor, self->state.settings.request_timeout, role_atom::value, namespace_role::primary, epoch)
      .then(
          [=](const ns_position& pos) {
            auto& sp = space(self, ns);
            if (sp.mode != ns_mode::electing || sp.epoch != epoch) {
              // Overtaken meanwhile: hand the copy back to replica role.
              self->request(actor, self->state.settings.request_timeout, role_atom::value,
                            namespace_role::replica, sp.epoch)
                  .then([](const ns_position&) {}, [](caf::error&) {});
              return;
            }
            auto placed = placement_of(self, ns);
            sp.mode = ns_mode::primary;
            sp.ready = false;
            sp.holds_copy = true;
            sp.shipped_seq = pos.last_seq;
            // Placement may have moved since the election began: whatever it
            // says now, this node is never its own replica.
            sp.replicas.clear();
            for (const auto& n : placed)
              if (n != self_id(self))
                sp.replicas.push_back(n);
            if (sp.replicas.size() + 1 > self->state.settings.replication_factor)
              sp.replicas.resize(self->state.settings.replication_factor - 1);
            sp.in_sync.clear();
            sp.syncing.clear();
            // Copies on nodes placement does not name go once the new set is in sync.
            sp.retiring.clear();
            for (const auto& h : holders)
              if (h != self_id(self) && std::find(placed.begin(), placed.end(), h) == placed.end())
                sp.retiring.insert(h);
            sp.ready_deadline_ms = now_ms(self) + self->state.settings.replication_timeout.count();
            // Set once the new set is published (take_confirmation).
            sp.lease_out_ms = first_term ? 0 : INT64_MAX;
            self->state.board->failovers.fetch_add(1, std::memory_order_relaxed);
            sp.published = false;
            for (const auto& r : sp.replicas)
              start_catch_up(self, ns, r, catch_up_priority::new_term);
            // No write is acknowledged before a majority knows this copy holds
            // them (the next election must hear it).
            confirm_leadership(self, ns, epoch, [self, ns, epoch](bool leading) {
              take_confirmation(self, ns, epoch, leading);
            });
            publish_changes(self);
          },
          [=](caf::error& err) { election_failed(self, ns, epoch, from_caf_error(err).message); });
}

struct tally {
  std::size_t expected = 0;
  std::size_t replies = 0;
  std::size_t grants = 0;
  std::uint64_t newest_refused = 0;
  bool leader_refused = false; ///< a live leader that placement (in its view) still names said no
  bool any_copy = false;
  ns_position best;
  std::string best_node;
  std::set<std::string> holders;             ///< nodes that reported a copy
  std::set<std::string> granted;             ///< nodes that granted
  std::map<std::string, ns_position> copies; ///< the copy each granter reported
  std::set<std::string> copyless;            ///< granters without any copy (not even one being rebuilt)
  std::uint64_t holders_epoch = 0;           ///< newest copy set the granters know of
  std::uint64_t holders_version = 0;
  std::vector<std::string> holders_set; ///< (at least one must grant)
};

void conclude(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch, const tally& t) {
  auto& sp = space(self, ns);
  if (spdlog::should_log(spdlog::level::debug)) {
    std::string granted, published;
    for (const auto& g : t.granted)
      granted += g + " ";
    for (const auto& h : t.holders_set)
      published += h + " ";
    spdlog::debug("cluster: {} election for '{}' at epoch {}: grants from [{}], best copy on {} (mode {}, "
                  "epoch {}), newest published copy set [{}] at epoch {}",
                  self_id(self), display_name(ns), epoch, granted, t.best_node, static_cast<int>(sp.mode),
                  sp.epoch, published, t.holders_epoch);
  }
  if (sp.mode != ns_mode::electing || sp.epoch != epoch)
    return;
  // A live leader keeps its namespace until it agrees to hand it over (its
  // view changes and it hints this node): winning without it could miss
  // writes it acknowledged alone, with its replicas out of sync.
  // (The epoch learnt from refusals is taken after election_failed, which
  // recognises this election by its epoch.)
  if (t.leader_refused) {
    election_failed(self, ns, epoch, "the current leader still holds it");
    sp.epoch = std::max(sp.epoch, t.newest_refused);
    return;
  }
  // The copies of the newest published set that answered whole: a member
  // that lost its copy (a new disk) or is rebuilding it (reset, its image
  // not all there: 3-node swarm --crashes seed 139) holds none of the
  // acknowledged writes it was published for.
  std::vector<std::string> whole_holders;
  for (const auto& h : t.holders_set) {
    auto it = t.copies.find(h);
    if (it != t.copies.end() && it->second.exists && !it->second.partial)
      whole_holders.push_back(h);
  }
  // Every member of that set answered, and none holds any copy of the
  // namespace (a copy being rebuilt counts as one): the set was published
  // before the first write reached it, so no write was acknowledged under
  // it and there is nothing to wait for. A leader that lost its lead
  // between its election and the namespace's first write left such a set,
  // and the namespace then refused every write for good (3-node swarm
  // --crashes seeds 62 and 112, found by the queue checker: the elections
  // never ended). A member whose disk was lost holds nothing either: if it
  // was the set's only member, the writes it alone acknowledged went with
  // its disk, whether the namespace waits or not (docs/cluster.md,
  // "Elections").
  bool never_written = std::all_of(t.holders_set.begin(), t.holders_set.end(),
                                   [&](const std::string& h) { return t.copyless.count(h) > 0; });
  if (!t.holders_set.empty() && whole_holders.empty() && !never_written) {
    // Every acknowledged write is on the copies the last leader published;
    // winning without hearing one of them could lose some. Wait.
    election_failed(self, ns, epoch,
                    "no whole copy of the set the last leader published (epoch " +
                        std::to_string(t.holders_epoch) + ") answered");
    sp.epoch = std::max(sp.epoch, t.newest_refused);
    return;
  }
  if (t.grants * 2 <= cluster_size(self)) {
    election_failed(self, ns, epoch,
                    std::to_string(t.grants) + " grants of " + std::to_string(cluster_size(self)) + " nodes");
    sp.epoch = std::max(sp.epoch, t.newest_refused);
    return;
  }
  // The copies of the newest published set hold every acknowledged write,
  // whatever their positions say (a copy recovered after a crash may not
  // know the epoch of its newest record): the most advanced of them is
  // taken, never a copy outside the set that merely looks further ahead.
  auto best = t.best;
  auto best_node = t.best_node;
  bool from_set = false;
  for (const auto& h : whole_holders) {
    auto it = t.copies.find(h);
    if (!from_set || ahead_of(it->second, best)) {
      best = it->second;
      best_node = h;
      from_set = true;
    }
  }
  if (!t.any_copy || best_node == self_id(self)) {
    become_primary(self, ns, epoch, t.holders, !t.any_copy && t.holders_epoch == 0);
    return;
  }
  // Another copy is ahead: it brings this one up to date before we lead.
  call_msg push;
  push.op = call_op::push;
  push.ns = ns;
  push.epoch = epoch;
  push.text = self_id(self);
  spdlog::info("cluster: {} takes '{}' at epoch {} from the copy on {} (seq {}, epoch {})", self_id(self),
               display_name(ns), epoch, best_node, best.last_seq, best.last_epoch);
  // The push may run long (a full resync of a big copy), but its answer
  // may also be lost: the source replies on its own connection to us,
  // which may be down while ours to it works (a one-way cut; 3-node swarm
  // seed 393 waited 2 minutes in "electing"). So the call times out after
  // push_idle without records from the source, and after 2 minutes anyway.
  auto& electing = space(self, ns);
  electing.push_source = best_node;
  electing.push_limit_ms = now_ms(self) + std::chrono::milliseconds(std::chrono::minutes(2)).count();
  electing.push_rid = send_call(self, best_node, std::move(push), push_idle(self), [=](const reply_msg& r) {
    auto& sp = space(self, ns);
    if (sp.push_source == best_node) {
      sp.push_source.clear();
      sp.push_rid = 0;
    }
    if (!r.ok()) {
      election_failed(self, ns, epoch, "catch-up from " + best_node + " failed: " + r.message);
      return;
    }
    become_primary(self, ns, epoch, t.holders, !t.any_copy && t.holders_epoch == 0);
  });
}

void start_election(cluster_pointer self, const namespace_key& ns) {
  auto& sp = space(self, ns);
  if (sp.mode == ns_mode::electing || sp.mode == ns_mode::primary || now_ms(self) < sp.next_election_ms)
    return;
  if (recalling(self)) {
    // Its own grant counts like any other: not before the recall ends.
    sp.next_election_ms = now_ms(self) + 100 + static_cast<std::int64_t>(self->state.jitter() % 300);
    return;
  }
  auto targets = alive_peers(self);
  if ((targets.size() + 1) * 2 <= cluster_size(self)) {
    // No majority in sight: an election could not win, and its epoch would
    // only fence the copies it reaches once the node is back.
    sp.next_election_ms = now_ms(self) + 100 + static_cast<std::int64_t>(self->state.jitter() % 300);
    return;
  }
  sp.mode = ns_mode::electing;
  sp.ready = false;
  auto epoch = ++sp.epoch;
  targets.push_back(self_id(self));
  auto t = std::make_shared<tally>();
  t->expected = targets.size();
  spdlog::debug("cluster: {} elects itself for '{}' at epoch {} ({} voters)", self_id(self), display_name(ns),
                epoch, targets.size());
  for (const auto& target : targets) {
    call_msg prepare;
    prepare.op = call_op::prepare;
    prepare.ns = ns;
    prepare.epoch = epoch;
    send_call(self, target, std::move(prepare), self->state.settings.replication_timeout,
              [=](const reply_msg& r) {
                if (r.ok()) {
                  ++t->grants;
                  t->granted.insert(target);
                  auto bar = r.message.find('|');
                  if (bar != std::string::npos) {
                    char* end = nullptr;
                    auto e = std::strtoull(r.message.c_str(), &end, 10);
                    auto v = *end == '.' ? std::strtoull(end + 1, nullptr, 10) : 0;
                    if (e > t->holders_epoch || (e == t->holders_epoch && v > t->holders_version)) {
                      t->holders_epoch = e;
                      t->holders_version = v;
                      t->holders_set.clear();
                      auto list = r.message.substr(bar + 1);
                      for (std::size_t at = 0; at < list.size();) {
                        auto comma = list.find(',', at);
                        if (comma == std::string::npos)
                          comma = list.size();
                        if (comma > at)
                          t->holders_set.push_back(list.substr(at, comma - at));
                        at = comma + 1;
                      }
                    }
                  }
                  if (r.pos.exists) {
                    t->holders.insert(target);
                    t->copies[target] = r.pos;
                  } else if (!r.pos.partial) {
                    t->copyless.insert(target);
                  }
                  if (r.pos.exists && (!t->any_copy || ahead_of(r.pos, t->best))) {
                    t->any_copy = true;
                    t->best = r.pos;
                    t->best_node = target;
                  }
                } else {
                  t->newest_refused = std::max(t->newest_refused, r.pos.epoch);
                  t->leader_refused |= r.err().code == errc::not_owner;
                }
                if (++t->replies == t->expected)
                  conclude(self, ns, epoch, *t);
              });
  }
}

bool placed_here(cluster_pointer self, const namespace_key& ns) {
  auto placed = placement_of(self, ns);
  return !placed.empty() && placed.front() == self_id(self);
}

void notify(cluster_pointer self, const std::string& peer, call_op op, const namespace_key& ns) {
  call_msg m;
  m.op = op;
  m.ns = ns;
  m.epoch = space(self, ns).epoch;
  send_call(self, peer, std::move(m), std::chrono::seconds(1), [](const reply_msg&) {});
}

} // namespace

ns_state& space(cluster_pointer self, const namespace_key& ns) {
  // Whoever asks may change it: its line is shown again after this message.
  // Behaviour handlers end with publish_changes; a response handler
  // (request().then) or a deferred step need not, so a flush is queued
  // ahead of the normal mailbox: the change reaches the I/O threads before
  // the next ordinary message runs, not at the next tick.
  auto& st = self->state;
  st.unpublished.insert(ns);
  if (!st.flush_queued) {
    st.flush_queued = true;
    self->send<caf::message_priority::high>(self, flush_atom::value);
  }
  return st.spaces[ns];
}

void with_leadership(cluster_pointer self, const namespace_key& ns, std::function<void(bool)> fn) {
  auto& sp = space(self, ns);
  if (sp.mode == ns_mode::primary && sp.ready) {
    fn(true);
    return;
  }
  if (!self->state.settled || !placed_here(self, ns)) {
    fn(false);
    return;
  }
  // Half the caller's timeout: a request still waiting when its caller
  // gives up must not run after that, and it reached this node a little
  // after the caller sent it.
  sp.waiting.emplace_back(now_ms(self) + self->state.settings.request_timeout.count() / 2, std::move(fn));
  if (sp.mode != ns_mode::primary)
    start_election(self, ns);
}

void step_down(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch) {
  auto& sp = space(self, ns);
  bool was_primary = sp.mode == ns_mode::primary || sp.mode == ns_mode::electing;
  sp.epoch = std::max(sp.epoch, epoch);
  if (!was_primary)
    return;
  spdlog::info("cluster: {} steps down from '{}' (epoch {})", self_id(self), display_name(ns), sp.epoch);
  // Its replicas serve reads only while it leads: tell them it no longer
  // does (a replica left believing it was in sync served a copy nobody
  // maintained any more: lite seed 15). A lost notice goes with its
  // connection, and a lost connection clears the flag too.
  for (const auto& r : sp.in_sync)
    tell_in_sync(self, r, ns, sp.epoch, false);
  sp.mode = ns_mode::follower;
  sp.ready = false;
  sp.local_in_sync = false;
  sp.in_sync.clear();
  sp.syncing.clear();
  fail_waiting(sp);
  if (auto actor = self->state.local->namespace_for(ns))
    self->request(actor, self->state.settings.request_timeout, role_atom::value, namespace_role::replica,
                  sp.epoch)
        .then([](const ns_position&) {}, [](caf::error&) {});
  publish_changes(self);
}

void resign(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch) {
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::primary || sp.epoch != epoch)
    return; // deposed already
  step_down(self, ns, epoch);
}

void answer_grant(cluster_pointer self, const call_msg& msg, std::function<void(reply_msg)> reply, bool kept);

void on_prepare(cluster_pointer self, const call_msg& msg, std::function<void(reply_msg)> reply) {
  auto& sp = space(self, msg.ns);
  bool own = msg.from == self_id(self);
  auto refuse = [&](errc code, const std::string& why) {
    auto r = reply_msg::failure(0, error{code, why});
    r.pos.epoch = sp.epoch;
    reply(std::move(r));
  };
  if (!own) {
    if (recalling(self)) {
      refuse(errc::unavailable, self_id(self) + " is recalling its election state (its disk was replaced)");
      return;
    }
    if (msg.epoch <= sp.epoch) {
      refuse(errc::fenced,
             "epoch " + std::to_string(msg.epoch) + " is not newer than " + std::to_string(sp.epoch));
      return;
    }
    // A leader that placement still names keeps its namespace: a node with
    // a stale view cannot take it away.
    if (sp.mode == ns_mode::primary && sp.ready && placed_here(self, msg.ns)) {
      refuse(errc::not_owner, self_id(self) + " leads '" + display_name(msg.ns) + "' and is placed to");
      return;
    }
    step_down(self, msg.ns, msg.epoch);
    sp.epoch = msg.epoch;
    if (sp.mode != ns_mode::primary)
      sp.mode = ns_mode::follower;
    sp.primary = msg.from;
    sp.local_in_sync = false;
  }
  // The grant binds this node across crashes: on disk before it is answered
  // (with the other grants and copy sets that arrived meanwhile: one write).
  persist_then(self, [self, msg, reply](bool kept) { answer_grant(self, msg, reply, kept); });
}

// The second half of on_prepare, once the grant is on disk.
void answer_grant(cluster_pointer self, const call_msg& msg, std::function<void(reply_msg)> reply,
                  bool kept) {
  auto& sp = space(self, msg.ns);
  auto refuse = [&](errc code, const std::string& why) {
    auto r = reply_msg::failure(0, error{code, why});
    r.pos.epoch = sp.epoch;
    reply(std::move(r));
  };
  if (!kept) {
    refuse(errc::unavailable, self_id(self) + " cannot keep its grant on disk");
    return;
  }
  if (sp.epoch != msg.epoch) {
    // A newer epoch was granted while this one waited for the disk.
    refuse(errc::fenced,
           "epoch " + std::to_string(msg.epoch) + " was overtaken by " + std::to_string(sp.epoch));
    return;
  }
  // Every grant carries the newest copy set a leader published here
  // ("epoch|a,b,c"), with or without a copy of our own: the elector must
  // hear one of them (conclude()).
  std::string published;
  if (sp.holders_epoch > 0) {
    published = std::to_string(sp.holders_epoch) + "." + std::to_string(sp.holders_version) + "|";
    for (std::size_t i = 0; i < sp.holders.size(); ++i)
      published += (i ? "," : "") + sp.holders[i];
  }
  if (!self->state.local->has_namespace(msg.ns)) {
    reply_msg m;
    m.pos.epoch = msg.epoch;
    m.message = published;
    reply(std::move(m));
    return;
  }
  sp.holds_copy = true;
  auto actor = self->state.local->namespace_for(msg.ns);
  self->request(actor, self->state.settings.request_timeout, role_atom::value, namespace_role::replica,
                msg.epoch)
      .then(
          [reply, published](const ns_position& pos) {
            reply_msg m;
            m.pos = pos;
            m.message = published;
            reply(std::move(m));
          },
          [reply](caf::error& err) { reply(reply_msg::failure(0, from_caf_error(err))); });
}

void evaluate_placement(cluster_pointer self) {
  auto& st = self->state;
  for (const auto& key : st.local->local_namespaces())
    space(self, key).holds_copy = true;
  for (auto& [key, sp] : st.spaces) {
    auto placed = placement_of(self, key);
    if (placed.empty())
      continue;
    if (placed.front() == self_id(self)) {
      if (sp.mode == ns_mode::primary) {
        std::vector<std::string> replicas(placed.begin() + 1, placed.end());
        for (const auto& old : sp.replicas)
          if (std::find(replicas.begin(), replicas.end(), old) == replicas.end()) {
            sp.in_sync.erase(old);
            sp.retiring.insert(old); // dropped once the new set is in sync
            tell_in_sync(self, old, key, sp.epoch, false);
          }
        for (const auto& r : replicas)
          sp.retiring.erase(r);
        sp.replicas = replicas;
        for (const auto& r : replicas)
          start_catch_up(self, key, r);
      } else if (sp.mode != ns_mode::electing && (sp.holds_copy || sp.hinted)) {
        start_election(self, key);
      }
    } else {
      if (sp.mode == ns_mode::primary)
        step_down(self, key, sp.epoch);
      // The node placement names may not know this namespace yet (it just
      // joined, or came back with an empty disk): tell it.
      if (sp.holds_copy)
        notify(self, placed.front(), call_op::owner_hint, key);
    }
  }
  publish_board(self);
}

namespace {

// How long a new leader waits out a former leader's read lease. The lease
// runs on the former leader's steady clock and the wait on this one's, so
// equal lengths hold only while the two clocks run at the same rate. The
// cluster tolerates steady clocks up to 10% fast or slow (docs/cluster.md,
// "Reads"): a lease of L then lasts at most L / 0.9 of true time and a wait
// of W at least W / 1.1, so W = 1.25 L covers it (1.1 / 0.9 < 1.25).
std::int64_t lease_wait_ms(cluster_pointer self) {
  return read_lease_ms(self) * 5 / 4;
}

} // namespace

void take_confirmation(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch, bool leading) {
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::primary || sp.epoch != epoch)
    return; // stepped down, or a later term: this answer is about an old one
  if (!leading) {
    step_down(self, ns, epoch);
    return;
  }
  sp.published = true;
  if (sp.lease_out_ms == INT64_MAX) {
    // The first publication of this term. A former leader's read lease,
    // renewed by echoes that the majority sent before it knew of this
    // term, ends within a lease from now; the echoes they send after carry
    // the news, which ends its lead (take_term_notices). Until then this
    // copy serves nothing and acknowledges nothing, so that no read there
    // misses a write acknowledged here.
    note_new_term(self, ns, epoch);
    sp.lease_out_ms = now_ms(self) + lease_wait_ms(self);
    defer(self, std::chrono::milliseconds(lease_wait_ms(self)), [self, ns] { ready_if_in_sync(self, ns); });
  }
  ready_if_in_sync(self, ns);
}

// Every replica that can be caught up is in sync. A dead one cannot be
// (placement keeps it when dead_node_removal is off): waiting for it would
// only hold every request until ready_deadline_ms.
namespace {
bool live_replicas_in_sync(cluster_pointer self, const ns_state& sp) {
  return std::all_of(sp.replicas.begin(), sp.replicas.end(),
                     [&](const std::string& r) { return sp.in_sync.count(r) > 0 || !is_alive(self, r); });
}
} // namespace

void ready_if_in_sync(cluster_pointer self, const namespace_key& ns) {
  auto& sp = space(self, ns);
  if (sp.mode == ns_mode::primary && !sp.ready && sp.published && live_replicas_in_sync(self, sp))
    make_ready(self, ns);
}

void election_tick(cluster_pointer self) {
  auto now = now_ms(self);
  std::vector<namespace_key> ready, retry;
  std::size_t held = 0;
  for (auto& [key, sp] : self->state.spaces) {
    expire_waiting(self, sp);
    held += sp.waiting.size();
    if (sp.mode == ns_mode::primary && !sp.ready && sp.published &&
        (live_replicas_in_sync(self, sp) || now >= sp.ready_deadline_ms))
      ready.push_back(key);
    else if ((sp.mode == ns_mode::none || sp.mode == ns_mode::follower) &&
             (sp.holds_copy || sp.hinted || !sp.waiting.empty()) && self->state.settled &&
             now >= sp.next_election_ms && placed_here(self, key))
      retry.push_back(key);
  }
  // Counted before the elections this tick starts: a request held by one
  // of them is counted at the next tick, if it still waits.
  self->state.local->metrics().requests_held.store(held, std::memory_order_relaxed);
  for (const auto& key : ready)
    make_ready(self, key);
  for (const auto& key : retry)
    start_election(self, key);
}

} // namespace ferro::cluster
