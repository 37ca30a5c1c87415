// Queues stay bounded (docs/simulation.md, "Invariants checked"): the
// cluster actor's work in flight, read from the gauges it sets on every
// tick for operators (common/metrics.hpp: calls to peers waiting for an
// answer, replicated batches waiting for the in-sync replicas, requests
// held for a namespace's primary; catch-ups running and waiting).
//
// Every such entry leaves by a deadline, so while the faults run each
// gauge stays under what the requests of the last few seconds and the
// namespaces' background work can put there, however long the run; and
// once the cluster is healed and the load has stopped, each drains to
// zero. A flood breaks the first rule; a leak (an entry nothing removes)
// breaks the second, and the planted bug `leak-answered-calls` shows that
// the check sees one.
//
// Mailboxes are not sampled: CAF's test coordinator runs every job each
// 5 ms step, so a mailbox here is always empty when the checker looks.
// What builds up instead is what the actors keep between messages.

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

namespace {

// How far back a request may have been sent and still have work in a
// node's tables: a request held for its primary up to half the 2 s request
// timeout, then its calls up to the 2 s timeout itself, all of it delayed
// by a pause of the node (up to 6 s: faults.cpp) and the network delays.
constexpr std::int64_t request_window_ms = 1000 + 2000 + 6000 + 1000;

// Background work per namespace and peer that no client request started:
// an election's prepares and push, a catch-up's calls, the notices a
// leader sends when it steps down or when a replica joins, read repairs;
// and per peer alone, a recall of the election state (one namespace more).
constexpr std::uint64_t background_per_namespace_peer = 4;

struct backlog {
  std::uint64_t calls = 0, batches = 0, held = 0, catch_ups_running = 0, catch_ups_waiting = 0;
};

backlog backlog_of(const sim_node& n) {
  auto& m = n.local->metrics();
  return {m.peer_calls_pending.load(), m.replication_batches_pending.load(), m.requests_held.load(),
          m.catchups_running.load(), m.catchups_waiting.load()};
}

} // namespace

void simulation::note_routed() {
  routed_at_.push_back(now());
}

void simulation::check_queues_bounded() {
  while (!routed_at_.empty() && routed_at_.front() < now() - request_window_ms)
    routed_at_.pop_front();
  auto recent = static_cast<std::uint64_t>(routed_at_.size());
  for (auto& n : nodes_) {
    if (n.crashed || n.paused || !n.local)
      continue; // a stopped node's gauges are as it left them
    auto peers = static_cast<std::uint64_t>(nodes_.size() - 1);
    auto namespaces = static_cast<std::uint64_t>(n.board->status().namespaces.size());
    auto background = background_per_namespace_peer * (namespaces + 1) * peers;
    auto b = backlog_of(n);
    // A request costs a node at most one call per peer (a query asks them
    // all at worst), one batch (a write its primary ships) and one hold.
    auto check = [&](const char* what, std::uint64_t value, std::uint64_t bound, std::uint64_t& peak) {
      peak = std::max(peak, value);
      if (value > bound)
        fail(n.id + " holds " + std::to_string(value) + " " + what + ", over the bound of " +
             std::to_string(bound) + " (" + std::to_string(recent) + " requests sent in the last " +
             std::to_string(request_window_ms / 1000) + " s, " + std::to_string(namespaces) + " namespaces)");
    };
    check("calls to peers waiting for an answer", b.calls, peers * recent + background, result_.peak_calls);
    check("replicated batches waiting for replicas", b.batches, recent + background, result_.peak_batches);
    check("requests held for a primary", b.held, recent, result_.peak_held);
  }
}

void simulation::check_queues_drained() {
  // Not all at one instant: expiry scans and evictions still ship records
  // now and then, so a node's backlog is zero most of the time, not at
  // every tick. Each node must show zero at some tick within the window;
  // an entry nothing removes keeps its gauge up for good.
  constexpr std::int64_t window_ms = 5000;
  std::set<std::string> drained;
  std::map<std::string, backlog> busy; ///< not drained yet, as last seen
  auto look = [&] {
    for (auto& n : nodes_) {
      if (n.crashed || !n.local || drained.count(n.id) > 0)
        continue;
      auto b = backlog_of(n);
      if (b.calls + b.batches + b.held + b.catch_ups_running + b.catch_ups_waiting == 0) {
        drained.insert(n.id);
        busy.erase(n.id);
      } else {
        busy[n.id] = b;
      }
    }
    return busy.empty();
  };
  run_until(look, window_ms);
  for (const auto& [id, b] : busy)
    fail(id + "'s queues did not drain after the heal (none empty at any tick for " +
         std::to_string(window_ms / 1000) + " s): " + std::to_string(b.calls) + " calls to peers, " +
         std::to_string(b.batches) + " replicated batches, " + std::to_string(b.held) + " held requests, " +
         std::to_string(b.catch_ups_running) + " catch-ups running, " + std::to_string(b.catch_ups_waiting) +
         " waiting");
}

} // namespace ferro::sim
