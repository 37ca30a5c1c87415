// Joins and departures (docs/simulation.md, "Fault model"): a node that was
// not in the cluster when it formed starts during the fault phase, and a
// node leaves for good. Both draw from member_rng_ (the second join and
// departure of a seed choose theirs from more_members_rng_), so a seed
// whose coins say neither replays as it did before they existed.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

// Swarm only. A join comes in 3 seeds of 10, at a time in the first 60% of
// the fault phase; a departure in 3 of 10, in its middle 60%. The product
// has no decommission: a departed node stays a member that counts towards
// majorities (docs/cluster.md, "Not done yet"), so a departure must leave
// enough live members for a node that then loses its disk to recall its
// election state (may_depart), and comes only while every namespace has all
// its copies (R = 2: its copies must not be the last of any acknowledged
// write). A 3-node seed therefore departs only after its join.
//
// Then, from a generator of their own, a second join (3 seeds in 10, in
// the middle 60%) and a second departure (3 in 10 of the seeds with a
// first, after it): a departure the rules never allow does not happen.
void simulation::choose_membership() {
  if (opts_.profile != "swarm")
    return;
  auto coin = [](std::mt19937_64& rng, double p) {
    return std::uniform_real_distribution<double>(0, 1)(rng) < p;
  };
  auto at = [&](std::mt19937_64& rng, double from, double to) {
    auto span = static_cast<double>(opts_.fault_seconds * 1000);
    return now() + static_cast<std::int64_t>(std::uniform_real_distribution<double>(from, to)(rng) * span);
  };
  const bool join = coin(member_rng_, 0.3);
  const bool leave = coin(member_rng_, 0.3);
  std::int64_t join_at = 0;
  if (join)
    mix_.joins_at.push_back(join_at = at(member_rng_, 0.1, 0.6));
  if (leave && (join || opts_.nodes >= 4))
    mix_.departs_at.push_back(std::max(at(member_rng_, 0.2, 0.8), join_at));
  if (coin(more_members_rng_, 0.3)) {
    mix_.joins_at.push_back(at(more_members_rng_, 0.2, 0.8));
    std::sort(mix_.joins_at.begin(), mix_.joins_at.end());
  }
  if (!mix_.departs_at.empty() && coin(more_members_rng_, 0.3))
    mix_.departs_at.push_back(std::max(at(more_members_rng_, 0.3, 0.9), mix_.departs_at.front()));
  auto times = [](const std::vector<std::int64_t>& at) {
    std::string out;
    for (auto t : at) {
      out += out.empty() ? "" : ", ";
      out += std::to_string(t);
    }
    return out.empty() ? std::string("none") : out;
  };
  if (!mix_.joins_at.empty() || !mix_.departs_at.empty())
    spdlog::debug("sim: membership of this seed: joins at t=[{}], departures from t=[{}]",
                  times(mix_.joins_at), times(mix_.departs_at));
}

// A departure leaves L - 1 live members of M: if one of them then loses its
// disk, it recalls its election state from the others, and needs M - M/2
// of them (cluster_recall.cpp): L - 2 >= M - M/2. For the first departure
// (L = M) that is M >= 4, the rule before there were two.
bool simulation::may_depart() const {
  const auto members = nodes_.size();
  std::size_t live = 0;
  for (const auto& n : nodes_)
    live += n.departed ? 0 : 1;
  return live >= 2 && live - 2 >= members - members / 2;
}

// Runs when no node fault does (inject_faults): a join or departure is a
// node fault of its own, one at a time with the others.
bool simulation::change_membership() {
  if (result_.joins < mix_.joins_at.size() && now() >= mix_.joins_at[result_.joins] &&
      nodes_.size() < opts_.nodes + max_joins) {
    join();
    return true;
  }
  if (result_.departures >= mix_.departs_at.size() || now() < mix_.departs_at[result_.departures])
    return false;
  // Only while every namespace has all its copies: its copies must not be
  // the last of any acknowledged write (as for a replaced disk).
  if (!may_depart() || !fully_replicated())
    return false;
  std::vector<sim_node*> live;
  for (auto& n : nodes_)
    if (!n.departed)
      live.push_back(&n);
  depart(*live[std::uniform_int_distribution<std::size_t>(0, live.size() - 1)(member_rng_)]);
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
