#include "http/metrics_text.hpp"

#include <charconv>
#include <cmath>

namespace ferro {

namespace {

class exposition {
public:
  void header(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, std::string_view labels, std::uint64_t v) {
    begin(name, labels);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, end);
    out_ += '\n';
  }

  void sample(std::string_view name, std::string_view labels, double v) {
    begin(name, labels);
    number(v);
    out_ += '\n';
  }

  void counter(std::string_view name, std::string_view help, const std::atomic<std::uint64_t>& c) {
    header(name, "counter", help);
    sample(name, {}, c.load(std::memory_order_relaxed));
  }

  void gauge(std::string_view name, std::string_view help, std::uint64_t v) {
    header(name, "gauge", help);
    sample(name, {}, v);
  }

  void histogram(std::string_view name, std::string_view help, const latency_histogram& h) {
    header(name, "histogram", help);
    const std::string bucket = std::string{name} + "_bucket";
    // _count is the +Inf bucket, summed from the same reads, so the series
    // stay consistent while other threads keep observing.
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < latency_histogram::bounds.size(); ++i) {
      cumulative += h.bucket(i);
      // Bounds in plain decimal ("0.0005", not "5e-04"), as people read them.
      std::string le = "le=\"";
      char buf[32];
      auto [end, ec] =
          std::to_chars(buf, buf + sizeof buf, latency_histogram::bounds[i], std::chars_format::fixed);
      le.append(buf, end);
      le += '"';
      sample(bucket, le, cumulative);
    }
    cumulative += h.bucket(latency_histogram::bounds.size());
    sample(bucket, "le=\"+Inf\"", cumulative);
    sample(std::string{name} + "_sum", {}, h.sum_seconds());
    sample(std::string{name} + "_count", {}, cumulative);
  }

  std::string take() { return std::move(out_); }

  static void append_number(std::string& out, double v) {
    if (std::isnan(v)) {
      out += "NaN";
    } else if (std::isinf(v)) {
      out += v > 0 ? "+Inf" : "-Inf";
    } else {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
      out.append(buf, end);
    }
  }

private:
  void begin(std::string_view name, std::string_view labels) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
  }
  void number(double v) { append_number(out_, v); }

  std::string out_;
};

} // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_metrics(const node_metrics& m, const health_reply& health, const stats_reply* stats,
                           const cluster_status_reply& cluster) {
  exposition e;

  e.header("ferrocache_queries_total", "counter", "Cache queries by result.");
  e.sample("ferrocache_queries_total", "result=\"hit\"", m.queries_hit.load(std::memory_order_relaxed));
  e.sample("ferrocache_queries_total", "result=\"miss\"", m.queries_miss.load(std::memory_order_relaxed));
  e.counter("ferrocache_exact_match_hits_total", "Query hits served by the exact-text pre-filter.",
            m.exact_match_hits_total);
  e.counter("ferrocache_feedback_total", "Feedback records applied (POST /feedback).", m.feedback_total);
  e.counter("ferrocache_feedback_wrong_total", "Feedback records that reported a wrong hit.",
            m.feedback_wrong_total);
  e.counter("ferrocache_quality_check_refusals_total", "Candidate hits refused by the strict check.",
            m.quality_check_refusals_total);
  e.counter("ferrocache_error_bound_hits_total", "Hits served by the feedback error bound.",
            m.error_bound_hits_total);
  e.counter("ferrocache_error_bound_refusals_total", "Candidate hits refused by the feedback error bound.",
            m.error_bound_refusals_total);
  e.counter("ferrocache_inserts_total", "Entries inserted or replaced.", m.inserts_total);
  e.counter("ferrocache_evictions_total", "Entries evicted by the per-namespace capacity limit.",
            m.evictions_total);
  e.counter("ferrocache_expirations_total", "Entries removed because their TTL ran out.",
            m.expirations_total);
  e.counter("ferrocache_deletions_total", "Entries removed by DELETE /entry.", m.deletions_total);
  e.counter("ferrocache_invalidations_total", "Entries removed by POST /admin/invalidate.",
            m.invalidations_total);
  e.counter("ferrocache_compactions_total", "Snapshots written (compactions).", m.compactions);
  e.counter("ferrocache_replication_writes_total",
            "Records shipped live to in-sync replicas (one per record and replica).",
            m.replication_writes_total);
  e.counter("ferrocache_replication_failures_total",
            "Replica batches that failed (the replica left the in-sync set).", m.replication_failures_total);
  e.counter("ferrocache_read_repairs_total", "Catch-ups started because a read found a copy behind.",
            m.read_repairs_total);
  auto by_path = [&e](std::string_view name, std::string_view type, std::string_view help, double log,
                      double image) {
    e.header(name, type, help);
    e.sample(name, "path=\"log\"", log);
    e.sample(name, "path=\"image\"", image);
  };
  auto n = [](const std::atomic<std::uint64_t>& c) { return static_cast<double>(c.load()); };
  by_path("ferrocache_catchups_total", "counter",
          "Finished catch-ups of a replica: by the log after its last record, or by a reset and the image.",
          n(m.catchups_log_total), n(m.catchups_image_total));
  by_path("ferrocache_catchup_records_total", "counter", "Records shipped by finished catch-ups.",
          n(m.catchup_log_records_total), n(m.catchup_image_records_total));
  by_path("ferrocache_catchup_seconds_total", "counter", "Time finished catch-ups took.",
          n(m.catchup_log_ms_total) / 1000.0, n(m.catchup_image_ms_total) / 1000.0);
  e.counter("ferrocache_catchup_image_bytes_total", "Bytes of entry images shipped by finished catch-ups.",
            m.catchup_image_bytes_total);
  e.gauge("ferrocache_catchups_running",
          "Catch-ups of replicas running now (at most cluster.max_concurrent_catch_ups).",
          m.catchups_running.load(std::memory_order_relaxed));
  e.gauge("ferrocache_catchups_waiting", "Catch-ups of replicas waiting for a free slot.",
          m.catchups_waiting.load(std::memory_order_relaxed));
  e.header("ferrocache_cluster_backlog", "gauge",
           "The cluster actor's work in flight: calls to peers waiting for an answer, replicated batches "
           "waiting for the in-sync replicas, requests held until their namespace's primary is ready.");
  e.sample("ferrocache_cluster_backlog", "queue=\"peer_calls\"", n(m.peer_calls_pending));
  e.sample("ferrocache_cluster_backlog", "queue=\"replication_batches\"", n(m.replication_batches_pending));
  e.sample("ferrocache_cluster_backlog", "queue=\"held_requests\"", n(m.requests_held));
  e.counter("ferrocache_wal_batches_total", "Write-ahead log group commits.", m.wal_batches_total);
  e.counter("ferrocache_wal_records_total", "Records appended to the write-ahead log.", m.wal_records_total);
  e.counter(
      "ferrocache_wal_record_bytes_total",
      "Bytes of records committed to the write-ahead log (key and sealed value, before LMDB page overhead).",
      m.wal_record_bytes_total);
  e.counter("ferrocache_snapshot_bytes_total", "Bytes of snapshot files (entries and graph) published.",
            m.snapshot_bytes_total);
  e.counter("ferrocache_wal_write_errors_total", "Failed write-ahead log commits.", m.wal_write_errors_total);
  e.counter("ferrocache_recovery_replayed_records_total", "Log records replayed at start-up.",
            m.recovery_replayed_records_total);
  e.counter("ferrocache_recovery_corrupt_records_total", "Corrupt log records skipped at start-up.",
            m.recovery_corrupt_records_total);
  e.counter("ferrocache_http_requests_total", "HTTP requests answered.", m.http_requests_total);
  e.counter("ferrocache_http_errors_total", "HTTP responses with a status of 400 or more.",
            m.http_errors_total);
  e.counter("ferrocache_http_rejected_overload_total",
            "Requests rejected for overload (connection limit, 429).", m.http_rejected_overload_total);

  e.gauge("ferrocache_ready", "1 when the node serves requests, 0 while recovering.", health.ready ? 1 : 0);
  e.gauge(
      "ferrocache_backlog_entries",
      "Recovered entries not yet linked into their namespace's HNSW graph (searched one by one meanwhile).",
      m.backlog_entries.load(std::memory_order_relaxed));
  e.gauge("ferrocache_entries", "Live entries on this node.",
          stats ? stats->entry_count : health.entry_count);
  if (stats) {
    e.gauge("ferrocache_namespaces", "Namespaces on this node (by display name).",
            std::uint64_t{stats->namespaces.size()});
    e.header("ferrocache_namespace_entries", "gauge", "Live entries per namespace display name.");
    for (const auto& [name, ns] : stats->namespaces)
      e.sample("ferrocache_namespace_entries", "namespace=\"" + escape_label_value(name) + "\"",
               std::uint64_t{ns.entry_count});
  }

  std::uint64_t suspected = 0, dead = 0;
  for (const auto& [id, p] : cluster.peers) {
    if (p.status == "suspected")
      ++suspected;
    else if (p.status == "dead")
      ++dead;
  }
  // Nodes listed as dead but no longer tracked by the failure detector.
  for (const auto& id : cluster.dead_nodes)
    if (!cluster.peers.count(id))
      ++dead;
  const std::uint64_t nodes = cluster.nodes.empty() ? 1 : cluster.nodes.size();
  e.gauge("ferrocache_cluster_nodes", "Nodes in the ring (1 in single mode).", nodes);
  e.gauge("ferrocache_cluster_peers_suspected", "Peers the failure detector suspects.", suspected);
  e.gauge("ferrocache_cluster_peers_dead", "Peers considered dead.", dead);
  if (cluster.mode == "clustered") {
    e.header("ferrocache_cluster_peer_phi", "gauge", "Phi accrual suspicion of each peer.");
    for (const auto& [id, p] : cluster.peers)
      e.sample("ferrocache_cluster_peer_phi", "peer=\"" + escape_label_value(id) + "\"", p.phi);
    e.gauge("ferrocache_cluster_under_replicated_namespaces",
            "Namespaces led here with fewer in-sync replicas than the replication factor wants.",
            cluster.under_replicated_namespaces);
    e.gauge("ferrocache_cluster_primary_namespaces", "Namespaces this node leads.",
            cluster.primary_namespaces);
    e.header("ferrocache_replication_lag_seconds", "gauge",
             "Age of the oldest write waiting for its in-sync replicas.");
    e.sample("ferrocache_replication_lag_seconds", {}, cluster.replication_lag_seconds);
    e.header("ferrocache_replication_timeouts_total", "counter",
             "Replicas that left an in-sync set because a write timed out.");
    e.sample("ferrocache_replication_timeouts_total", {}, cluster.replication_timeouts_total);
    const auto& t = cluster.transport;
    e.header("ferrocache_transport_frames_total", "counter", "Peer frames received (in) and sent (out).");
    e.sample("ferrocache_transport_frames_total", "direction=\"in\"", t.frames_in);
    e.sample("ferrocache_transport_frames_total", "direction=\"out\"", t.frames_out);
    e.header("ferrocache_transport_connections_accepted_total", "counter",
             "Connections accepted on the cluster port (peers, and anything else that connects).");
    e.sample("ferrocache_transport_connections_accepted_total", {}, t.connections_accepted);
    e.header("ferrocache_transport_refusals_total", "counter",
             "What the cluster port refused: handshakes (bad, wrong version, duplicate node id, late), "
             "frames above the size limit (before allocating), protocol errors (garbage, truncation, TLS), "
             "frames a full peer queue did not take.");
    e.sample("ferrocache_transport_refusals_total", "kind=\"handshake\"", t.handshakes_refused);
    e.sample("ferrocache_transport_refusals_total", "kind=\"oversized\"", t.oversized_frames);
    e.sample("ferrocache_transport_refusals_total", "kind=\"protocol\"", t.protocol_errors);
    e.sample("ferrocache_transport_refusals_total", "kind=\"queue_full\"", t.queue_drops);
    e.header("ferrocache_transport_dials_failed_total", "counter",
             "Outgoing peer connections that never came up.");
    e.sample("ferrocache_transport_dials_failed_total", {}, t.dials_failed);
    e.header("ferrocache_transport_queued_bytes", "gauge", "Bytes queued for peers or in flight.");
    e.sample("ferrocache_transport_queued_bytes", {}, t.queued_bytes);
    e.header("ferrocache_transport_peer_connections", "gauge",
             "Established peer connections: out (dialled by this node) and in (accepted, past the hello).");
    e.sample("ferrocache_transport_peer_connections", "direction=\"out\"", t.peers_up);
    e.sample("ferrocache_transport_peer_connections", "direction=\"in\"", t.peers_in);
    e.header("ferrocache_failovers_total", "counter",
             "Namespaces this node took the lead of (elections won).");
    e.sample("ferrocache_failovers_total", {}, cluster.failovers_total);
  }

  e.histogram("ferrocache_query_duration_seconds", "POST /query latency, request parsed to response ready.",
              m.query_duration);
  e.histogram("ferrocache_insert_duration_seconds", "POST /insert latency, request parsed to response ready.",
              m.insert_duration);
  e.histogram("ferrocache_wal_commit_duration_seconds", "Write-ahead log group commit latency.",
              m.wal_commit_duration);
  return e.take();
}

} // namespace ferro
