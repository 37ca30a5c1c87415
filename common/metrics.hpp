#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace ferro {

/// A latency histogram with fixed Prometheus buckets; lock-free, any thread.
class latency_histogram {
public:
  /// Upper bounds in seconds (the +Inf bucket is implicit).
  static constexpr std::array<double, 14> bounds{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                 0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1.0};

  void observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i])
      ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    // Sum kept in nanoseconds so it stays an integer atomic.
    sum_ns_.fetch_add(static_cast<std::uint64_t>(seconds * 1e9), std::memory_order_relaxed);
  }

  /// Non-cumulative count of bucket i (i == bounds.size() is +Inf).
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum_seconds() const { return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9; }

private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// Node-wide counters. One instance per node, shared by reference between the
/// HTTP layer and the actors; every field is a relaxed atomic.
struct node_metrics {
  using counter = std::atomic<std::uint64_t>;
  counter queries_total{0};
  counter queries_hit{0};
  counter queries_miss{0};
  counter exact_match_hits_total{0};
  counter inserts_total{0};
  counter evictions_total{0};
  counter expirations_total{0};
  counter deletions_total{0};
  counter invalidations_total{0};
  counter compactions{0};
  counter wal_batches_total{0};
  counter wal_records_total{0};
  /// Bytes of WAL records committed (key + sealed value, before LMDB's page
  /// overhead) and bytes of snapshot files published: where disk writes go.
  counter wal_record_bytes_total{0};
  counter snapshot_bytes_total{0};
  counter wal_write_errors_total{0};
  counter recovery_corrupt_records_total{0};
  counter recovery_replayed_records_total{0};
  /// A gauge: recovered entries still waiting to be linked into their
  /// namespace's graph (searched one by one meanwhile).
  counter backlog_entries{0};
  counter http_requests_total{0};
  counter http_errors_total{0};
  counter http_rejected_overload_total{0};
  // Cluster counters: always zero in single mode, exported for dashboards.
  /// Records shipped live to in-sync replicas (one per record and replica),
  /// and replicas that failed a batch and left the in-sync set.
  counter replication_writes_total{0};
  counter replication_failures_total{0};
  /// Catch-ups a read started: it found a copy behind (docs/cluster.md).
  counter read_repairs_total{0};
  /// Finished catch-ups, by the log after the copy's last record or by a
  /// reset and the image of the live entries, with what they shipped and
  /// how long they took (rates: records / seconds, bytes / seconds).
  counter catchups_log_total{0};
  counter catchups_image_total{0};
  counter catchup_log_records_total{0};
  counter catchup_image_records_total{0};
  counter catchup_image_bytes_total{0};
  counter catchup_log_ms_total{0};
  counter catchup_image_ms_total{0};
  /// Gauges: catch-ups running, and waiting for one of the
  /// cluster.max_concurrent_catch_ups slots (the re-replication backlog).
  counter catchups_running{0};
  counter catchups_waiting{0};
  /// Gauges of the cluster actor's work in flight, set on every tick: calls
  /// to peers waiting for their answer, replicated batches waiting for the
  /// in-sync replicas, and requests held until their namespace's primary
  /// is ready. Every entry leaves by a deadline, so each is bounded by the
  /// request rate times that deadline, and an idle node's are all zero: a
  /// gauge that climbs while the load does not is a leak
  /// (docs/cluster.md, "Metrics"; the simulator checks both).
  counter peer_calls_pending{0};
  counter replication_batches_pending{0};
  counter requests_held{0};
  // Answer quality (docs/quality.md).
  counter feedback_total{0};
  counter feedback_wrong_total{0};
  counter quality_check_refusals_total{0};
  counter error_bound_refusals_total{0};
  counter error_bound_hits_total{0};

  latency_histogram query_duration;
  latency_histogram insert_duration;
  latency_histogram wal_commit_duration;
};

} // namespace ferro
