#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/defaults.hpp"
#include "index/vector_type.hpp"
#include "common/status.hpp"

namespace ferro {

/// Every setting of a node, after defaults, `ferrocache.toml` and
/// `FERROCACHE_*` variables (environment wins) have been applied.
struct node_config {
  std::uint16_t port = defaults::port;
  std::string bind_address = "0.0.0.0";
  std::string node_id = defaults::node_id;
  std::filesystem::path data_dir = defaults::data_dir;
  std::string auth_token; ///< empty: auth off
  std::size_t max_body_bytes = defaults::max_body_bytes;
  std::size_t io_threads = defaults::io_threads;
  std::size_t max_connections = 1024;
  std::string log_level = defaults::log_level;
  std::size_t actor_threads = 0;                           ///< CAF workers; 0: one per core
  std::string actor_scheduler = defaults::actor_scheduler; ///< "stealing" | "sharing"

  struct hnsw_config {
    std::size_t max_nb_connection = defaults::hnsw_max_nb_connection;
    std::size_t ef_construction = defaults::hnsw_ef_construction;
    std::size_t ef_search = defaults::hnsw_ef_search;
    double default_threshold = defaults::hnsw_default_threshold;
    std::optional<std::size_t> max_entries_per_namespace;
    /// How graphs store vectors: float32 (default), float16 or int8.
    vector_type stored_type = vector_type::float32;
  } hnsw;

  /// Answer quality (docs/quality.md).
  struct quality_config {
    std::string default_check = defaults::quality_default_check; ///< "off" | "strict"
    std::uint64_t min_feedback = defaults::quality_min_feedback;
    double confidence = defaults::quality_confidence;            ///< in [0.5, 0.9999]
    std::string pool_feedback = defaults::quality_pool_feedback; ///< "namespace" | "model"
  } quality;

  std::uint64_t expire_scan_interval_secs = defaults::expire_scan_interval_secs;
  std::optional<std::int64_t> conversation_ttl_seconds;
  std::size_t wal_batch_size = defaults::wal_batch_size;
  std::uint64_t wal_batch_timeout_ms = defaults::wal_batch_timeout_ms;
  std::uint64_t compact_interval_inserts = defaults::compact_interval_inserts;
  double compact_tail_fraction = defaults::compact_tail_fraction;
  std::size_t lmdb_map_size_bytes = defaults::lmdb_map_size_bytes;
  std::size_t max_pending_writes = defaults::max_pending_writes;

  struct cluster_config {
    bool enabled = false;
    std::uint16_t port = 4000;
    std::vector<std::string> seed_nodes;
    std::size_t replication_factor = defaults::cluster_replication_factor;
    bool read_repair_enabled = defaults::cluster_read_repair_enabled;
    bool dead_node_removal_enabled = true;
    double phi_threshold = defaults::cluster_phi_threshold;
    /// The host peers dial (with cluster.port); empty: bind_address, or
    /// 127.0.0.1 when that is 0.0.0.0.
    std::string advertise_host;
    std::uint64_t heartbeat_interval_ms = defaults::cluster::heartbeat_interval_ms;
    std::uint64_t replication_timeout_ms = defaults::cluster::replication_timeout_ms;
    std::uint64_t max_concurrent_catch_ups = defaults::cluster::max_concurrent_catch_ups;
    struct tls_config {
      bool enabled = false;
      std::string ca_cert_path;
      std::string node_cert_path;
      std::string node_key_path;
    } tls;
  } cluster;
};

/// Loads the configuration: defaults, then the TOML file (`explicit_path`, or
/// `ferrocache.toml` in the working directory when it exists), then the
/// `FERROCACHE_<KEY>` variables of `environment` (nested keys joined by `__`,
/// lists comma-separated). Every problem is an error naming the key.
result<node_config> load_config(const std::optional<std::filesystem::path>& explicit_path,
                                const std::map<std::string, std::string>& environment);

/// The process environment as a map (only FERROCACHE_* variables).
std::map<std::string, std::string> ferrocache_environment();

} // namespace ferro
