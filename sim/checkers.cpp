// The invariants (docs/simulation.md, "Invariants checked"): sampled while
// faults run (one primary per epoch), and after the heal (every answer,
// every copy).

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

void simulation::where_is(const acked_entry& e) {
  if (!std::getenv("FERRO_SIM_LOG"))
    return;
  for (auto& n : nodes_) {
    if (!n.local)
      continue;
    query_request q;
    q.ns = e.ns;
    q.embedding = e.vec;
    q.threshold = 0.999;
    q.local = true;
    n.local->query(q, [&](result<query_reply> r) {
      std::fprintf(stderr, "where is %s: %s holds it: %s (entries in ns: %s)\n", e.uuid.c_str(), n.id.c_str(),
                   r && r->hit && r->id == e.uuid ? "yes" : "no", r ? "?" : r.err().message.c_str());
    });
    auto holders = n.local->holders_of(e.uuid);
    std::fprintf(stderr, "   holders_of on %s: %zu namespaces\n", n.id.c_str(), holders.size());
  }
}

// At most one node leads a namespace at any epoch (as each one reports it).
void simulation::check_one_primary_per_epoch() {
  std::map<std::pair<std::string, std::uint64_t>, std::string> leaders;
  for (auto& n : nodes_) {
    if (n.crashed)
      continue; // its last board says what it was, not what it is
    auto status = n.board->status();
    for (const auto& [name, ns] : status.namespaces) {
      if (ns.role != "primary")
        continue;
      auto [it, fresh] = leaders.emplace(std::make_pair(name, ns.epoch), n.id);
      if (!fresh)
        fail("two primaries of '" + name + "' at epoch " + std::to_string(ns.epoch) + ": " + it->second +
             " and " + n.id);
    }
  }
}

// After the heal: every acknowledged live entry is answered by every node,
// no acknowledged delete is, and nothing is left unanswered.
void simulation::verify() {
  std::map<std::pair<std::string, std::string>, std::string> answers; // (uuid, node) -> "hit"/"miss"/error
  std::map<std::pair<std::string, std::string>, std::int64_t> answered_at;
  std::size_t expected = 0;
  auto asked_at = now();
  auto ask = [&](const acked_entry& e, sim_node& n) {
    ++expected;
    cluster::call_msg c;
    c.op = cluster::call_op::query;
    c.qry.ns = e.ns;
    c.qry.embedding = e.vec;
    c.qry.threshold = 0.999;
    route(n, std::move(c),
          [this, &answers, &answered_at, key = std::make_pair(e.uuid, n.id), e](cluster::reply_msg r) {
            answered_at[key] = now();
            if (r.ok() && r.qry_reply.hit && r.qry_reply.id != e.uuid) {
              auto other = issued_.find(r.qry_reply.id);
              if (other != issued_.end() && !(other->second.ns == e.ns))
                fail("answer across namespaces: a query in '" + display_name(e.ns) + "' at " + key.second +
                     " answered " + r.qry_reply.id + " of '" + display_name(other->second.ns) + "'");
            }
            answers[key] = !r.ok()                                         ? "error: " + r.message
                           : (r.qry_reply.hit && r.qry_reply.id == e.uuid) ? "hit"
                                                                           : "miss";
          });
  };
  // Every node in the cluster answers; one that left answers nobody.
  for (auto& [uuid, e] : live_)
    for (auto& n : nodes_)
      if (!n.departed)
        ask(e, n);
  for (auto& [uuid, e] : gone_)
    for (auto& n : nodes_)
      if (!n.departed)
        ask(e, n);
  // Entries a read missed whose fate is uncertain (a delete that got no
  // answer): only whether they are still there matters (check_reads).
  std::set<std::string> only_seen;
  for (const auto& m : read_misses_)
    if (!live_.count(m.uuid) && !gone_.count(m.uuid) && only_seen.insert(m.uuid).second)
      for (auto& n : nodes_)
        if (!n.departed)
          ask(issued_.at(m.uuid), n);
  if (!run_until([&] { return answers.size() == expected; }, 20'000))
    fail(std::to_string(expected - answers.size()) + " verification queries never answered");
  std::map<std::string, bool> present; // every node answered it
  for (auto& [key, answer] : answers) {
    auto [it, fresh] = present.emplace(key.first, true);
    it->second = it->second && answer == "hit";
  }
  for (auto& [key, answer] : answers) {
    if (only_seen.count(key.first))
      continue;
    const auto& e = entry_of(key.first);
    // Expired by every clock before it was asked: as gone as if deleted.
    bool expired = surely_expired(e, asked_at);
    bool deleted = gone_.count(key.first) > 0 || expired;
    bool must_hit = !deleted && !may_vanish(e, answered_at[key]);
    if (must_hit && answer != "hit" && failure_.empty())
      where_is(e);
    if (must_hit && answer != "hit")
      fail("acknowledged insert " + key.first + " of '" + display_name(entry_of(key.first).ns) +
           "' not answered by " + key.second + " (" + answer + ")");
    if (deleted && answer == "hit" && !uncertain_.count(key.first))
      fail((expired ? "entry " + key.first + " expired (TTL " + std::to_string(e.ttl_ms / 1000) +
                          " s, acknowledged at t=" + std::to_string(e.acked_at) + ")"
                    : "acknowledged delete of " + key.first) +
           " of '" + display_name(e.ns) + "' undone: " + key.second + " still answers it");
  }
  if (failure_.empty())
    check_reads(present);
}

// After the heal, the copies that serve reads of a namespace (its leader
// and its in-sync replicas) hold the same entries: every insert ever sent,
// answered or not, is on all of them or on none.
void simulation::check_copies_agree() {
  std::map<std::string, std::vector<sim_node*>> serving; // namespace -> nodes serving it
  for (auto& n : nodes_)
    for (const auto& [name, ns] : n.board->status().namespaces)
      if (ns.serving && !n.departed) // a departed node's board is its last word
        serving[name].push_back(&n);
  for (const auto& [uuid, e] : issued_) {
    // An entry expiring about now leaves each copy with the record of its
    // leader's scan (every second), a few ms apart: only those surely
    // expired a while ago must be gone from all. (When one that was never
    // acknowledged was stamped is not known.)
    if (e.ttl_ms > 0 && (e.acked_at == 0 || !surely_expired(e, now() - 3000)))
      continue;
    auto it = serving.find(display_name(e.ns));
    if (it == serving.end())
      continue;
    std::string with, without;
    for (auto* n : it->second) {
      auto keys = n->local->holders_of(uuid);
      bool held = std::find(keys.begin(), keys.end(), e.ns) != keys.end();
      (held ? with : without) += n->id + " ";
    }
    if (!with.empty() && !without.empty()) {
      fail("copies of '" + display_name(e.ns) + "' differ after the heal: " + uuid + " is on [" + with +
           "] but not on [" + without + "]");
      return;
    }
  }
}

// After the heal, every namespace sits where placement puts it: every
// replica its leader's placement names is in sync. A node that joined
// takes its share this way; a departed one is in no set. (Whether the
// replica serves reads is not asked: a replica that lost its connection to
// its leader stops serving and is told again only by read repair, when a
// query comes.)
void simulation::check_placement_honoured() {
  for (auto& n : nodes_) {
    if (n.departed)
      continue;
    for (const auto& [name, ns] : n.board->status().namespaces) {
      if (ns.role != "primary")
        continue;
      for (const auto& r : ns.replicas)
        if (std::find(ns.in_sync.begin(), ns.in_sync.end(), r) == ns.in_sync.end()) {
          fail("placement not honoured after the heal: " + n.id + " leads '" + name + "' but its replica " +
               r + " is not in sync");
          return;
        }
      for (auto& j : nodes_)
        if (j.joined && !j.departed &&
            (j.id == n.id || std::find(ns.replicas.begin(), ns.replicas.end(), j.id) != ns.replicas.end()))
          ++result_.joined_copies;
    }
  }
}

void simulation::dump_state() {
  if (!std::getenv("FERRO_SIM_LOG"))
    return;
  for (auto& n : nodes_) {
    if (n.departed)
      continue;
    auto st = n.board->status();
    std::string peers;
    for (auto& [id, p] : st.peers)
      peers += id + "=" + p.status + " ";
    std::fprintf(stderr, "%s: view %llu, peers %s, %zu namespaces\n", n.id.c_str(),
                 static_cast<unsigned long long>(st.placement_epoch), peers.c_str(), st.namespaces.size());
    for (auto& [name, ns] : st.namespaces) {
      std::string in_sync;
      for (auto& i : ns.in_sync)
        in_sync += i + " ";
      std::fprintf(stderr, "   %s %s e%llu serving=%d primary=%s in_sync=[%s]\n", name.c_str(),
                   ns.role.c_str(), static_cast<unsigned long long>(ns.epoch), ns.serving ? 1 : 0,
                   ns.primary.c_str(), in_sync.c_str());
    }
  }
}

} // namespace ferro::sim
