// ferrocache: one node of the FerroCache semantic cache.
//
//   ferrocache [--config PATH]
//
// Configuration comes from ferrocache.toml (or PATH) and FERROCACHE_*
// variables; see docs/operations.md. SIGTERM or SIGINT stop the node cleanly.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "actors/node.hpp"
#include "app/config.hpp"
#include "cluster/edges/cluster_node.hpp"
#include "cluster/edges/peer_messages.hpp"
#include "http/http_server.hpp"

namespace {

using namespace ferro;

node_settings to_node_settings(const node_config& c) {
  node_settings s;
  s.node_id = c.node_id;
  s.data_dir = c.data_dir;
  s.lmdb_map_size_bytes = c.lmdb_map_size_bytes;
  s.wal_batch_size = c.wal_batch_size;
  s.wal_batch_timeout = std::chrono::milliseconds(c.wal_batch_timeout_ms);
  s.max_in_flight = c.max_pending_writes;
  s.scheduler_threads = c.actor_threads;
  s.scheduler_policy = c.actor_scheduler;
  s.replication_factor = c.cluster.replication_factor;
  s.read_repair_enabled = c.cluster.read_repair_enabled;
  s.ns.hnsw.max_nb_connection = c.hnsw.max_nb_connection;
  s.ns.hnsw.ef_construction = c.hnsw.ef_construction;
  s.ns.hnsw.ef_search = c.hnsw.ef_search;
  s.ns.hnsw.stored_type = c.hnsw.stored_type;
  s.ns.max_entries = c.hnsw.max_entries_per_namespace;
  s.ns.quality.min_feedback = c.quality.min_feedback;
  s.ns.quality.confidence = c.quality.confidence;
  s.ns.pool_feedback_by_model = c.quality.pool_feedback == "model";
  s.ns.conversation_ttl_seconds = c.conversation_ttl_seconds;
  s.ns.expire_interval = std::chrono::milliseconds(c.expire_scan_interval_secs * 1000);
  s.ns.compact_interval_inserts = c.compact_interval_inserts;
  s.ns.compact_tail_fraction = c.compact_tail_fraction;
  s.ns.seed = std::random_device{}();
  return s;
}

http_options to_http_options(const node_config& c) {
  http_options o;
  o.bind_address = c.bind_address;
  o.port = c.port;
  o.io_threads = c.io_threads;
  o.max_body_bytes = c.max_body_bytes;
  o.auth_token = c.auth_token;
  o.default_threshold = c.hnsw.default_threshold;
  o.default_strict_check = c.quality.default_check == "strict";
  o.max_connections = c.max_connections;
  return o;
}

cluster::cluster_settings to_cluster_settings(const node_config& c) {
  cluster::cluster_settings s;
  s.node_id = c.node_id;
  auto host = c.cluster.advertise_host;
  if (host.empty())
    host = c.bind_address == "0.0.0.0" || c.bind_address.empty() ? "127.0.0.1" : c.bind_address;
  s.advertise = host + ":" + std::to_string(c.cluster.port);
  s.seeds = c.cluster.seed_nodes;
  s.replication_factor = c.cluster.replication_factor;
  s.heartbeat_interval = std::chrono::milliseconds(c.cluster.heartbeat_interval_ms);
  s.replication_timeout = std::chrono::milliseconds(c.cluster.replication_timeout_ms);
  s.max_catch_ups = c.cluster.max_concurrent_catch_ups;
  s.phi_threshold = c.cluster.phi_threshold;
  s.dead_node_removal = c.cluster.dead_node_removal_enabled;
  s.transport.bind_address = c.bind_address.empty() ? "0.0.0.0" : c.bind_address;
  s.transport.port = c.cluster.port;
  s.transport.wire_version = (defaults::transport_wire_version << 16) | ferro::wire_version;
  s.transport.tls.enabled = c.cluster.tls.enabled;
  s.transport.tls.ca_cert_path = c.cluster.tls.ca_cert_path;
  s.transport.tls.cert_path = c.cluster.tls.node_cert_path;
  s.transport.tls.key_path = c.cluster.tls.node_key_path;
  return s;
}

void usage() {
  std::puts("usage: ferrocache [--config PATH]\n"
            "Starts a FerroCache node. Settings: ferrocache.toml in the working directory\n"
            "(or PATH), overridden by FERROCACHE_<KEY> variables (nested keys joined by __).");
}

} // namespace

int main(int argc, char** argv) {
  std::optional<std::filesystem::path> config_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "ferrocache: unknown argument '%s'\n", arg.c_str());
      usage();
      return 2;
    }
  }

  auto cfg = load_config(config_path, ferrocache_environment());
  if (!cfg) {
    std::fprintf(stderr, "ferrocache: %s\n", cfg.err().message.c_str());
    return 2;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("ferrocache"));
  spdlog::set_level(spdlog::level::from_str(cfg->log_level));

  // Signals are taken synchronously by the main thread; every thread started
  // below inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto settings = to_node_settings(*cfg);
  caf::actor_system_config actor_cfg;
  configure_actor_system(actor_cfg, settings);
  cluster::register_peer_types(actor_cfg);
  caf::actor_system actors{actor_cfg}; // outlives the node
  // In a cluster the HTTP layer talks to the routing service, which talks
  // to the node; the cluster port is bound before anything else starts.
  std::unique_ptr<cluster::cluster_node> clustered;
  if (cfg->cluster.enabled) {
    if (auto st = cluster::peer_self_test(actors); !st) {
      spdlog::critical("{}", st.err().message);
      return 1;
    }
    auto made = cluster::cluster_node::create(to_cluster_settings(*cfg), actors);
    if (!made) {
      spdlog::critical("cluster: {}", made.err().message);
      return 1;
    }
    clustered = std::move(made.value());
    clustered->configure(settings);
  }
  ferro::node node{settings, actors};
  if (clustered)
    clustered->attach(node);
  cache_service& service = clustered ? static_cast<cache_service&>(*clustered) : node;
  http_server server{to_http_options(*cfg), service};
  auto port = server.start();
  if (!port) {
    spdlog::critical("cannot listen on {}:{}: {}", cfg->bind_address, cfg->port, port.err().message);
    return 1;
  }
  spdlog::info("node {} listening on {}:{} (recovering from {})", cfg->node_id, cfg->bind_address, *port,
               cfg->data_dir.string());
  if (auto st = node.start(); !st) {
    spdlog::critical("start-up failed: {}", st.err().message);
    server.stop();
    return 1;
  }
  if (clustered)
    clustered->start();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {} received: stopping", sig);
  server.stop();
  node.shutdown();
  if (clustered)
    clustered->stop();
  spdlog::info("stopped");
  return 0;
}
