#include "actors/node.hpp"

#include <algorithm>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
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

struct node::impl {
  node_settings settings;
  node_metrics metrics;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  namespace_directory directory;
  storage_actor storage;
  snapshot_writer_actor writer;
  gateway_actor gateway;
  std::atomic<bool> ready{false};
  std::atomic<bool> stopping{false};

  explicit impl(node_settings s) : settings(std::move(s)) {
    settings.ns.metrics = &metrics;
    if (settings.scheduler_threads > 0)
      cfg.set("scheduler.max-threads", settings.scheduler_threads);
    if (settings.scheduler_policy == "sharing")
      cfg.set("scheduler.policy", caf::atom("sharing"));
    // Actor logging goes through spdlog; CAF's own file logger stays quiet.
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  template <class T>
  bool refuse_if_not_ready(const cache_service::callback<T>& done) {
    if (ready.load(std::memory_order_acquire) && !stopping.load(std::memory_order_acquire))
      return false;
    done(error{errc::unavailable, stopping ? "the node is shutting down" : "the node is starting"});
    return true;
  }
};

node::node(node_settings settings) : impl_(std::make_unique<impl>(std::move(settings))) {
}

node::~node() {
  shutdown();
}

status node::start() {
  auto& d = *impl_;
  std::error_code ec;
  std::filesystem::create_directories(d.settings.data_dir, ec);
  if (ec)
    return error{errc::unavailable,
                 "cannot create data_dir '" + d.settings.data_dir.string() + "': " + ec.message()};
  storage_options opts;
  opts.data_dir = d.settings.data_dir;
  opts.map_size_bytes = d.settings.lmdb_map_size_bytes;
  auto opened = wal_store::open(opts);
  if (!opened)
    return opened.err();
  std::shared_ptr<wal_store> store = std::move(opened.value());
  // Nothing else runs yet: the replay may use every core it is given.
  auto threads = d.settings.scheduler_threads ? d.settings.scheduler_threads
                                              : std::max(1u, std::thread::hardware_concurrency());
  auto recovered = recover_namespaces(*store, d.settings.ns.hnsw, d.metrics, threads);
  // Live inserts spread over as many threads as the replay did.
  d.settings.ns.insert_threads = threads;
  if (!recovered)
    return recovered.err();
  d.storage = spawn_storage_actor(
      *d.sys, store,
      storage_actor_settings{d.settings.wal_batch_size, d.settings.wal_batch_timeout, &d.metrics, true});
  d.writer = spawn_snapshot_writer(*d.sys, store);
  auto* dir = &d.directory;
  auto storage = d.storage;
  auto writer = d.writer;
  auto ns_settings = d.settings.ns;
  auto* sys = d.sys.get();
  dir->set_factory([=](const namespace_key& key) {
    return spawn_namespace_actor(*sys, namespace_start{key, nullptr, 0}, ns_settings, storage, writer, dir);
  });
  for (auto& r : recovered.value()) {
    auto key = r.key;
    auto index = r.index;
    auto actor = spawn_namespace_actor(*d.sys, std::move(r), ns_settings, storage, writer, dir);
    dir->add(namespace_directory::item{std::move(key), actor, std::move(index)});
  }
  d.gateway =
      spawn_gateway_actor(*d.sys, dir, d.storage,
                          gateway_settings{d.settings.max_in_flight, d.settings.request_timeout, &d.metrics});
  d.ready.store(true, std::memory_order_release);
  spdlog::info("node {} ready: {} namespaces, {} entries", d.settings.node_id, dir->all().size(),
               dir->total_entries());
  return {};
}

void node::shutdown() {
  auto& d = *impl_;
  if (d.stopping.exchange(true))
    return;
  if (d.ready.load()) {
    // A final snapshot keeps access statistics across a clean restart.
    caf::scoped_actor self{*d.sys};
    for (auto& it : d.directory.all()) {
      if (!it.index)
        continue;
      self->request(it.actor, std::chrono::seconds(60), compact_atom::value)
          .receive([](std::uint64_t) {},
                   [&](caf::error& e) {
                     spdlog::warn("final snapshot of {} failed: {}", display_name(it.key),
                                  from_caf_error(e).message);
                   });
    }
    for (auto& it : d.directory.all())
      caf::anon_send_exit(it.actor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(d.gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(d.writer, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(d.storage, caf::exit_reason::user_shutdown);
  }
  d.directory.clear();
  d.gateway = nullptr;
  d.writer = nullptr;
  d.storage = nullptr;
  d.sys.reset(); // waits for every actor to finish
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

} // namespace ferro
