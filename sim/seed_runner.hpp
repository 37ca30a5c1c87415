#pragma once

#include <cstdint>
#include <functional>
#include <string>

/// Runs a range of seeds, in this process or split across forked worker
/// processes, and prints each seed's line in seed order (docs/simulation.md,
/// "Running it"). A seed's run depends on its seed only, so where it runs
/// changes nothing in it.
namespace ferro::sim {

struct seed_outcome {
  bool ok = false;
  std::string line; ///< "sim: seed S ...", without the newline
};

/// Runs `run_one` for every seed of first..last on `jobs` worker processes
/// (1: in this process; more: fork()ed before the first run, so call it
/// before any actor system exists). Prints each line in seed order and
/// returns how many seeds failed; a worker that dies fails its missing seeds.
std::size_t run_seeds(std::uint64_t first, std::uint64_t last, unsigned jobs,
                      const std::function<seed_outcome(std::uint64_t)>& run_one);

} // namespace ferro::sim
