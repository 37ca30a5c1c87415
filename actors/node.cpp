#include "actors/node.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <malloc.h>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "actors/gateway_actor.hpp"
#include "actors/namespace_directory.hpp"
#include "actors/read_path.hpp"
#include "actors/recovery.hpp"
#include "actors/snapshot_writer.hpp"
#include "actors/storage_actor.hpp"

namespace ferro {

void configure_actor_system(caf::actor_system_config& cfg, const node_settings& settings) {
  if (settings.scheduler_threads > 0)
    cfg.set("scheduler.max-threads", settings.scheduler_threads);
  if (settings.scheduler_policy == "sharing")
    cfg.set("scheduler.policy", caf::atom("sharing"));
  // Actor logging goes through spdlog; CAF's own file logger stays quiet.
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  register_wire_types(cfg);
}

struct node::impl {
  node_settings settings;
  node_metrics metrics;
  caf::actor_system& sys;
  namespace_directory directory;
  storage_actor storage;
  snapshot_writer_actor writer;
  gateway_actor gateway;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};
  std::thread trimmer; ///< hands recovery's freed pages back after ready

  impl(node_settings s, caf::actor_system& system) : settings(std::move(s)), sys(system) {
    settings.ns.metrics = &metrics;
  }
  ~impl() {
    if (trimmer.joinable())
      trimmer.join();
  }

  /// Every actor of the node, then the directory: the last step of stop().
  void stop_actors() {
    for (auto& it : directory.all())
      caf::anon_send_exit(it.actor, caf::exit_reason::user_shutdown);
    for (const auto& actor : {caf::actor_cast<caf::actor>(gateway), caf::actor_cast<caf::actor>(writer),
                              caf::actor_cast<caf::actor>(storage)})
      if (actor)
        caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    directory.clear();
    gateway = nullptr;
    writer = nullptr;
    storage = nullptr;
    stopped.store(true, std::memory_order_release);
  }

  template <class T>
  bool refuse_if_not_ready(const cache_service::callback<T>& done) {
    if (ready.load(std::memory_order_acquire) && !stopping.load(std::memory_order_acquire))
      return false;
    done(error{errc::unavailable, stopping ? "the node is shutting down" : "the node is starting"});
    return true;
  }
};

node::node(node_settings settings, caf::actor_system& sys)
    : impl_(std::make_unique<impl>(std::move(settings), sys)) {
}

node::~node() {
  shutdown();
}

status node::start() {
  auto& d = *impl_;
  if (auto wire = wire_self_test(d.sys); !wire)
    return wire;
  std::error_code ec;
  std::filesystem::create_directories(d.settings.data_dir, ec);
  if (ec)
    return error{errc::unavailable,
                 "cannot create data_dir '" + d.settings.data_dir.string() + "': " + ec.message()};
  storage_options opts;
  opts.data_dir = d.settings.data_dir;
  opts.map_size_bytes = d.settings.lmdb_map_size_bytes;
  opts.faults = d.settings.storage_faults;
  auto opened = wal_store::open(opts);
  if (!opened)
    return opened.err();
  std::shared_ptr<wal_store> store = std::move(opened.value());
  // Nothing else runs yet: the replay may use every core it is given.
  auto threads = d.settings.insert_threads      ? d.settings.insert_threads
                 : d.settings.scheduler_threads ? d.settings.scheduler_threads
                                                : std::max(1u, std::thread::hardware_concurrency());
  auto recovered = recover_namespaces(*store, d.settings.ns.hnsw, d.metrics, threads);
  // Live inserts spread over as many threads as the replay did.
  d.settings.ns.insert_threads = threads;
  if (!recovered)
    return recovered.err();
  d.storage =
      spawn_storage_actor(d.sys, store,
                          storage_actor_settings{d.settings.wal_batch_size, d.settings.wal_batch_timeout,
                                                 &d.metrics, d.settings.detached_io});
  d.writer = spawn_snapshot_writer(d.sys, store, d.settings.detached_io);
  auto* dir = &d.directory;
  dir->set_feedback_pooling(d.settings.ns.pool_feedback_by_model);
  auto storage = d.storage;
  auto writer = d.writer;
  auto ns_settings = d.settings.ns;
  auto* sys = &d.sys;
  dir->set_factory([=](const namespace_key& key) {
    namespace_start fresh{key, nullptr, 0};
    fresh.role = ns_settings.initial_role;
    return spawn_namespace_actor(*sys, std::move(fresh), ns_settings, storage, writer, dir);
  });
  for (auto& r : recovered.value()) {
    r.role = ns_settings.initial_role;
    auto key = r.key;
    auto index = r.index;
    auto actor = spawn_namespace_actor(d.sys, std::move(r), ns_settings, storage, writer, dir);
    dir->add(namespace_directory::item{std::move(key), actor, std::move(index)});
  }
  d.gateway =
      spawn_gateway_actor(d.sys, dir, d.storage,
                          gateway_settings{d.settings.max_in_flight, d.settings.request_timeout, &d.metrics});
  d.ready.store(true, std::memory_order_release);
  spdlog::info("node {} ready: {} namespaces, {} entries", d.settings.node_id, dir->all().size(),
               dir->total_entries());
  // Recovery decoded every snapshot entry and log record into temporaries
  // (a heap block per vector and per text) that are freed by now, but their
  // pages sit in malloc's arenas between the index's own blocks, so the
  // restarted node kept them (with the copy restore used to take: 1,158-
  // 1,165 MiB RSS after restarts of a 200k x 384 namespace that held 636
  // MiB when filled; docs/benchmarks.md, "Scale"). Hand the free pages back,
  // on a thread of its own: at 1M entries the walk took ~1 s that the node
  // spent not serving when it ran before ready.
  d.trimmer = std::thread([] {
    auto started = std::chrono::steady_clock::now();
    malloc_trim(0);
    spdlog::info("freed pages of recovery returned in {:.3f} s",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  });
  return {};
}

void node::stop(std::function<void()> done) {
  auto& d = *impl_;
  if (d.stopping.exchange(true) || !d.ready.load()) {
    d.stop_actors();
    done();
    return;
  }
  std::vector<namespace_directory::item> targets;
  for (auto& it : d.directory.all())
    if (it.index)
      targets.push_back(it);
  // A final snapshot of every namespace keeps access statistics across a
  // clean restart; a helper actor collects the answers so nothing blocks.
  d.sys.spawn([&d, targets = std::move(targets), done = std::move(done)](caf::event_based_actor* self) {
    auto remaining = std::make_shared<std::size_t>(targets.size());
    auto finish = [&d, self, done] {
      d.stop_actors();
      done();
      self->quit();
    };
    if (targets.empty()) {
      finish();
      return;
    }
    for (const auto& it : targets)
      self->request(it.actor, std::chrono::milliseconds(defaults::shutdown_snapshot_timeout_ms),
                    compact_atom::value)
          .then(
              [=](std::uint64_t) {
                if (--*remaining == 0)
                  finish();
              },
              [=, name = display_name(it.key)](caf::error& e) {
                spdlog::warn("final snapshot of {} failed: {}", name, from_caf_error(e).message);
                if (--*remaining == 0)
                  finish();
              });
  });
}

void node::halt() {
  impl_->stopping.store(true);
  impl_->stop_actors();
}

void node::shutdown() {
  if (impl_->stopped.load(std::memory_order_acquire))
    return;
  std::promise<void> finished;
  auto wait = finished.get_future();
  stop([&finished] { finished.set_value(); });
  wait.wait();
}

void node::insert(insert_request req, callback<insert_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  caf::anon_send(impl_->gateway, insert_atom::value, std::move(req),
                 completion<insert_reply>{std::move(done)});
}

void node::query(query_request req, callback<query_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  auto& d = *impl_;
  done(answer_query(d.directory, std::move(req), d.settings.ns.clock(), d.metrics));
}

void node::remove(delete_request req, callback<delete_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  caf::anon_send(impl_->gateway, delete_atom::value, std::move(req),
                 completion<delete_reply>{std::move(done)});
}

void node::invalidate(invalidate_request req, callback<invalidate_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  caf::anon_send(impl_->gateway, invalidate_atom::value, std::move(req),
                 completion<invalidate_reply>{std::move(done)});
}

void node::feedback(feedback_request req, callback<feedback_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  caf::anon_send(impl_->gateway, feedback_atom::value, std::move(req),
                 completion<feedback_reply>{std::move(done)});
}

void node::compact(callback<compact_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  caf::anon_send(impl_->gateway, compact_atom::value, completion<compact_reply>{std::move(done)});
}

void node::entry_stats(callback<entry_stats_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  done(collect_entry_stats(impl_->directory));
}

void node::stats(callback<stats_reply> done) {
  if (impl_->refuse_if_not_ready(done))
    return;
  auto out = collect_stats(impl_->directory);
  auto& h = impl_->settings.ns.hnsw;
  out.max_nb_connection = h.max_nb_connection;
  out.ef_construction = h.ef_construction;
  out.ef_search = h.ef_search;
  done(std::move(out));
}

health_reply node::health() {
  auto& d = *impl_;
  bool ready = d.ready.load(std::memory_order_acquire) && !d.stopping.load(std::memory_order_acquire);
  return health_reply{ready, d.settings.node_id, ready ? d.directory.total_entries() : 0};
}

cluster_status_reply node::cluster_status() {
  cluster_status_reply out;
  out.mode = "single";
  out.self_node_id = impl_->settings.node_id;
  out.nodes = {impl_->settings.node_id};
  out.replication_factor = impl_->settings.replication_factor;
  out.read_repair_enabled = impl_->settings.read_repair_enabled;
  return out;
}

node_metrics& node::metrics() {
  return impl_->metrics;
}

namespace_actor node::namespace_for(const namespace_key& key) {
  return impl_->directory.actor_for(key);
}

std::vector<namespace_key> node::local_namespaces() const {
  std::vector<namespace_key> out;
  for (auto& it : impl_->directory.all())
    out.push_back(it.key);
  return out;
}

bool node::has_namespace(const namespace_key& key) const {
  return impl_->directory.has(key);
}

std::vector<namespace_key> node::holders_of(const std::string& uuid) const {
  std::vector<namespace_key> out;
  for (auto& it : impl_->directory.all())
    if (it.index && it.index->contains(uuid))
      out.push_back(it.key);
  return out;
}

storage_actor node::storage_handle() const {
  return impl_->storage;
}

const node_settings& node::settings() const {
  return impl_->settings;
}

} // namespace ferro
