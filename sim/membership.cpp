// Joins and departures (docs/simulation.md, "Fault model"): a node that was
// not in the cluster when it formed starts during the fault phase, and a
// node leaves for good. Both draw from member_rng_ only, so a seed whose
// coins say neither replays as it did before they existed.

#include <filesystem>

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

// Swarm only. A join comes in 3 seeds of 10, at a time in the first 60% of
// the fault phase; a departure in 3 of 10, in its middle 60%. The product
// has no decommission: a departed node stays a member that counts towards
// majorities (docs/cluster.md, "Not done yet"), so a departure needs four
// members to leave a live majority that survives one more node fault, and
// one a seed (R = 2: a second lost disk could take both copies of a write).
// A 3-node seed therefore departs only after its join.
void simulation::choose_membership() {
  if (opts_.profile != "swarm")
    return;
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(member_rng_) < p; };
  auto at = [&](double from, double to) {
    auto span = static_cast<double>(opts_.fault_seconds * 1000);
    return now() +
           static_cast<std::int64_t>(std::uniform_real_distribution<double>(from, to)(member_rng_) * span);
  };
  const bool join = coin(0.3);
  const bool leave = coin(0.3);
  if (join)
    mix_.join_at = at(0.1, 0.6);
  if (leave && (join || opts_.nodes >= 4))
    mix_.depart_at = std::max(at(0.2, 0.8), mix_.join_at);
  if (join || mix_.depart_at > 0)
    spdlog::debug("sim: membership of this seed: a join at t={}, a departure from t={} (0: none)",
                  mix_.join_at, mix_.depart_at);
}

// Runs when no node fault does (inject_faults): a join or departure is a
// node fault of its own, one at a time with the others.
bool simulation::change_membership() {
  if (mix_.join_at > 0 && now() >= mix_.join_at && result_.joins == 0) {
    join();
    return true;
  }
  if (mix_.depart_at == 0 || now() < mix_.depart_at || result_.departures > 0)
    return false;
  // Four members at least (the one leaving included), and only while every
  // namespace has all its copies: its copies must not be the last of any
  // acknowledged write (as for a replaced disk).
  if (nodes_.size() < 4 || !fully_replicated())
    return false;
  auto& n = nodes_[std::uniform_int_distribution<std::size_t>(0, nodes_.size() - 1)(member_rng_)];
  depart(n);
  return true;
}

// A new member: a new id and address, an empty disk, the founding nodes as
// its seed list (the others learn of it when it dials them). The slot was
// reserved at the start, so references to the other nodes stay valid.
void simulation::join() {
  const auto number = std::to_string(nodes_.size() + 1);
  auto& n = nodes_.emplace_back();
  n.id = std::string("s").append(number); // not "s" + ...: GCC 12's bogus -Wrestrict
  n.address = std::string("sim-").append(number).append(":4000");
  n.joined = true;
  if (mix_.max_skew_ms > 0)
    *n.skew_ms =
        std::uniform_int_distribution<std::int64_t>(-mix_.max_skew_ms, mix_.max_skew_ms)(member_rng_);
  std::filesystem::remove_all(root_ / n.id);
  spdlog::debug("sim: t={} {} joins the cluster", now(), n.id);
  start_node(n);
  n.disk->commit_failure = mix_.disk_failure;
  n.disk->sync_failure = mix_.sync_failure;
  ++result_.joins;
}

// A node taken out for good: stopped, its disk thrown away, never back.
// The others see a dead member, as after a crash.
void simulation::depart(sim_node& n) {
  spdlog::debug("sim: t={} {} leaves the cluster for good", now(), n.id);
  ++result_.departures;
  kill_process(n, false);
  n.departed = true;
  std::filesystem::remove_all(root_ / n.id);
}

} // namespace ferro::sim
