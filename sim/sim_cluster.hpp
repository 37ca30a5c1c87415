#pragma once

// The simulation's internals, shared by its parts: simulation.cpp (the run:
// nodes, steps, phases), faults.cpp (what goes wrong), workload.cpp (what
// clients ask) and checkers.cpp (the invariants). Not an interface: only
// sim/*.cpp include it.

#include <chrono>
#include <deque>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/node.hpp"
#include "cluster/edges/cluster_actor.hpp"
#include "sim/sim_network.hpp"
#include "sim/simulation.hpp"
#include "storage/io_faults.hpp"

namespace ferro::sim {

constexpr std::int64_t step_ms = 5;
constexpr std::int64_t epoch_wall_ms = 1'700'000'000'000;
constexpr std::size_t dim = 8;
/// Nodes that may join a seed's cluster (membership.cpp): the simulation
/// keeps a slot for each from the start.
constexpr std::size_t max_joins = 2;

// Items (a log record, a snapshot file) whose bytes are bad on a node's
// disk: (what the store calls the item, hash of its good bytes). Keyed by
// the bytes too, so that a rewrite of the item (a new record at the same
// number, a new snapshot) is a new item. It outlives restarts, as a disk does.
using rotten_items = std::set<std::pair<std::string, std::size_t>>;

// A disk that now and then refuses a write transaction, as a full disk
// (ENOSPC) would (nothing of the failed step happens), or fails an fsync
// after the commit, as a dying disk would (the store then voids the batch
// it had committed), or returns bad bytes for a record or snapshot file
// (sim_disk.cpp). Driven by the simulation's own generators, on the
// simulation's one thread.
struct sim_disk final : io_faults {
  std::mt19937_64* rng = nullptr;
  std::mt19937_64* damage_rng = nullptr; ///< corrupt reads (kept apart: older seeds replay as they did)
  double commit_failure = 0;             ///< probability per commit; 0 outside the fault phase
  double sync_failure = 0;               ///< probability per fsync; 0 outside the fault phase
  double corrupt_read = 0;               ///< probability per record or snapshot file read
  /// The reads now are a restart's recovery, whose damage stays on the disk
  /// (see docs/simulation.md, "Corrupt reads"); other reads' damage is gone
  /// on the next read.
  bool rot = false;
  std::shared_ptr<rotten_items> rotten = std::make_shared<rotten_items>();
  std::uint64_t failures = 0;
  std::uint64_t damaged_reads = 0;
  /// data.mdb, and the newest LMDB transaction an fsync made durable: a
  /// power loss forgets any newer one (lose_unsynced).
  std::filesystem::path lmdb_file;
  std::uint64_t synced_txnid = 0;
  status before_commit() override;
  status before_sync() override;
  void after_read(std::string_view what, std::string& bytes) override;
};

/// The newest transaction id of an LMDB data file's two meta pages (0 if it
/// cannot be read).
std::uint64_t newest_lmdb_txnid(const std::filesystem::path& data_file);

/// What a power loss does to an LMDB data file whose store is closed: its
/// newest commit is lost unless an fsync covered it (its transaction id is
/// not above `synced_txnid`). Returns whether one was lost.
bool revert_unsynced_meta(const std::filesystem::path& data_file, std::uint64_t synced_txnid);

/// Why an election file's text breaks its format's promise (every line
/// before the last newline reads back; only a torn tail may follow), or
/// empty when it keeps it (election_file_check.cpp).
std::string election_file_damage(std::string text);

struct sim_node {
  std::string id;
  std::string address;
  std::unique_ptr<cluster::peer_link> link;
  std::shared_ptr<cluster::cluster_board> board;
  caf::actor actor;
  std::unique_ptr<node> local;
  std::shared_ptr<sim_disk> disk;
  // Crashes (swarm): requests this node's client sent die with it.
  std::shared_ptr<bool> up = std::make_shared<bool>(true);
  std::size_t in_flight = 0;
  std::set<std::string> deletes_in_flight;
  std::set<std::uint64_t> invalidations_in_flight;
  bool crashed = false;
  std::int64_t restart_at = 0;
  bool new_disk = false; ///< comes back from its crash with an empty data folder
  /// Its restart's recovery may find bytes bad on its disk (corrupt reads):
  /// only after a crash while every namespace had all its copies.
  bool rot_on_restart = false;
  std::shared_ptr<rotten_items> rotten = std::make_shared<rotten_items>();
  /// What this node's wall clock (ns.clock: TTLs, timestamps) reads ahead
  /// of true time; its actor clock and timers stay on virtual time.
  std::shared_ptr<std::int64_t> skew_ms = std::make_shared<std::int64_t>(0);
  /// How fast its steady clock runs against true time (1.02: 2% fast):
  /// its timers and the durations it measures (heartbeats, leases, phi,
  /// timeouts, expiry scans) are its settings divided by this (clock_drift.cpp).
  double clock_rate = 1.0;
  /// Not in the cluster when it formed: started during the fault phase
  /// with an empty disk (membership.cpp). Draws from member_rng_.
  bool joined = false;
  /// Left for good (stopped, its disk discarded, never restarted); also
  /// `crashed`, so that no request goes to it. The others hold it dead.
  bool departed = false;
  /// Stopped (SIGSTOP): its client's requests and the answers to them wait.
  bool paused = false;
  std::int64_t resume_at = 0;
  std::vector<std::function<void()>> held;
};

struct acked_entry {
  std::string uuid;
  namespace_key ns;
  std::vector<float> vec;
  bool twin = false;         ///< its vector was copied from an entry of another tenant
  std::int64_t sent_at = 0;  ///< when its insert was sent (virtual ms)
  std::int64_t acked_at = 0; ///< when it was acknowledged
  std::int64_t ttl_ms = 0;   ///< 0: never expires
};

// What a seed's faults are (choose_faults): lite has fixed gentle ones,
// swarm picks kinds and rates per seed.
struct fault_mix {
  double loss = 0;               ///< per frame
  int max_delay_ms = 5;          ///< one-way delays are 1..max
  double disk_failure = 0;       ///< per write transaction
  double sync_failure = 0;       ///< per fsync
  int node_faults_per_mille = 3; ///< per 5 ms step: a node fault starts (when none runs)
  double crash_share = 1.0 / 3;  ///< of node faults, with --crashes
  double replace_share = 0;      ///< of crashes: the node comes back with an empty disk (once a seed)
  double pause_share = 0;        ///< of the other node faults: a node stopped 1-6 s
  double one_way_share = 0;      ///< of the rest: one-way cuts instead of a symmetric partition
  std::int64_t max_skew_ms = 0;  ///< wall clocks read up to this far off true time, either way
  int skew_jumps_per_mille = 0;  ///< per step: one node's clock jumps to a new offset
  double corrupt_read = 0;       ///< per record or snapshot file read: bad bytes
  double power_loss_share = 0;   ///< of crashes: what was not synced is lost, temp files torn
  /// Virtual ms, in order: a new node joins at each (or later), at most
  /// max_joins of them (membership.cpp).
  std::vector<std::int64_t> joins_at;
  /// Virtual ms, in order: a node leaves for good at each, or later (once
  /// the rules for a departure allow it; membership.cpp).
  std::vector<std::int64_t> departs_at;
};

// What a seed's clients ask besides inserts and deletes (choose_workload).
struct workload_mix {
  double ttl_share = 0; ///< of inserts: with a TTL of 1..max_ttl_s
  int max_ttl_s = 0;
  int invalidations_per_mille = 0;    ///< of requests: a radius invalidation
  std::optional<std::size_t> lru_cap; ///< every namespace's LRU cap
  double retry_share = 0;             ///< of refused inserts: sent again, same id
};

class simulation {
public:
  explicit simulation(const sim_options& o);
  ~simulation();
  sim_result run();

  // ---- simulation.cpp: the run
  std::int64_t now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(sched_->clock().now().time_since_epoch())
        .count();
  }
  void step();
  void watch();
  void start_nodes();
  void start_node(sim_node& n);
  template <class Pred>
  bool run_until(Pred done, std::int64_t max_ms) {
    for (std::int64_t t = 0; t < max_ms && !done(); t += step_ms)
      step();
    return done();
  }
  /// Sends a client request to node `n`'s cluster actor; `done` runs with
  /// its answer (never, if `n` crashes first; after it resumes, if paused).
  void route(sim_node& n, cluster::call_msg call, std::function<void(cluster::reply_msg)> done);
  void fail(const std::string& why);

  // ---- faults.cpp
  void choose_faults();
  void inject_faults();
  void end_faults();
  void heal_cuts();
  void crash(sim_node& n);
  void restart(sim_node& n);
  /// Whether every namespace has a ready primary with its full in-sync set:
  /// only then may a crashed node lose its disk without losing a write the
  /// cluster acknowledged (an earlier fault may have left one copy only).
  bool fully_replicated() const;
  void pause(sim_node& n, std::int64_t until);
  void resume(sim_node& n);
  void jump_clocks();
  /// The fault that kills a node, shared by crashes and departures: it
  /// leaves the network, its client's requests die with it, its store
  /// stops (abruptly on a power loss).
  void kill_process(sim_node& n, bool power_loss);

  // ---- membership.cpp: joins and departures
  void choose_membership();
  /// A join or departure that is due, when no node fault runs; true if one happened.
  bool change_membership();
  /// Whether a node may leave for good now (enough live members stay).
  bool may_depart() const;
  void join();
  void depart(sim_node& n);

  // ---- clock_drift.cpp
  /// Before the nodes start: which nodes' steady clocks run fast or slow.
  void choose_drift();

  // ---- sim_disk.cpp
  /// A crash that loses what the node's disk had not made durable (power
  /// loss, a kernel crash): the newest LMDB commit no fsync covered, and the
  /// files of unpublished snapshots. Runs once the node's store is closed.
  void lose_unsynced(sim_node& n);
  /// The kill of a power-loss crash: the node dies a few steps into its
  /// stop, mid-way through its final snapshots, instead of after them.
  void kill_abruptly(sim_node& n);

  // ---- workload.cpp
  void choose_workload();
  void issue_load();
  void issue_delete(sim_node& n);
  void issue_insert(sim_node& n);
  void send_insert(sim_node& n, acked_entry e);
  void issue_retries();
  void issue_invalidation(sim_node& n);
  /// An invalidation's outcome: its answer, or none (its node crashed).
  void settle_invalidation(std::uint64_t number, const cluster::reply_msg* reply);
  void end_lingering(bool all);
  /// How long an invalidation that failed (refused, timed out, its node
  /// crashed) may still take effect: a leader runs a request that waited
  /// for the lead at most half the 2 s request timeout after it arrived; it
  /// arrives within two network delays, or up to 6 s late at a stopped leader.
  std::int64_t invalidation_linger_ms() const {
    return 1000 + 2 * mix_.max_delay_ms + 2 * step_ms + (mix_.pause_share > 0 ? 6000 : 0);
  }
  /// The entry may be gone without anyone deleting it (expired, evicted,
  /// or inside the radius of an invalidation): its absence proves nothing.
  bool may_vanish(const acked_entry& e, std::int64_t at) const;
  /// Past any node's reading of its expiry: no node may answer it at `at`.
  bool surely_expired(const acked_entry& e, std::int64_t at) const;
  void forget(const std::string& uuid); ///< its outcome is uncertain from now on

  // ---- reads.cpp
  void issue_query();
  /// A read that found an acknowledged entry gone must not find it again:
  /// checked after verify(), against what every node answers then.
  void check_reads(const std::map<std::string, bool>& present_after_heal);

  // ---- checkers.cpp
  void check_one_primary_per_epoch();
  void verify();
  void check_copies_agree();
  void check_placement_honoured();
  void dump_state();

  // ---- queue_check.cpp
  /// A client request was sent (the bounds below scale with how many).
  void note_routed();
  /// While the faults run: every node's work in flight stays under what
  /// recent requests and background work can put there.
  void check_queues_bounded();
  /// After the heal, with no load: every node's work in flight is done.
  void check_queues_drained();

  // ---- election_file_check.cpp
  /// Every line of `n`'s election file before its last newline reads back
  /// (only a torn tail may follow); `when` says when it was read.
  void check_election_file(const sim_node& n, const char* when);
  void where_is(const acked_entry& e);
  const acked_entry& entry_of(const std::string& uuid) {
    return live_.count(uuid) ? live_[uuid] : gone_[uuid];
  }

  sim_options opts_;
  std::mt19937_64 rng_;
  std::mt19937_64 disk_rng_{rng_() ^ 0xD15C};
  /// Corrupt reads and power losses draw here, not from rng_ or disk_rng_:
  /// seeds with both off replay exactly as before they existed.
  std::mt19937_64 damage_rng_{opts_.seed * 0xD6E8FEB86659FD93ull + 0xDA3A6E};
  /// Catch-ups each node runs at once (cluster_settings::max_catch_ups).
  std::size_t catch_up_slots_ = defaults::cluster::max_concurrent_catch_ups;
  /// Joins and departures (membership.cpp) and clock drift (clock_drift.cpp)
  /// draw from generators of their own, for the same reason.
  std::mt19937_64 member_rng_{opts_.seed * 0x94D049BB133111EBull + 0x301};
  /// A seed's second join and second departure draw their coins and times
  /// here, so that a seed without them replays as it did with one of each
  /// at most.
  std::mt19937_64 more_members_rng_{opts_.seed * 0x9E3779B97F4A7C15ull + 0x2D0C};
  std::mt19937_64 drift_rng_{opts_.seed * 0xBF58476D1CE4E5B9ull + 0xD21F7};
  std::map<std::size_t, double> drift_; ///< node index -> its steady clock's rate (choose_drift)
  bool disk_faults_on_ = false;         ///< the fault phase: restarted nodes' disks may return bad bytes
  sim_network net_;
  std::filesystem::path root_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::vector<sim_node> nodes_;
  std::vector<std::string> addresses_;
  std::string watched_;
  std::map<std::string, acked_entry> live_;               ///< acknowledged, not deleted, not covered
  std::map<std::string, acked_entry> gone_;               ///< acknowledged deletes, covered by invalidations
  std::map<std::string, acked_entry> issued_;             ///< every insert sent, answered or not
  std::map<std::string, std::size_t> issued_per_ns_;      ///< inserts sent, by display_name
  std::set<std::pair<std::string, std::string>> twinned_; ///< (namespace, original uuid) copied there
  std::set<std::string> uncertain_;                       ///< writes that got no clear answer
  std::set<std::string> deleting_;                        ///< deletes in flight
  /// Entries an invalidation sent so far may have removed (inside its radius
  /// give or take rounding, or inserted while it was in flight).
  std::set<std::string> maybe_invalidated_;
  struct invalidation {
    namespace_key ns;
    std::vector<float> unit; ///< the probe, normalised
    double threshold = 0;
    std::set<std::string> covered; ///< live when it was sent, surely inside its radius
    std::int64_t linger_until = 0; ///< refused or unanswered: it may still take effect until then
  };
  std::map<std::uint64_t, invalidation> invalidating_; ///< in flight (or lingering), by number
  bool inside(const invalidation& inv, const std::vector<float>& vec) const;
  std::uint64_t next_invalidation_ = 1;
  std::deque<std::pair<std::int64_t, acked_entry>> retries_; ///< (when, insert) a client sends again
  /// Reads (reads.cpp) draw from their own generator, so that turning them
  /// on left the writes and faults of every seed as they were.
  std::mt19937_64 read_rng_{opts_.seed * 0xC2B2AE3D27D4EB4Full + 7};
  struct read_miss {
    std::string uuid;
    std::string node;
    std::int64_t sent_at = 0;
    std::int64_t answered_at = 0;
  };
  std::vector<read_miss> read_misses_; ///< fault-phase queries that did not find their acknowledged entry
  std::int64_t in_flight_ = 0;
  std::deque<std::int64_t> routed_at_; ///< when recent client requests were sent (queue_check.cpp)
  std::uint64_t next_uuid_ = 1;
  std::string failure_;
  sim_result result_;
  std::vector<std::pair<std::string, std::string>> cut_now_;
  std::vector<std::pair<std::string, std::string>> one_way_now_;
  std::int64_t heal_at_ = 0;
  fault_mix mix_;
  workload_mix load_;
};

/// Cosine similarity, as the index computes it (unit vectors, inner product).
double cosine(const std::vector<float>& a, const std::vector<float>& b);

} // namespace ferro::sim
