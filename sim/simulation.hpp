#pragma once

#include <cstdint>
#include <string>

/// One deterministic run of a FerroCache cluster in a single process: the
/// real node, namespace, storage and cluster actors on CAF's test
/// coordinator (virtual time, one job at a time), peers talking through
/// sim_network, every random choice drawn from one seed. docs/simulation.md.
namespace ferro::sim {

struct sim_options {
  std::uint64_t seed = 1;
  std::size_t nodes = 3;
  std::int64_t fault_seconds = 20; ///< virtual time with faults and load
  std::int64_t heal_seconds = 15;  ///< then no faults, no load, until checked
  /// lite: partitions and delays; swarm: per seed, also frame loss, full
  /// disks, pauses, one-way cuts, clock jumps, TTLs, invalidations, LRU caps
  std::string profile = "lite";
  /// Also crash nodes (kill -9) and restart them on their data. Off by
  /// default: it finds losses not fixed yet (docs/simulation.md).
  bool crashes = false;
};

struct sim_result {
  bool ok = false;
  std::string failure; ///< the invariant broken, and where
  std::uint64_t trace = 0;
  std::uint64_t acked_inserts = 0;
  std::uint64_t acked_deletes = 0;
  std::uint64_t refused = 0;
  std::uint64_t partitions = 0;
  std::uint64_t frames = 0;
  std::uint64_t disk_failures = 0;  ///< write transactions a full disk refused and fsyncs that failed
  std::uint64_t crashes = 0;        ///< nodes killed (and restarted on their data)
  std::uint64_t replaced_disks = 0; ///< of them: restarted on an empty data folder instead
  std::uint64_t pauses = 0;         ///< nodes stopped for a while (SIGSTOP)
  std::uint64_t one_way_cuts = 0;   ///< faults that cut some directions only
  std::uint64_t clock_jumps = 0;    ///< wall clocks stepped
  std::uint64_t acked_invalidations = 0;
  std::uint64_t retries = 0;       ///< refused inserts a client sent again
  std::uint64_t damaged_reads = 0; ///< records and snapshot files read back bad
  std::uint64_t power_losses = 0;  ///< crashes that lost what was not synced
  std::uint64_t torn_files = 0;    ///< files of unpublished snapshots torn by them
  std::uint64_t lost_commits = 0;  ///< LMDB commits no fsync had covered, lost by them
  std::uint64_t reads = 0;         ///< queries answered while the faults ran
  std::uint64_t joins = 0;         ///< nodes that joined during the faults (new id, empty disk)
  std::uint64_t joined_copies = 0; ///< copies a joined node holds after the heal (leading or in sync)
  std::uint64_t departures = 0;    ///< nodes that left for good
  std::uint64_t drifting = 0;      ///< nodes whose steady clock runs fast or slow
  double max_drift = 0;            ///< the largest of their rates' distance from 1
  /// The most work in flight one node held at a sample (queue_check.cpp).
  std::uint64_t peak_calls = 0;
  std::uint64_t peak_batches = 0;
  std::uint64_t peak_held = 0;
};

sim_result run_simulation(const sim_options& opts);

} // namespace ferro::sim
