// What the cluster actor shows the I/O threads (cluster_board): the
// members and the read lease, and one line per namespace. Events that
// concern a few namespaces replace their lines alone (publish_changes);
// ticks replace the node-wide part (publish_tick); changes in who is
// alive or in placement publish every line (publish_board).

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "cluster/edges/cluster_state.hpp"

namespace ferro::cluster {

namespace {

const char* role_name(const ns_state& ns) {
  switch (ns.mode) {
    case ns_mode::primary:
      return ns.ready ? "primary" : "primary (catching up replicas)";
    case ns_mode::follower:
      return "replica";
    case ns_mode::electing:
      return "electing";
    case ns_mode::none:
      break;
  }
  return "none";
}

board_entry entry_of(cluster_pointer self, const namespace_key& key, const ns_state& ns) {
  auto& st = self->state;
  board_entry e;
  e.name = display_name(key);
  e.shown.role = role_name(ns);
  e.shown.epoch = ns.epoch;
  e.shown.primary = ns.mode == ns_mode::follower ? ns.primary : std::string{};
  e.shown.replicas = ns.replicas;
  e.shown.in_sync.assign(ns.in_sync.begin(), ns.in_sync.end());
  e.serves = serves_by_role(self, ns);
  e.behind = !e.serves && ns.mode == ns_mode::follower && ns.holds_copy && !ns.primary.empty();
  e.leads = ns.mode == ns_mode::primary && ns.ready;
  if (e.leads) {
    auto wanted = std::min<std::size_t>(ns.replicas.size(), st.settings.replication_factor - 1);
    e.under_replicated =
        ns.in_sync.size() < wanted || placement_of(self, key).size() < st.settings.replication_factor;
  }
  return e;
}

cluster_status_reply header_of(cluster_pointer self) {
  auto& st = self->state;
  cluster_status_reply s;
  s.mode = "clustered";
  s.self_node_id = st.settings.node_id;
  s.nodes.push_back(st.settings.node_id);
  auto now = now_ms(self);
  for (auto& [id, m] : st.members) {
    s.nodes.push_back(id);
    char generation[17];
    std::snprintf(generation, sizeof generation, "%016llx", static_cast<unsigned long long>(m.incarnation));
    s.peers[id] = peer_health{std::string(to_string(m.status)), st.phi.knows(id) ? st.phi.phi(id, now) : 0.0,
                              m.incarnation == 0 ? std::string{} : std::string(generation), m.address};
    if (m.status == member_status::dead)
      s.dead_nodes.push_back(id);
  }
  std::sort(s.nodes.begin(), s.nodes.end());
  s.replication_factor = st.settings.replication_factor;
  s.placement_epoch = st.view_epoch;
  double lag = 0;
  for (auto& [id, ship] : st.ships)
    lag = std::max(lag, static_cast<double>(now - ship.started_ms) / 1000.0);
  s.replication_lag_seconds = lag;
  return s;
}

} // namespace

void publish_board(cluster_pointer self) {
  auto& st = self->state;
  std::vector<std::pair<namespace_key, board_entry>> entries;
  entries.reserve(st.spaces.size());
  for (auto& [key, ns] : st.spaces)
    entries.emplace_back(key, entry_of(self, key, ns));
  st.board->publish_all(header_of(self), read_lease_until(self), std::move(entries));
  st.unpublished.clear();
  std::set<std::string> alive;
  for (auto& [id, m] : st.members)
    if (is_alive(self, id))
      alive.insert(id);
  st.board->publish_ring(current_ring(self), std::move(alive));
}

void publish_tick(cluster_pointer self) {
  auto& st = self->state;
  st.board->publish_all(header_of(self), read_lease_until(self), {});
  // The backlog gauges (held requests: election_tick, which visits every
  // namespace anyway).
  auto& m = st.local->metrics();
  m.peer_calls_pending.store(st.calls.size(), std::memory_order_relaxed);
  m.replication_batches_pending.store(st.ships.size(), std::memory_order_relaxed);
  publish_changes(self);
}

void publish_changes(cluster_pointer self) {
  auto& st = self->state;
  for (const auto& key : st.unpublished)
    if (auto it = st.spaces.find(key); it != st.spaces.end())
      st.board->publish_entry(key, entry_of(self, key, it->second));
  st.unpublished.clear();
  st.board->publish_lease(read_lease_until(self));
}

} // namespace ferro::cluster
