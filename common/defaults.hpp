#pragma once

#include <cstddef>
#include <cstdint>

/// Every documented default of FerroCache, in one place. The configuration
/// loader (app/config.cpp), the docs and the tests all refer to these names.
namespace ferro::defaults {

constexpr std::uint16_t port = 3000;
constexpr const char* node_id = "node-1";
constexpr const char* data_dir = "./data";
constexpr std::size_t max_body_bytes = 4 * 1024 * 1024;
constexpr std::size_t io_threads = 2;
/// CAF scheduler policy. "sharing" (one job queue, idle workers block on it)
/// beat CAF's default "stealing" (idle workers poll in timed sleeps) in every
/// paired round of 100k-entry fills: +15-34% durable inserts/s at
/// concurrency 50, and at concurrency 1 +13% with about half the CPU
/// (docs/architecture.md, "Scheduler").
constexpr const char* actor_scheduler = "sharing";
constexpr const char* log_level = "info";

// Input limits of the HTTP contract (API.md, "Limits").
constexpr std::size_t max_dimension = 4096;
constexpr std::size_t max_response_bytes = 102400;
constexpr std::size_t max_query_text_bytes = 8192;
constexpr std::size_t max_uuid_bytes = 128;

// HNSW parameters (API.md, "Configuration").
constexpr std::size_t hnsw_max_nb_connection = 16;
constexpr std::size_t hnsw_ef_construction = 200;
constexpr std::size_t hnsw_ef_search = 32;
constexpr double hnsw_default_threshold = 0.92;
constexpr std::size_t hnsw_initial_capacity = 1024; // slots; grows by doubling
constexpr std::uint64_t hnsw_seed = 100;

constexpr std::uint64_t expire_scan_interval_secs = 60;
/// How long a clean stop waits for each namespace's final snapshot.
constexpr std::uint64_t shutdown_snapshot_timeout_ms = 60000;

// Durability.
constexpr std::size_t wal_batch_size = 256;
constexpr std::uint64_t wal_batch_timeout_ms = 1;
/// An automatic snapshot is due once a namespace has had at least
/// `compact_interval_inserts` inserts since its last one AND at least
/// `compact_tail_fraction` times its entry count (storage/snapshot_policy.hpp):
/// a snapshot rewrites the whole namespace, so the fraction keeps the bytes
/// written per insert flat as it grows; the minimum keeps small namespaces
/// from snapshotting every few inserts. The fraction trades write volume
/// against the log tail a kill -9 restart replays (docs/benchmarks.md,
/// "Write amplification").
constexpr std::uint64_t compact_interval_inserts = 10000;
constexpr double compact_tail_fraction = 0.25;
/// Durable inserts a namespace applies to its graph in one go (spread over
/// its insert threads). Lookups wait while a run is inserted, so this bounds
/// that wait: ~8 HNSW inserts over two threads, a few ms.
constexpr std::size_t apply_batch_inserts = 8;
/// Backlog entries a namespace links into its graph per step after a
/// restart; lookups wait for a step (~16 HNSW inserts over two threads),
/// requests are served between steps. 64 made near-duplicate lookups wait
/// 152 ms (p50) while a 1M node linked a 49,510-entry backlog on a loaded
/// machine (docs/benchmarks.md, "Restart at 1M").
constexpr std::size_t backlog_step_entries = 16;
/// The main heap's growth step while recovery runs (actors/heap_steps.hpp):
/// a few heap growths instead of one per 128 KiB while the graph thread's
/// page faults hold the address-space lock.
constexpr std::size_t recovery_heap_step_bytes = std::size_t{64} << 20;
constexpr std::size_t lmdb_map_size_bytes = std::size_t{1} << 30; // grows on demand

// Back-pressure: mutations waiting for the log before new ones get 503.
constexpr std::size_t max_pending_writes = 8192;
// How long the gateway waits for an actor before answering 504/503.
constexpr std::uint64_t request_timeout_ms = 10000;

// Entry-stats: top entries per namespace and preview length (code points).
constexpr std::size_t entry_stats_top = 10;
constexpr std::size_t preview_code_points = 50;

// Answer quality (docs/quality.md).
/// Feedback a feature class of a namespace needs before `max_error_rate`
/// decides for it; below that the request's threshold decides.
constexpr std::uint64_t quality_min_feedback = 30;
/// One-sided confidence of the Clopper-Pearson bound on the error rate a
/// feature class serves at (quality/calibration.hpp).
constexpr double quality_confidence = 0.95;
/// Whose feedback decides a namespace's `max_error_rate` queries: its own
/// ("namespace") or that of every namespace of its model_id ("model").
constexpr const char* quality_pool_feedback = "namespace";
/// Default of `check` in /query: "off" or "strict".
constexpr const char* quality_default_check = "off";

// Cluster (single mode reports these in /cluster/status).
constexpr std::size_t cluster_replication_factor = 2;
constexpr bool cluster_read_repair_enabled = true;
constexpr double cluster_phi_threshold = 8.0;

/// The pure cluster cores (cluster/README.md).
namespace cluster {
// How often a node bumps its heartbeat and tells its peers.
constexpr std::int64_t heartbeat_interval_ms = 500;
// A replica slower than this leaves the in-sync set (cluster.replication_timeout_ms).
constexpr std::int64_t replication_timeout_ms = 2000;
// Catch-ups a node runs at once (cluster.max_concurrent_catch_ups); more
// wait their turn, a new term's replicas first. Unbounded, the death of a
// node holding thousands of namespaces started a catch-up for each of them
// at once, and the flood of their calls delayed heartbeats until the
// survivors lost their read leases (docs/benchmarks.md, "Cluster").
constexpr std::size_t max_concurrent_catch_ups = 16;
// Records per catch-up batch, and the most bytes of image entries per batch.
constexpr std::size_t catchup_batch_records = 256;
constexpr std::size_t catchup_batch_bytes = std::size_t{4} << 20;
// A node waits this long after start for its seeds before it judges placement.
constexpr std::int64_t startup_settle_ms = 1500;
// phi at which a peer is suspected; it is convicted (dead) at twice this.
constexpr double phi_threshold = cluster_phi_threshold;
// Virtual nodes per node on the placement ring.
constexpr std::size_t vnodes_per_node = 64;
// Heartbeat inter-arrival times kept per peer by the phi detector.
constexpr std::size_t phi_window = 1000;
// Floor on the inter-arrival stddev, so a very regular peer is not suspected on jitter.
constexpr double phi_min_stddev_ms = 100.0;
} // namespace cluster

// Peer transport (cluster/transport/README.md).
/// Wire version of the peer frame protocol; peers with another version are refused.
constexpr std::uint32_t transport_wire_version = 1;
/// Largest frame payload accepted or sent; checked before any allocation.
constexpr std::size_t transport_max_frame_bytes = std::size_t{16} << 20;
/// Bytes queued (and in flight) towards one peer before send() says no.
constexpr std::size_t transport_max_queue_bytes_per_peer = std::size_t{64} << 20;
/// Resolve + TCP connect + TLS handshake of a dial.
constexpr std::uint64_t transport_connect_timeout_ms = 3000;
/// From accept (or from the end of the dial) until the peer's hello arrives.
constexpr std::uint64_t transport_hello_timeout_ms = 3000;
/// A connection whose pending write makes no progress this long is closed (0: never).
constexpr std::uint64_t transport_write_stall_timeout_ms = 10000;
/// Accepted connections still in their handshake; further accepts are closed at once.
constexpr std::size_t transport_max_pending_handshakes = 64;

} // namespace ferro::defaults
