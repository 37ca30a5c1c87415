// Queries while the faults run (docs/simulation.md, "Workload" and
// "Invariants checked"): at a random node, for an acknowledged entry's own
// vector, often one whose delete is on its way. Each answer is checked for
// an entry of another namespace at once; each miss is kept, and after the
// heal a miss of an entry that every node still answers is a read that saw
// a removal the cluster never made its own (or missed an acknowledged
// insert): `apply-removal-before-durable` is what it catches.

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

namespace {

constexpr int reads_per_10_steps = 2;     ///< a query in two steps of ten, besides the writes
constexpr int read_deleting_percent = 50; ///< of queries: an entry whose delete is in flight, if any

} // namespace

void simulation::issue_query() {
  if (std::uniform_int_distribution<int>(0, 9)(read_rng_) >= reads_per_10_steps || live_.empty())
    return;
  // An entry being deleted is where a removal shown too early would be
  // seen; the rest are any acknowledged entry.
  const acked_entry* target = nullptr;
  if (!deleting_.empty() && std::uniform_int_distribution<int>(0, 99)(read_rng_) < read_deleting_percent) {
    auto it = deleting_.begin();
    std::advance(it, std::uniform_int_distribution<std::size_t>(0, deleting_.size() - 1)(read_rng_));
    if (auto e = live_.find(*it); e != live_.end())
      target = &e->second;
  }
  if (!target) {
    auto it = live_.begin();
    std::advance(it, std::uniform_int_distribution<std::size_t>(0, live_.size() - 1)(read_rng_));
    target = &it->second;
  }
  // Half the queries go to a node that says it leads the entry's
  // namespace (one that has not heard yet that it was deposed, too): a
  // leader answers from its own copy, where a removal it has not made the
  // cluster's own yet would show.
  std::vector<sim_node*> leaders;
  if (std::uniform_int_distribution<int>(0, 1)(read_rng_) == 0)
    for (auto& node : nodes_)
      if (!node.crashed)
        if (auto st = node.board->status().namespaces;
            st.count(display_name(target->ns)) && st[display_name(target->ns)].role == "primary")
          leaders.push_back(&node);
  auto& n = leaders.empty()
                ? nodes_[std::uniform_int_distribution<std::size_t>(0, nodes_.size() - 1)(read_rng_)]
                : *leaders[std::uniform_int_distribution<std::size_t>(0, leaders.size() - 1)(read_rng_)];
  if (n.crashed)
    return;
  cluster::call_msg c;
  c.op = cluster::call_op::query;
  c.qry.ns = target->ns;
  c.qry.embedding = target->vec;
  c.qry.threshold = 0.999;
  auto sent = now();
  route(n, std::move(c), [this, &n, e = *target, sent](cluster::reply_msg r) {
    ++result_.reads;
    if (!r.ok())
      return; // refused (no lease, no leader): proves nothing
    if (r.qry_reply.hit && r.qry_reply.id == e.uuid)
      return;
    if (r.qry_reply.hit) {
      auto other = issued_.find(r.qry_reply.id);
      if (other != issued_.end() && !(other->second.ns == e.ns)) {
        fail("answer across namespaces: a query in '" + display_name(e.ns) + "' at " + n.id + " answered " +
             r.qry_reply.id + " of '" + display_name(other->second.ns) + "'");
        return;
      }
    }
    spdlog::debug("sim: t={} query for {} of '{}' sent t={} at {}: {}", now(), e.uuid, display_name(e.ns),
                  sent, n.id, r.qry_reply.hit ? "answered " + r.qry_reply.id : std::string("miss"));
    read_misses_.push_back(read_miss{e.uuid, n.id, sent, now()});
  });
}

void simulation::check_reads(const std::map<std::string, bool>& present_after_heal) {
  for (const auto& m : read_misses_) {
    auto present = present_after_heal.find(m.uuid);
    if (present == present_after_heal.end() || !present->second)
      continue; // gone after the heal too: whatever removed it, the read saw it
    const auto& e = issued_.at(m.uuid);
    if (e.acked_at == 0 || e.acked_at > m.sent_at || may_vanish(e, m.answered_at))
      continue; // not yet acknowledged when asked, or it may have expired, been evicted or invalidated
    if (failure_.empty())
      where_is(e);
    fail("a query at " + m.node + " (sent t=" + std::to_string(m.sent_at) +
         ", answered t=" + std::to_string(m.answered_at) + ") found acknowledged entry " + m.uuid + " of '" +
         display_name(e.ns) +
         "' gone, yet every node answers it after the heal: a removal seen before the cluster held it");
    return;
  }
}

} // namespace ferro::sim
