// What goes wrong in a simulation (docs/simulation.md, "Fault model"): the
// seed's fault mix, then node faults one at a time (a partition, a one-way
// cut, a stopped process, a crash) and wall clocks that jump.

#include <algorithm>
#include <cmath>

#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

// lite: fixed, gentle faults. swarm: each seed switches fault kinds on or
// off and picks its own rates (swarm testing: a seed that runs only a few
// kinds, hard, reaches states that every kind at once would not).
void simulation::choose_faults() {
  if (opts_.profile == "swarm") {
    auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; };
    auto log_uniform = [&](double lo, double hi) {
      return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng_));
    };
    auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); };
    mix_.loss = coin(0.7) ? log_uniform(1.0 / 5000, 1.0 / 500) : 0;
    mix_.max_delay_ms = std::uniform_int_distribution<int>(5, 40)(rng_);
    mix_.disk_failure = coin(0.6) ? log_uniform(1.0 / 1000, 1.0 / 100) : 0;
    mix_.node_faults_per_mille = coin(0.85) ? std::uniform_int_distribution<int>(1, 6)(rng_) : 0;
    mix_.crash_share = uniform(0.2, 0.7);
    mix_.pause_share = coin(0.5) ? uniform(0.2, 0.6) : 0;
    mix_.one_way_share = coin(0.5) ? uniform(0.3, 0.8) : 0;
    if (coin(0.5)) {
      mix_.max_skew_ms = std::uniform_int_distribution<std::int64_t>(200, 5000)(rng_);
      mix_.skew_jumps_per_mille = std::uniform_int_distribution<int>(1, 10)(rng_);
    }
    mix_.sync_failure = coin(0.3) ? log_uniform(1.0 / 2000, 1.0 / 200) : 0;
    mix_.replace_share = coin(0.4) ? uniform(0.2, 0.6) : 0;
    // Disk damage draws from its own generator: the seeds drawn above, with
    // both of these off, replay exactly as before they existed.
    auto damage_coin = [&](double p) {
      return std::uniform_real_distribution<double>(0, 1)(damage_rng_) < p;
    };
    mix_.corrupt_read = damage_coin(0.3) ? std::exp(std::uniform_real_distribution<double>(
                                               std::log(1.0 / 500), std::log(1.0 / 4))(damage_rng_))
                                         : 0;
    mix_.power_loss_share =
        damage_coin(0.4) ? std::uniform_real_distribution<double>(0.3, 1.0)(damage_rng_) : 0;
    spdlog::debug("sim: faults of this seed: loss {:.5f}, delays 1-{} ms, disk {:.4f}, fsync {:.4f}, node "
                  "faults {}/1000 "
                  "steps, crash share {:.2f}, pause share {:.2f}, one-way share {:.2f}, clocks off by up to "
                  "{} ms, {} jumps/1000 steps, corrupt reads {:.4f}, power-loss share {:.2f}",
                  mix_.loss, mix_.max_delay_ms, mix_.disk_failure, mix_.sync_failure,
                  mix_.node_faults_per_mille, mix_.crash_share, mix_.pause_share, mix_.one_way_share,
                  mix_.max_skew_ms, mix_.skew_jumps_per_mille, mix_.corrupt_read, mix_.power_loss_share);
  }
  net_.set_faults(net_faults{mix_.loss, 1, mix_.max_delay_ms});
  disk_faults_on_ = true;
  for (auto& n : nodes_) {
    n.disk->commit_failure = mix_.disk_failure;
    n.disk->sync_failure = mix_.sync_failure;
    n.disk->corrupt_read = mix_.corrupt_read;
    if (mix_.max_skew_ms > 0)
      *n.skew_ms = std::uniform_int_distribution<std::int64_t>(-mix_.max_skew_ms, mix_.max_skew_ms)(rng_);
  }
}

// One node fault at a time: a node crashed (--crashes), stopped, cut off
// from every other node, or cut one way from some; it ends after a while.
void simulation::inject_faults() {
  jump_clocks();
  for (auto& n : nodes_)
    if (n.crashed && !n.departed) {
      if (now() >= n.restart_at)
        restart(n);
      return;
    }
  for (auto& n : nodes_)
    if (n.paused) {
      if (now() >= n.resume_at)
        resume(n);
      return;
    }
  if (!cut_now_.empty() || !one_way_now_.empty()) {
    if (now() >= heal_at_)
      heal_cuts();
    return;
  }
  if (change_membership())
    return;
  if (std::uniform_int_distribution<int>(0, 999)(rng_) >= mix_.node_faults_per_mille)
    return;
  auto& chosen = nodes_[std::uniform_int_distribution<std::size_t>(0, nodes_.size() - 1)(rng_)];
  if (chosen.departed)
    return;
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; };
  // --crashes: a share of the faults are crashes (kill -9), back after 1-4 s.
  if (opts_.crashes && coin(mix_.crash_share)) {
    chosen.restart_at = now() + std::uniform_int_distribution<std::int64_t>(1000, 4000)(rng_);
    // At most one disk a seed: two lost at once may lose both copies of
    // an acknowledged write (R = 2), which the cluster does not promise.
    chosen.new_disk = result_.replaced_disks == 0 && mix_.replace_share > 0 && coin(mix_.replace_share) &&
                      fully_replicated();
    crash(chosen);
    return;
  }
  if (mix_.pause_share > 0 && coin(mix_.pause_share)) {
    pause(chosen, now() + std::uniform_int_distribution<std::int64_t>(1000, 6000)(rng_));
    return;
  }
  auto victim = chosen.id;
  if (mix_.one_way_share > 0 && coin(mix_.one_way_share)) {
    // The victim cannot reach some of the others, or some cannot reach it;
    // the other direction works.
    bool outbound = coin(0.5);
    for (auto& n : nodes_)
      if (n.id != victim && (one_way_now_.empty() || coin(0.5))) {
        auto from = outbound ? victim : n.id;
        auto to = outbound ? n.id : victim;
        net_.cut_one_way(from, to, true);
        one_way_now_.emplace_back(from, to);
      }
    ++result_.one_way_cuts;
  } else {
    for (auto& n : nodes_)
      if (n.id != victim) {
        net_.cut(victim, n.id, true);
        cut_now_.emplace_back(victim, n.id);
      }
    ++result_.partitions;
  }
  heal_at_ = now() + std::uniform_int_distribution<std::int64_t>(1000, 4000)(rng_);
}

// Every cut running now (a partition or one-way cuts) heals.
void simulation::heal_cuts() {
  for (auto& [a, b] : cut_now_)
    net_.cut(a, b, false);
  for (auto& [a, b] : one_way_now_)
    net_.cut_one_way(a, b, false);
  cut_now_.clear();
  one_way_now_.clear();
}

// The end of the fault phase: every cut heals, every node runs, delays and
// disks are back to normal. Clocks stay as skewed as they are: machines'
// clocks do not agree after a fault either.
void simulation::end_faults() {
  heal_cuts();
  for (auto& n : nodes_) {
    if (n.crashed && !n.departed)
      restart(n);
    if (n.paused)
      resume(n);
  }
  net_.set_faults(net_faults{0, 1, 5});
  disk_faults_on_ = false;
  for (auto& n : nodes_) {
    result_.disk_failures += n.disk->failures;
    result_.damaged_reads += std::exchange(n.disk->damaged_reads, 0);
    n.disk->commit_failure = 0;
    n.disk->sync_failure = 0;
    n.disk->corrupt_read = 0; // bytes already bad on a disk stay bad
  }
}

// A process crash: the node vanishes from the network at once (both ends
// of its connections see them break), its client's requests never get an
// answer, and whatever its store committed stays (LMDB commits are
// durable; the group commit's unwritten batch is lost with the process).
void simulation::crash(sim_node& n) {
  spdlog::debug("sim: t={} crash {}", now(), n.id);
  ++result_.crashes;
  // Bytes found bad on its disk when it comes back are a second failure
  // unless every namespace has all its copies now (as for a replaced disk).
  n.rot_on_restart = mix_.corrupt_read > 0 && fully_replicated();
  if (n.rot_on_restart)
    spdlog::debug("sim: t={} {} may find bytes bad on its disk when it restarts", now(), n.id);
  const bool power_loss = mix_.power_loss_share > 0 &&
                          std::uniform_real_distribution<double>(0, 1)(damage_rng_) < mix_.power_loss_share;
  kill_process(n, power_loss);
}

void simulation::kill_process(sim_node& n, bool power_loss) {
  *n.up = false;
  in_flight_ -= static_cast<std::int64_t>(n.in_flight);
  n.in_flight = 0;
  for (const auto& uuid : n.deletes_in_flight) {
    // It may or may not have happened: neither answer proves anything now.
    deleting_.erase(uuid);
    forget(uuid);
  }
  n.deletes_in_flight.clear();
  auto invalidations = std::move(n.invalidations_in_flight);
  n.invalidations_in_flight.clear();
  for (auto number : invalidations)
    settle_invalidation(number, nullptr);
  net_.set_down(n.id, true);
  caf::anon_send_exit(n.actor, caf::exit_reason::kill);
  if (power_loss) {
    kill_abruptly(n);
  } else {
    bool stopped = false;
    n.local->stop([&] { stopped = true; });
    for (int i = 0; i < 2000 && !stopped; ++i)
      step();
  }
  n.local.reset();
  result_.damaged_reads += std::exchange(n.disk->damaged_reads, 0);
  // Before the power loss adds its own torn tail.
  check_election_file(n, "at its crash");
  if (power_loss)
    lose_unsynced(n);
  n.crashed = true;
  n.up = std::make_shared<bool>(true);
}

bool simulation::fully_replicated() const {
  std::map<std::string, cluster_status_reply> views;
  for (const auto& n : nodes_) {
    if (n.departed)
      continue; // the others hold it dead: placement left it
    if (n.crashed || !n.board)
      return false;
    views.emplace(n.id, n.board->status());
  }
  // A replica counts once it serves the namespace: its leader tells it so
  // only after a majority confirmed the copy set with it. Before that, the
  // newest set the cluster knows may still be the leader alone, and an
  // election after that leader's disk is gone waits for it forever (5-node
  // swarm seed 76: a departure right after a replica joined).
  auto serves = [&](const std::string& id, const std::string& name) {
    auto view = views.find(id);
    if (view == views.end())
      return false;
    auto ns = view->second.namespaces.find(name);
    return ns != view->second.namespaces.end() && ns->second.serving;
  };
  std::set<std::string> names, covered;
  for (const auto& [id, view] : views)
    for (const auto& [name, ns] : view.namespaces) {
      names.insert(name);
      if (ns.role == "primary" && ns.replicas.size() + 1 >= 2 && ns.in_sync.size() >= ns.replicas.size() &&
          std::all_of(ns.in_sync.begin(), ns.in_sync.end(), [&](const auto& r) { return serves(r, name); }))
        covered.insert(name);
    }
  return names == covered;
}

void simulation::restart(sim_node& n) {
  spdlog::debug("sim: t={} restart {}", now(), n.id);
  n.crashed = false;
  if (n.new_disk) {
    // The disk was replaced: the log, the snapshots and the election state
    // (the grants it made) are gone.
    spdlog::debug("sim: t={} {} comes back with an empty disk", now(), n.id);
    n.new_disk = false;
    ++result_.replaced_disks;
    std::filesystem::remove_all(root_ / n.id);
    n.rotten->clear();
  }
  start_node(n);
  net_.set_down(n.id, false);
}

// A stopped process (SIGSTOP, a long GC pause, a VM migration): the network
// holds what reaches it and what it sends (sim_network::set_paused); its
// client's requests and the answers to them wait here.
void simulation::pause(sim_node& n, std::int64_t until) {
  spdlog::debug("sim: t={} pause {} until {}", now(), n.id, until);
  ++result_.pauses;
  n.paused = true;
  n.resume_at = until;
  net_.set_paused(n.id, true);
}

void simulation::resume(sim_node& n) {
  spdlog::debug("sim: t={} resume {}", now(), n.id);
  n.paused = false;
  net_.set_paused(n.id, false);
  auto held = std::move(n.held);
  n.held.clear();
  for (auto& fn : held)
    fn();
}

// Now and then one node's wall clock is stepped (NTP, an operator, a VM
// restored): to a new offset from true time, forward or backward.
void simulation::jump_clocks() {
  if (mix_.skew_jumps_per_mille == 0 ||
      std::uniform_int_distribution<int>(0, 999)(rng_) >= mix_.skew_jumps_per_mille)
    return;
  auto& n = nodes_[std::uniform_int_distribution<std::size_t>(0, nodes_.size() - 1)(rng_)];
  auto before = *n.skew_ms;
  *n.skew_ms = std::uniform_int_distribution<std::int64_t>(-mix_.max_skew_ms, mix_.max_skew_ms)(rng_);
  spdlog::debug("sim: t={} the clock of {} jumps from {:+} ms to {:+} ms", now(), n.id, before, *n.skew_ms);
  ++result_.clock_jumps;
}

} // namespace ferro::sim
