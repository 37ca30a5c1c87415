// Steady-clock rate drift (docs/simulation.md, "Fault model"): a node whose
// clock runs fast or slow. CAF's timers all run on the test coordinator's
// one virtual clock, so the drift is modelled by what the node measures
// with it: every duration it is configured with (heartbeat interval, and
// so its read lease and phi detector; replication and request timeouts;
// expiry scans) lasts settings / rate in true time (start_node). That is
// what a machine whose clock runs at `rate` does with the same settings.

#include <cmath>

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

// Swarm only, 3 seeds in 10: one node runs 2-10% fast or slow for the
// whole seed (restarts included: the clock is the machine's), and in half
// of those a second node drifts the other way, so that two clocks differ
// by up to 1.1 / 0.9. The bound the product is built for (docs/cluster.md,
// "Reads": every steady clock within 10% of true rate) is never exceeded.
void simulation::choose_drift() {
  if (opts_.profile != "swarm")
    return;
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(drift_rng_) < p; };
  if (!coin(0.3))
    return;
  auto pick = [&] { return std::uniform_int_distribution<std::size_t>(0, opts_.nodes - 1)(drift_rng_); };
  const double sign = coin(0.5) ? 1 : -1;
  const auto first = pick();
  std::vector<std::pair<std::size_t, double>> rates{
      {first, 1 + sign * std::uniform_real_distribution<double>(0.02, 0.10)(drift_rng_)}};
  if (coin(0.5))
    if (auto second = pick(); second != first)
      rates.emplace_back(second, 1 - sign * std::uniform_real_distribution<double>(0.02, 0.10)(drift_rng_));
  for (auto [index, rate] : rates) {
    drift_[index] = rate;
    ++result_.drifting;
    result_.max_drift = std::max(result_.max_drift, std::abs(rate - 1));
    spdlog::debug("sim: the steady clock of s{} runs at {:.3f} x true time", index + 1, rate);
  }
}

} // namespace ferro::sim
