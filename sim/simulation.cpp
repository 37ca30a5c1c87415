#include "sim/simulation.hpp"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "actors/node.hpp"
#include "cluster/edges/cluster_actor.hpp"
#include "sim/sim_network.hpp"
#include "storage/io_faults.hpp"

namespace ferro::sim {

namespace {

using namespace std::chrono_literals;
constexpr std::int64_t step_ms = 5;
constexpr std::int64_t epoch_wall_ms = 1'700'000'000'000;
constexpr std::size_t dim = 8;

// A disk that now and then refuses a write transaction, as a full disk
// (ENOSPC) would: nothing of the failed step happens. Driven by the
// simulation's own generator, on the simulation's one thread.
struct sim_disk final : io_faults {
  std::mt19937_64* rng = nullptr;
  double commit_failure = 0; ///< probability per commit; 0 outside the fault phase
  std::uint64_t failures = 0;
  status before_commit() override {
    if (commit_failure > 0 && std::uniform_real_distribution<double>(0, 1)(*rng) < commit_failure) {
      ++failures;
      return error{errc::unavailable, "sim: no space left on device"};
    }
    return {};
  }
};

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
  bool crashed = false;
  std::int64_t restart_at = 0;
};

struct acked_entry {
  std::string uuid;
  namespace_key ns;
  std::vector<float> vec;
  bool twin = false; ///< its vector was copied from an entry of another tenant
};

class simulation {
public:
  explicit simulation(const sim_options& o)
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
  }

  ~simulation() {
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

  sim_result run();

private:
  std::int64_t now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(sched_->clock().now().time_since_epoch())
        .count();
  }

  void step() {
    sched_->advance_time(std::chrono::milliseconds(step_ms));
    net_.deliver_due(now());
    sched_->run();
    watch();
  }

  // FERRO_SIM_WATCH=<uuid>: log every change of which nodes hold it (debugging).
  void watch() {
    static const char* id = std::getenv("FERRO_SIM_WATCH");
    if (!id || nodes_.empty())
      return;
    std::string held;
    for (auto& n : nodes_)
      if (n.local && !n.local->holders_of(id).empty())
        held += n.id + " ";
    if (held != watched_)
      std::fprintf(stderr, "watch: t=%lld %s held by [%s]\n", static_cast<long long>(now()), id,
                   held.c_str());
    watched_ = held;
  }
  std::string watched_;

  void start_nodes();
  void start_node(sim_node& n);
  void crash(sim_node& n);
  void restart(sim_node& n);
  void issue_load();
  void inject_faults();
  void choose_faults();
  void check_one_primary_per_epoch();
  void verify();
  void check_copies_agree();
  void dump_state();
  void where_is(const acked_entry& e) {
    if (!std::getenv("FERRO_SIM_LOG"))
      return;
    for (auto& n : nodes_) {
      query_request q;
      q.ns = e.ns;
      q.embedding = e.vec;
      q.threshold = 0.999;
      q.local = true;
      n.local->query(q, [&](result<query_reply> r) {
        std::fprintf(stderr, "where is %s: %s holds it: %s (entries in ns: %s)\n", e.uuid.c_str(),
                     n.id.c_str(), r && r->hit && r->id == e.uuid ? "yes" : "no",
                     r ? "?" : r.err().message.c_str());
      });
      auto holders = n.local->holders_of(e.uuid);
      std::fprintf(stderr, "   holders_of on %s: %zu namespaces\n", n.id.c_str(), holders.size());
    }
  }
  const acked_entry& entry_of(const std::string& uuid) {
    return live_.count(uuid) ? live_[uuid] : gone_[uuid];
  }

  template <class Pred>
  bool run_until(Pred done, std::int64_t max_ms) {
    for (std::int64_t t = 0; t < max_ms && !done(); t += step_ms)
      step();
    return done();
  }

  void route(sim_node& n, cluster::call_msg call, std::function<void(cluster::reply_msg)> done) {
    ++in_flight_;
    ++n.in_flight;
    caf::anon_send(n.actor, cluster::route_atom::value,
                   cluster::routed_call{std::move(call),
                                        [this, &n, up = n.up, done = std::move(done)](cluster::reply_msg r) {
                                          if (!*up)
                                            return; // its node crashed: the client never hears back
                                          --in_flight_;
                                          --n.in_flight;
                                          done(std::move(r));
                                        }});
  }

  void fail(const std::string& why) {
    if (failure_.empty())
      failure_ = "t=" + std::to_string(now()) + "ms: " + why;
  }

  sim_options opts_;
  std::mt19937_64 rng_;
  std::mt19937_64 disk_rng_{rng_() ^ 0xD15C};
  sim_network net_;
  std::filesystem::path root_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::vector<sim_node> nodes_;
  std::vector<std::string> addresses_;
  std::map<std::string, acked_entry> live_;               ///< acknowledged and not deleted
  std::map<std::string, acked_entry> gone_;               ///< acknowledged deletes
  std::map<std::string, acked_entry> issued_;             ///< every insert sent, answered or not
  std::set<std::pair<std::string, std::string>> twinned_; ///< (namespace, original uuid) copied there
  std::set<std::string> uncertain_;                       ///< writes that got no clear answer
  std::set<std::string> deleting_;                        ///< deletes in flight
  std::int64_t in_flight_ = 0;
  std::uint64_t next_uuid_ = 1;
  std::string failure_;
  sim_result result_;
  std::vector<std::pair<std::string, std::string>> cut_now_;
  std::int64_t heal_at_ = 0;
  struct fault_mix {
    double loss = 0;               ///< per frame
    int max_delay_ms = 5;          ///< one-way delays are 1..max
    double disk_failure = 0;       ///< per write transaction
    int node_faults_per_mille = 3; ///< per 5 ms step: a partition or crash starts (when none runs)
    double crash_share = 1.0 / 3;  ///< of node faults, with --crashes
  } mix_;
};

void simulation::start_nodes() {
  for (std::size_t i = 1; i <= opts_.nodes; ++i)
    addresses_.push_back("sim-" + std::to_string(i) + ":4000");
  nodes_.resize(opts_.nodes);
  for (std::size_t i = 0; i < opts_.nodes; ++i) {
    nodes_[i].id = "s" + std::to_string(i + 1);
    nodes_[i].address = addresses_[i];
    start_node(nodes_[i]);
  }
}

// Starts (or restarts, on the data its last life left) one node: a fresh
// cluster actor with a new incarnation, and the node's recovery from its
// store, as a process that comes back after kill -9.
void simulation::start_node(sim_node& n) {
  {
    auto addresses = addresses_;
    n.link = net_.link_for(n.id);
    n.board = std::make_shared<cluster::cluster_board>();
    n.board->clock = [this] { return now(); };
    cluster::cluster_settings cs;
    cs.node_id = n.id;
    cs.advertise = n.address;
    cs.seeds = addresses;
    cs.replication_factor = 2;
    cs.heartbeat_interval = 100ms;
    cs.replication_timeout = 500ms;
    cs.request_timeout = 2000ms;
    cs.seed = rng_();
    cs.transport.incarnation = rng_();
    n.actor = cluster::spawn_cluster_actor(*sys_, cs, n.link.get(), n.board);
    node_settings s;
    s.node_id = n.id;
    s.data_dir = root_ / n.id;
    s.insert_threads = 1;
    s.detached_io = false;
    s.ns.seed = rng_();
    s.ns.clock = [this] { return epoch_wall_ms + now(); };
    s.ns.replicator = caf::actor_cast<replicator_actor>(n.actor);
    s.ns.initial_role = namespace_role::replica;
    n.disk = std::make_shared<sim_disk>();
    n.disk->rng = &disk_rng_;
    s.storage_faults = n.disk;
    n.local = std::make_unique<node>(s, *sys_);
    if (auto st = n.local->start(); !st)
      fail("node " + n.id + " did not start: " + st.err().message);
    caf::anon_send(n.actor, cluster::start_atom::value, cluster::cluster_start{n.local.get()});
    net_.add_node(n.id, n.address, n.actor, cs.transport.incarnation);
  }
}

// A process crash: the node vanishes from the network at once (both ends
// of its connections see them break), its client's requests never get an
// answer, and whatever its store committed stays (LMDB commits are
// durable; the group commit's unwritten batch is lost with the process).
void simulation::crash(sim_node& n) {
  spdlog::debug("sim: t={} crash {}", now(), n.id);
  ++result_.crashes;
  *n.up = false;
  in_flight_ -= static_cast<std::int64_t>(n.in_flight);
  n.in_flight = 0;
  for (const auto& uuid : n.deletes_in_flight) {
    // It may or may not have happened: neither answer proves anything now.
    deleting_.erase(uuid);
    live_.erase(uuid);
    uncertain_.insert(uuid);
  }
  n.deletes_in_flight.clear();
  net_.set_down(n.id, true);
  caf::anon_send_exit(n.actor, caf::exit_reason::kill);
  bool stopped = false;
  n.local->stop([&] { stopped = true; });
  for (int i = 0; i < 2000 && !stopped; ++i)
    step();
  n.local.reset();
  n.crashed = true;
  n.up = std::make_shared<bool>(true);
}

void simulation::restart(sim_node& n) {
  spdlog::debug("sim: t={} restart {}", now(), n.id);
  n.crashed = false;
  start_node(n);
  net_.set_down(n.id, false);
}

// One request now and then at a random node: inserts with explicit ids
// (idempotent, as clients retry them), and deletes of acknowledged entries.
void simulation::issue_load() {
  std::uniform_int_distribution<std::size_t> pick(0, nodes_.size() - 1);
  auto& n = nodes_[pick(rng_)];
  if (n.crashed)
    return;
  bool remove = !live_.empty() && std::uniform_int_distribution<int>(0, 9)(rng_) == 0;
  if (remove) {
    auto it = live_.begin();
    std::advance(it, std::uniform_int_distribution<std::size_t>(0, live_.size() - 1)(rng_));
    auto entry = it->second;
    if (!deleting_.insert(entry.uuid).second)
      return; // one delete of an entry at a time: a second would rightly find nothing
    cluster::call_msg c;
    c.op = cluster::call_op::remove;
    c.text = entry.uuid;
    n.deletes_in_flight.insert(entry.uuid);
    route(n, std::move(c), [this, &n, entry](cluster::reply_msg r) {
      n.deletes_in_flight.erase(entry.uuid);
      deleting_.erase(entry.uuid);
      spdlog::debug("sim: t={} delete {} of '{}': {}", now(), entry.uuid, display_name(entry.ns),
                    r.ok() ? (r.deleted ? "deleted" : "not found") : r.message);
      if (r.ok() && !r.deleted) {
        where_is(entry);
        fail("delete of acknowledged entry " + entry.uuid + " of '" + display_name(entry.ns) +
             "' answered 'not found'");
      } else if (r.ok()) {
        live_.erase(entry.uuid);
        gone_[entry.uuid] = entry;
        ++result_.acked_deletes;
      } else {
        // Not acknowledged, so it may or may not have happened: neither
        // answer proves anything about this entry from now on.
        live_.erase(entry.uuid);
        uncertain_.insert(entry.uuid);
        ++result_.refused;
      }
    });
    return;
  }
  acked_entry e;
  e.uuid = "u" + std::to_string(next_uuid_++);
  // Tenants x models; one insert in five reuses the vector of an entry of
  // another tenant of the same model, so that an answer across tenants
  // would be seen (verify()).
  e.ns = namespace_key{"m" + std::to_string(rng_() % 2), "t" + std::to_string(rng_() % 3), ""};
  // (Only vectors drawn fresh are copied, each at most once into a
  // namespace: within one namespace every vector stays unique.)
  std::vector<const acked_entry*> twins;
  if (std::uniform_int_distribution<int>(0, 4)(rng_) == 0)
    for (const auto& [uuid, other] : live_)
      if (!other.twin && other.ns.model_id == e.ns.model_id && other.ns.cache_scope != e.ns.cache_scope &&
          !twinned_.count({display_name(e.ns), uuid}))
        twins.push_back(&other);
  if (!twins.empty()) {
    auto* original = twins[std::uniform_int_distribution<std::size_t>(0, twins.size() - 1)(rng_)];
    e.vec = original->vec;
    e.twin = true;
    twinned_.insert({display_name(e.ns), original->uuid});
  } else {
    std::normal_distribution<float> g;
    for (std::size_t i = 0; i < dim; ++i)
      e.vec.push_back(g(rng_));
  }
  issued_[e.uuid] = e;
  cluster::call_msg c;
  c.op = cluster::call_op::insert;
  c.ins.ns = e.ns;
  c.ins.embedding = e.vec;
  c.ins.response = "r-" + e.uuid;
  c.ins.query_text = "";
  c.ins.uuid = e.uuid;
  uncertain_.insert(e.uuid);
  route(n, std::move(c), [this, e](cluster::reply_msg r) {
    if (r.ok()) {
      if (r.ins_reply.id != e.uuid)
        fail("insert of " + e.uuid + " acknowledged with id " + r.ins_reply.id);
      uncertain_.erase(e.uuid);
      spdlog::debug("sim: t={} insert {} of '{}' acknowledged", now(), e.uuid, display_name(e.ns));
      live_[e.uuid] = e;
      ++result_.acked_inserts;
    } else {
      ++result_.refused;
    }
  });
}

// lite: a node cut off from the others now and then, for 1-4 s; swarm: also
// frames lost (each loss breaks its connection, as TCP would).
void simulation::inject_faults() {
  for (auto& n : nodes_)
    if (n.crashed) {
      if (now() >= n.restart_at)
        restart(n);
      return;
    }
  if (!cut_now_.empty()) {
    if (now() >= heal_at_) {
      for (auto& [a, b] : cut_now_)
        net_.cut(a, b, false);
      cut_now_.clear();
    }
    return;
  }
  if (std::uniform_int_distribution<int>(0, 999)(rng_) >= mix_.node_faults_per_mille)
    return;
  auto& chosen = nodes_[std::uniform_int_distribution<std::size_t>(0, nodes_.size() - 1)(rng_)];
  // --crashes: a share of the faults are crashes (kill -9), back after 1-4 s.
  if (opts_.crashes && std::uniform_real_distribution<double>(0, 1)(rng_) < mix_.crash_share) {
    chosen.restart_at = now() + std::uniform_int_distribution<std::int64_t>(1000, 4000)(rng_);
    crash(chosen);
    return;
  }
  auto victim = chosen.id;
  for (auto& n : nodes_)
    if (n.id != victim) {
      net_.cut(victim, n.id, true);
      cut_now_.emplace_back(victim, n.id);
    }
  heal_at_ = now() + std::uniform_int_distribution<std::int64_t>(1000, 4000)(rng_);
  ++result_.partitions;
}

// lite: fixed, gentle faults. swarm: each seed switches fault kinds on or
// off and picks its own rates (swarm testing: a seed that runs only a few
// kinds, hard, reaches states that every kind at once would not).
void simulation::choose_faults() {
  if (opts_.profile != "swarm") {
    mix_ = fault_mix{};
    return;
  }
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; };
  auto log_uniform = [&](double lo, double hi) {
    return std::exp(std::uniform_real_distribution<double>(std::log(lo), std::log(hi))(rng_));
  };
  mix_.loss = coin(0.7) ? log_uniform(1.0 / 5000, 1.0 / 500) : 0;
  mix_.max_delay_ms = std::uniform_int_distribution<int>(5, 40)(rng_);
  mix_.disk_failure = coin(0.6) ? log_uniform(1.0 / 1000, 1.0 / 100) : 0;
  mix_.node_faults_per_mille = coin(0.85) ? std::uniform_int_distribution<int>(1, 6)(rng_) : 0;
  mix_.crash_share = std::uniform_real_distribution<double>(0.2, 0.7)(rng_);
  spdlog::debug("sim: faults of this seed: loss {:.5f}, delays 1-{} ms, disk {:.4f}, node faults {}/1000 "
                "steps, crash share {:.2f}",
                mix_.loss, mix_.max_delay_ms, mix_.disk_failure, mix_.node_faults_per_mille,
                mix_.crash_share);
}

// At most one node leads a namespace at any epoch (as each one reports it).
void simulation::check_one_primary_per_epoch() {
  std::map<std::pair<std::string, std::uint64_t>, std::string> leaders;
  for (auto& n : nodes_) {
    if (n.crashed)
      continue; // its last board says what it was, not what it is
    auto status = n.board->status();
    for (const auto& [name, ns] : status.namespaces) {
      if (ns.role != "primary")
        continue;
      auto [it, fresh] = leaders.emplace(std::make_pair(name, ns.epoch), n.id);
      if (!fresh)
        fail("two primaries of '" + name + "' at epoch " + std::to_string(ns.epoch) + ": " + it->second +
             " and " + n.id);
    }
  }
}

// After the heal: every acknowledged live entry is answered by every node,
// no acknowledged delete is, and nothing is left unanswered.
void simulation::verify() {
  std::map<std::pair<std::string, std::string>, std::string> answers; // (uuid, node) -> "hit"/"miss"/error
  std::size_t expected = 0;
  auto ask = [&](const acked_entry& e, sim_node& n) {
    ++expected;
    cluster::call_msg c;
    c.op = cluster::call_op::query;
    c.qry.ns = e.ns;
    c.qry.embedding = e.vec;
    c.qry.threshold = 0.999;
    route(n, std::move(c), [this, &answers, key = std::make_pair(e.uuid, n.id), e](cluster::reply_msg r) {
      if (r.ok() && r.qry_reply.hit && r.qry_reply.id != e.uuid) {
        auto other = issued_.find(r.qry_reply.id);
        if (other != issued_.end() && !(other->second.ns == e.ns))
          fail("answer across namespaces: a query in '" + display_name(e.ns) + "' at " + key.second +
               " answered " + r.qry_reply.id + " of '" + display_name(other->second.ns) + "'");
      }
      answers[key] = !r.ok()                                         ? "error: " + r.message
                     : (r.qry_reply.hit && r.qry_reply.id == e.uuid) ? "hit"
                                                                     : "miss";
    });
  };
  for (auto& [uuid, e] : live_)
    for (auto& n : nodes_)
      ask(e, n);
  for (auto& [uuid, e] : gone_)
    for (auto& n : nodes_)
      ask(e, n);
  if (!run_until([&] { return answers.size() == expected; }, 20'000))
    fail(std::to_string(expected - answers.size()) + " verification queries never answered");
  for (auto& [key, answer] : answers) {
    bool deleted = gone_.count(key.first) > 0;
    if (!deleted && answer != "hit" && failure_.empty())
      where_is(entry_of(key.first));
    if (!deleted && answer != "hit")
      fail("acknowledged insert " + key.first + " of '" + display_name(entry_of(key.first).ns) +
           "' not answered by " + key.second + " (" + answer + ")");
    if (deleted && answer == "hit" && !uncertain_.count(key.first))
      fail("acknowledged delete of " + key.first + " of '" + display_name(entry_of(key.first).ns) +
           "' undone: " + key.second + " still answers it");
  }
}

// After the heal, the copies that serve reads of a namespace (its leader
// and its in-sync replicas) hold the same entries: every insert ever sent,
// answered or not, is on all of them or on none.
void simulation::check_copies_agree() {
  std::map<std::string, std::vector<sim_node*>> serving; // namespace -> nodes serving it
  for (auto& n : nodes_)
    for (const auto& [name, ns] : n.board->status().namespaces)
      if (ns.serving)
        serving[name].push_back(&n);
  for (const auto& [uuid, e] : issued_) {
    auto it = serving.find(display_name(e.ns));
    if (it == serving.end())
      continue;
    std::string with, without;
    for (auto* n : it->second) {
      auto keys = n->local->holders_of(uuid);
      bool held = std::find(keys.begin(), keys.end(), e.ns) != keys.end();
      (held ? with : without) += n->id + " ";
    }
    if (!with.empty() && !without.empty()) {
      fail("copies of '" + display_name(e.ns) + "' differ after the heal: " + uuid + " is on [" + with +
           "] but not on [" + without + "]");
      return;
    }
  }
}

void simulation::dump_state() {
  if (!std::getenv("FERRO_SIM_LOG"))
    return;
  for (auto& n : nodes_) {
    auto st = n.board->status();
    std::string peers;
    for (auto& [id, p] : st.peers)
      peers += id + "=" + p.status + " ";
    std::fprintf(stderr, "%s: view %llu, peers %s, %zu namespaces\n", n.id.c_str(),
                 static_cast<unsigned long long>(st.placement_epoch), peers.c_str(), st.namespaces.size());
    for (auto& [name, ns] : st.namespaces) {
      std::string in_sync;
      for (auto& i : ns.in_sync)
        in_sync += i + " ";
      std::fprintf(stderr, "   %s %s e%llu serving=%d primary=%s in_sync=[%s]\n", name.c_str(),
                   ns.role.c_str(), static_cast<unsigned long long>(ns.epoch), ns.serving ? 1 : 0,
                   ns.primary.c_str(), in_sync.c_str());
    }
  }
}

sim_result simulation::run() {
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
  net_.set_faults(net_faults{mix_.loss, 1, mix_.max_delay_ms});
  for (auto& n : nodes_)
    n.disk->commit_failure = mix_.disk_failure;
  auto end = now() + opts_.fault_seconds * 1000;
  std::int64_t checks = 0;
  while (now() < end && failure_.empty()) {
    if (std::uniform_int_distribution<int>(0, 9)(rng_) < 3)
      issue_load();
    inject_faults();
    step();
    if (++checks % 20 == 0)
      check_one_primary_per_epoch();
  }
  for (auto& [a, b] : cut_now_)
    net_.cut(a, b, false);
  cut_now_.clear();
  for (auto& n : nodes_)
    if (n.crashed)
      restart(n);
  net_.set_faults(net_faults{0, 1, 5});
  for (auto& n : nodes_) {
    result_.disk_failures += n.disk->failures;
    n.disk->commit_failure = 0;
  }
  run_until([&] { return in_flight_ == 0; }, opts_.heal_seconds * 1000);
  run_until([] { return false; }, opts_.heal_seconds * 1000); // settle: catch-ups, elections
  if (in_flight_ != 0) {
    fail(std::to_string(in_flight_) + " requests never answered");
  }
  if (failure_.empty())
    verify();
  if (failure_.empty())
    check_copies_agree();
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

} // namespace

sim_result run_simulation(const sim_options& opts) {
  simulation s{opts};
  return s.run();
}

} // namespace ferro::sim
