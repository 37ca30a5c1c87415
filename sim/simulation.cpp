#include "sim/simulation.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "sim/sim_cluster.hpp"

namespace ferro::sim {

using namespace std::chrono_literals;

simulation::simulation(const sim_options& o)
    : opts_(o), rng_(o.seed * 0x9E3779B97F4A7C15ull + 1), net_(o.seed) {
  // The stores live in memory where the machine has a tmpfs: the run
  // then never waits for a disk, and its speed does not depend on what
  // else the machine is writing. Crashes here are process crashes
  // (committed LMDB transactions survive), as in the kill -9 tests.
  std::error_code shm_error;
  auto shm = std::filesystem::space("/dev/shm", shm_error);
  auto scratch = !shm_error && shm.available > (std::uintmax_t{1} << 30)
                     ? std::filesystem::path("/dev/shm")
                     : std::filesystem::temp_directory_path();
  root_ = scratch / ("ferro-sim-" + std::to_string(::getpid()) + "-" + std::to_string(o.seed));
  std::filesystem::remove_all(root_);
  node_settings base;
  configure_actor_system(cfg_, base);
  cluster::register_peer_types(cfg_);
  cfg_.set("scheduler.policy", caf::atom("testing"));
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  // Half the swarm seeds run 1-3 catch-ups at a time instead of the
  // default, so that catch-ups queue (a few dozen namespaces never fill 16
  // slots). Drawn from a generator of its own: the other draws, and so the
  // seeds that keep the default, replay as before.
  if (o.profile == "swarm") {
    std::mt19937_64 slots{o.seed * 0xA24BAED4963EE407ull + 0xC47C};
    if (std::uniform_int_distribution<int>(0, 1)(slots) == 1)
      catch_up_slots_ = std::uniform_int_distribution<std::size_t>(1, 3)(slots);
  }
}

simulation::~simulation() {
  for (auto& n : nodes_) {
    if (!n.local)
      continue; // crashed
    bool stopped = false;
    n.local->stop([&] { stopped = true; });
    for (int i = 0; i < 2000 && !stopped; ++i)
      step();
    caf::anon_send_exit(n.actor, caf::exit_reason::user_shutdown);
  }
  sched_->run();
  nodes_.clear();
  sys_.reset();
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

void simulation::step() {
  sched_->advance_time(std::chrono::milliseconds(step_ms));
  net_.deliver_due(now());
  sched_->run();
  watch();
}

// FERRO_SIM_WATCH=<uuid>: log every change of which nodes hold it (debugging).
void simulation::watch() {
  static const char* id = std::getenv("FERRO_SIM_WATCH");
  if (!id || nodes_.empty())
    return;
  std::string held;
  for (auto& n : nodes_)
    if (n.local && !n.local->holders_of(id).empty())
      held += n.id + " ";
  if (held != watched_)
    std::fprintf(stderr, "watch: t=%lld %s held by [%s]\n", static_cast<long long>(now()), id, held.c_str());
  watched_ = held;
}

void simulation::fail(const std::string& why) {
  if (failure_.empty())
    failure_ = "t=" + std::to_string(now()) + "ms: " + why;
}

void simulation::start_nodes() {
  for (std::size_t i = 1; i <= opts_.nodes; ++i)
    addresses_.push_back("sim-" + std::to_string(i) + ":4000");
  // Room for the nodes that join later (membership.cpp): requests in
  // flight hold references to their node, which must not move.
  nodes_.reserve(opts_.nodes + max_joins);
  nodes_.resize(opts_.nodes);
  for (std::size_t i = 0; i < opts_.nodes; ++i) {
    nodes_[i].id = std::string("s").append(std::to_string(i + 1)); // not "s" + ...: GCC 12's bogus -Wrestrict
    nodes_[i].address = addresses_[i];
    if (auto rate = drift_.find(i); rate != drift_.end())
      nodes_[i].clock_rate = rate->second;
    start_node(nodes_[i]);
  }
}

// Starts (or restarts, on the data its last life left) one node: a fresh
// cluster actor with a new incarnation, and the node's recovery from its
// store, as a process that comes back after kill -9.
void simulation::start_node(sim_node& n) {
  auto addresses = addresses_;
  n.link = net_.link_for(n.id);
  n.board = std::make_shared<cluster::cluster_board>();
  // The board's lease is measured on the actor's clock (steady_clock in the
  // server, one clock in one process): skewing it alone would model a
  // process whose two readings of one clock disagree.
  n.board->clock = [this] { return now(); };
  cluster::cluster_settings cs;
  cs.node_id = n.id;
  cs.advertise = n.address;
  cs.seeds = addresses;
  cs.replication_factor = 2;
  // Durations on the node's own steady clock, which may run fast or slow
  // (clock_drift.cpp): the same settings on every node, as an operator
  // would set them, last longer or shorter in true time.
  auto own = [&n](std::chrono::milliseconds d) {
    return std::chrono::milliseconds(std::llround(static_cast<double>(d.count()) / n.clock_rate));
  };
  cs.heartbeat_interval = own(100ms);
  cs.replication_timeout = own(500ms);
  cs.request_timeout = own(2000ms);
  cs.max_catch_ups = catch_up_slots_;
  // A node that joined draws from the generator of joins, so that the
  // seeds without one replay as before joins existed.
  auto& gen = n.joined ? member_rng_ : rng_;
  cs.seed = gen();
  cs.transport.incarnation = gen();
  n.actor = cluster::spawn_cluster_actor(*sys_, cs, n.link.get(), n.board);
  node_settings s;
  s.node_id = n.id;
  s.data_dir = root_ / n.id;
  s.insert_threads = 1;
  s.detached_io = false;
  s.ns.seed = gen();
  // The wall clock (TTLs, timestamps) is the one that is set, stepped and
  // skewed between machines (faults.cpp, jump_clocks).
  s.ns.clock = [this, skew = n.skew_ms] { return epoch_wall_ms + now() + *skew; };
  // Expiry scans every second (60 s in the server) so that expired entries
  // leave the copies within a run, not only the answers.
  s.ns.expire_interval = own(1000ms);
  s.ns.max_entries = load_.lru_cap;
  s.ns.replicator = caf::actor_cast<replicator_actor>(n.actor);
  s.ns.initial_role = namespace_role::replica;
  n.disk = std::make_shared<sim_disk>();
  n.disk->rng = &disk_rng_;
  n.disk->damage_rng = &damage_rng_;
  n.disk->rotten = n.rotten;
  n.disk->lmdb_file = s.data_dir / "lmdb" / "data.mdb";
  n.disk->synced_txnid = newest_lmdb_txnid(n.disk->lmdb_file); // what the last life left is on disk
  // Its recovery finds bytes bad on the disk only when the cluster can
  // afford it (crash, sim_node::rot_on_restart); later reads per the seed.
  n.disk->rot = n.rot_on_restart;
  n.disk->corrupt_read = n.rot_on_restart ? mix_.corrupt_read : 0;
  s.storage_faults = n.disk;
  n.local = std::make_unique<node>(s, *sys_);
  if (auto st = n.local->start(); !st)
    fail("node " + n.id + " did not start: " + st.err().message);
  n.disk->rot = n.rot_on_restart = false;
  n.disk->corrupt_read = disk_faults_on_ ? mix_.corrupt_read : 0;
  caf::anon_send(n.actor, cluster::start_atom::value, cluster::cluster_start{n.local.get()});
  net_.add_node(n.id, n.address, n.actor, cs.transport.incarnation);
}

void simulation::route(sim_node& n, cluster::call_msg call, std::function<void(cluster::reply_msg)> done) {
  ++in_flight_;
  ++n.in_flight;
  note_routed();
  auto finish = [this, &n, up = n.up, done = std::move(done)](cluster::reply_msg r) {
    if (!*up)
      return; // its node crashed: the client never hears back
    --in_flight_;
    --n.in_flight;
    done(std::move(r));
  };
  auto send = [this, &n, call = std::move(call), finish = std::move(finish)]() mutable {
    caf::anon_send(n.actor, cluster::route_atom::value,
                   cluster::routed_call{std::move(call), [this, &n, finish](cluster::reply_msg r) {
                                          if (n.paused) { // a stopped process answers nobody
                                            n.held.push_back([finish, r] { finish(r); });
                                            return;
                                          }
                                          finish(std::move(r));
                                        }});
  };
  if (n.paused)
    n.held.push_back(std::move(send)); // the stopped process reads it when it resumes
  else
    send();
}

sim_result simulation::run() {
  choose_workload(); // before the nodes start: an LRU cap is a node setting
  choose_drift();    // and a clock's rate is the machine's
  start_nodes();
  // Formation: every node sees every other alive.
  auto formed = [&] {
    for (auto& n : nodes_) {
      auto s = n.board->status();
      std::size_t alive = 0;
      for (auto& [id, p] : s.peers)
        alive += p.status == "alive" ? 1 : 0;
      if (alive + 1 != nodes_.size())
        return false;
    }
    return true;
  };
  if (!run_until(formed, 10'000))
    fail("the cluster did not form within 10 s");
  choose_faults();
  choose_membership();
  auto end = now() + opts_.fault_seconds * 1000;
  std::int64_t checks = 0;
  while (now() < end && failure_.empty()) {
    if (std::uniform_int_distribution<int>(0, 9)(rng_) < 3)
      issue_load();
    issue_query();
    inject_faults();
    step();
    if (++checks % 20 == 0) {
      check_one_primary_per_epoch();
      check_queues_bounded();
    }
  }
  end_faults();
  run_until([&] { return in_flight_ == 0; }, opts_.heal_seconds * 1000);
  run_until([] { return false; }, opts_.heal_seconds * 1000); // settle: catch-ups, elections
  if (in_flight_ != 0) {
    fail(std::to_string(in_flight_) + " requests never answered");
  }
  if (failure_.empty())
    check_queues_drained(); // before verify(): its queries are new work
  if (failure_.empty())
    verify();
  if (failure_.empty())
    check_copies_agree();
  if (failure_.empty())
    check_placement_honoured();
  for (const auto& n : nodes_)
    if (failure_.empty() && !n.departed)
      check_election_file(n, "at the end");
  if (!failure_.empty())
    dump_state();
  result_.ok = failure_.empty();
  result_.failure = failure_;
  result_.frames = net_.frames_delivered();
  auto h = net_.trace_hash();
  for (auto& [uuid, e] : live_)
    h = (h ^ std::hash<std::string>{}(uuid)) * 1099511628211ull;
  result_.trace = h;
  return result_;
}

sim_result run_simulation(const sim_options& opts) {
  simulation s{opts};
  return s.run();
}

} // namespace ferro::sim
