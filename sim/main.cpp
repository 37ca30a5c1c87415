// ferrocache-sim: deterministic simulation of a FerroCache cluster.
//
//   ferrocache-sim --seed S [--nodes N] [--profile lite|swarm] [--seconds T]
//                  [--crashes] [--trace FILE] [--break NAME]
//   ferrocache-sim --seeds A..B [--jobs N] [...]
//
// --trace FILE writes every node's log and the simulator's own events
// (debug level) to FILE; --break NAME switches on a planted bug that the
// checkers must catch (sim/planted_bug.cpp lists them). --jobs N splits a
// range across N forked worker processes; lines still come in seed order.
//
// One line per seed: `sim: seed S ok trace <hash>` or `sim: seed S FAILED
// <invariant>`; a range ends with `sim: N seeds, F failed` (exit 1 if F > 0).
// Same seed, same binary: same trace hash (docs/simulation.md).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "sim/planted_bug.hpp"
#include "sim/seed_runner.hpp"
#include "sim/simulation.hpp"

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: ferrocache-sim (--seed S | --seeds A..B) [--nodes 3..7] [--profile lite|swarm] "
               "[--seconds T] [--crashes] [--trace FILE] [--break NAME] [--jobs N]\n  planted bugs: %s\n",
               ferro::sim::planted_bug_names().c_str());
  std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
  std::uint64_t first = 0, last = 0;
  bool have_seed = false;
  ferro::sim::sim_options opts;
  std::string trace_file;
  unsigned jobs = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        usage();
      return argv[++i];
    };
    if (arg == "--seed") {
      first = last = std::strtoull(next().c_str(), nullptr, 10);
      have_seed = true;
    } else if (arg == "--seeds") {
      auto range = next();
      auto dots = range.find("..");
      if (dots == std::string::npos)
        usage();
      first = std::strtoull(range.substr(0, dots).c_str(), nullptr, 10);
      last = std::strtoull(range.substr(dots + 2).c_str(), nullptr, 10);
      have_seed = last >= first;
    } else if (arg == "--nodes") {
      opts.nodes = std::strtoul(next().c_str(), nullptr, 10);
    } else if (arg == "--profile") {
      opts.profile = next();
    } else if (arg == "--seconds") {
      opts.fault_seconds = std::strtoll(next().c_str(), nullptr, 10);
    } else if (arg == "--crashes") {
      opts.crashes = true;
    } else if (arg == "--jobs") {
      jobs = static_cast<unsigned>(std::strtoul(next().c_str(), nullptr, 10));
      if (jobs < 1 || jobs > 64)
        usage();
    } else if (arg == "--trace") {
      trace_file = next();
    } else if (arg == "--break") {
      if (!ferro::sim::plant_bug(next()))
        usage();
    } else {
      usage();
    }
  }
  if (jobs > 1 && !trace_file.empty())
    usage(); // one trace file, written by one process
  if (!have_seed || opts.nodes < 3 || opts.nodes > 7 || (opts.profile != "lite" && opts.profile != "swarm"))
    usage();
  // The trace is the output; FERRO_SIM_LOG=info shows the nodes' logs.
  auto* level = std::getenv("FERRO_SIM_LOG");
  if (!trace_file.empty()) {
    auto trace = spdlog::basic_logger_mt("sim-trace", trace_file, true);
    trace->set_pattern("[%l] %v"); // no wall-clock stamps: the sim's own lines carry virtual time
    spdlog::set_default_logger(trace);
    spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::debug);
  } else {
    spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::off);
  }
  auto started = std::chrono::steady_clock::now();
  auto failed = ferro::sim::run_seeds(first, last, jobs, [&](std::uint64_t seed) {
    auto o = opts;
    o.seed = seed;
    auto r = ferro::sim::run_simulation(o);
    char line[1024];
    if (r.ok)
      std::snprintf(
          line, sizeof line,
          "sim: seed %llu ok trace %016llx (%llu inserts, %llu deletes acknowledged, %llu refused, %llu "
          "retried, "
          "%llu invalidations, %llu reads, %llu partitions, %llu one-way cuts, %llu pauses, %llu crashes "
          "(%llu new "
          "disks), "
          "%llu clock "
          "jumps, "
          "%llu failed disk writes, %llu damaged reads, %llu power losses (%llu torn files, %llu unsynced "
          "commits lost), %llu joins (%llu copies on them), %llu departures, %llu drifting clocks (up to "
          "%.0f%%), %llu frames, backlog peaks: %llu calls, %llu batches, %llu held)",
          static_cast<unsigned long long>(seed), static_cast<unsigned long long>(r.trace),
          static_cast<unsigned long long>(r.acked_inserts), static_cast<unsigned long long>(r.acked_deletes),
          static_cast<unsigned long long>(r.refused), static_cast<unsigned long long>(r.retries),
          static_cast<unsigned long long>(r.acked_invalidations), static_cast<unsigned long long>(r.reads),
          static_cast<unsigned long long>(r.partitions), static_cast<unsigned long long>(r.one_way_cuts),
          static_cast<unsigned long long>(r.pauses), static_cast<unsigned long long>(r.crashes),
          static_cast<unsigned long long>(r.replaced_disks), static_cast<unsigned long long>(r.clock_jumps),
          static_cast<unsigned long long>(r.disk_failures), static_cast<unsigned long long>(r.damaged_reads),
          static_cast<unsigned long long>(r.power_losses), static_cast<unsigned long long>(r.torn_files),
          static_cast<unsigned long long>(r.lost_commits), static_cast<unsigned long long>(r.joins),
          static_cast<unsigned long long>(r.joined_copies), static_cast<unsigned long long>(r.departures),
          static_cast<unsigned long long>(r.drifting), r.max_drift * 100,
          static_cast<unsigned long long>(r.frames), static_cast<unsigned long long>(r.peak_calls),
          static_cast<unsigned long long>(r.peak_batches), static_cast<unsigned long long>(r.peak_held));
    return ferro::sim::seed_outcome{
        r.ok, r.ok ? std::string(line) : "sim: seed " + std::to_string(seed) + " FAILED " + r.failure};
  });
  if (last > first) {
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("sim: %llu seeds, %zu failed (%.1f seeds per minute)\n",
                static_cast<unsigned long long>(last - first + 1), failed, (last - first + 1) * 60.0 / secs);
  }
  return failed > 0 ? 1 : 0;
}
