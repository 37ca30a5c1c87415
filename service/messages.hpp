#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/namespace_key.hpp"

/// Plain request and reply types exchanged between the HTTP layer and the
/// actor system. No CAF here: http/ includes this without paying for CAF.
/// Values are validated by http/ before they arrive (finite, non-zero
/// embedding within the dimension limit, threshold in [0,1], sizes in range,
/// blank optional strings already turned into empty ones).
namespace ferro {

struct insert_request {
  namespace_key ns;
  std::vector<float> embedding; ///< raw; the index normalises
  std::string response;
  std::string query_text;
  std::string uuid;                        ///< empty: the node generates one
  std::optional<std::int64_t> ttl_seconds; ///< absent: default; 0: never
  bool local = false;                      ///< ?local=true

  friend bool operator==(const insert_request&, const insert_request&) = default;
};
struct insert_reply {
  std::string id;

  friend bool operator==(const insert_reply&, const insert_reply&) = default;
};

struct query_request {
  namespace_key ns;
  std::vector<float> embedding;
  double threshold = 0.0; ///< already defaulted by http/ from config
  std::string query_text;
  bool local = false;
  /// `check: "strict"` (defaulted by http/ from config): refuse a hit whose
  /// numbers, negation or identifiers disagree with query_text.
  bool strict_check = false;
  /// `max_error_rate` in (0, 0.5]: serve only when the namespace's
  /// feedback-calibrated error bound allows (docs/quality.md).
  std::optional<double> max_error_rate{};

  friend bool operator==(const query_request&, const query_request&) = default;
};
struct query_reply {
  bool hit = false;
  std::string id;
  std::string response;
  double similarity = 0.0;
  bool exact_match = false;
  /// "conversation" or "global" when the request had a conversation_id.
  std::string scope;
  std::string matched_query_text{}; ///< the entry's query_text ("" if none)
  /// "exact" | "threshold" | "error_bound"
  std::string decided_by{};
  /// Set when the error bound decided: calibrated P(wrong) at this
  /// similarity and the upper bound of the served error rate.
  std::optional<double> error_estimate{};
  std::optional<double> error_bound{};

  friend bool operator==(const query_reply&, const query_reply&) = default;
};

/// POST /feedback: whether a served hit was right.
struct feedback_request {
  namespace_key ns;
  std::string id{};
  double similarity = 0;    ///< as served, in [0, 1]
  std::string query_text{}; ///< the query's text, "" when unknown
  bool correct = false;
  bool local = false;

  friend bool operator==(const feedback_request&, const feedback_request&) = default;
};
struct feedback_reply {
  friend bool operator==(const feedback_reply&, const feedback_reply&) = default;
};

/// Feedback model of one namespace for /stats (docs/quality.md).
struct quality_class_stats {
  std::uint64_t correct = 0;
  std::uint64_t wrong = 0;
  bool active = false;               ///< enough feedback for the bound to decide
  double serving_from_at_5pct = 2.0; ///< lowest similarity served at max_error_rate 0.05
};
struct quality_stats {
  std::uint64_t feedback_total = 0;
  std::map<std::string, quality_class_stats> classes{}; ///< by class name
};

struct delete_request {
  std::string uuid;
  bool local = false;

  friend bool operator==(const delete_request&, const delete_request&) = default;
};
struct delete_reply {
  bool deleted = false; ///< false is reported by http/ as 404

  friend bool operator==(const delete_reply&, const delete_reply&) = default;
};

struct invalidate_request {
  namespace_key ns;
  std::vector<float> embedding;
  double threshold = 0.0;
  bool local = false;

  friend bool operator==(const invalidate_request&, const invalidate_request&) = default;
};
struct invalidate_reply {
  std::vector<std::string> uuids;

  friend bool operator==(const invalidate_reply&, const invalidate_reply&) = default;
};

struct compact_reply {
  std::uint64_t entries_snapshotted = 0;
  std::uint64_t wal_sequence = 0;
};

struct top_entry {
  std::string uuid;
  std::uint64_t access_count = 0;
  std::int64_t last_accessed_ms = 0; ///< 0: never accessed
  std::string query_text_preview;    ///< already cut to 50 code points + "..."
};
struct entry_stats_reply {
  /// display name -> at most 10 entries, most accessed first (merged when
  /// several namespaces share a display name).
  std::map<std::string, std::vector<top_entry>> namespaces;
};

struct namespace_stats {
  std::uint64_t entry_count = 0;
  std::size_t dimension = 0;
  std::int64_t oldest_entry_ms = 0; ///< 0 when empty
  std::int64_t newest_entry_ms = 0;
  std::uint64_t total_accesses = 0;
  std::optional<quality_stats> quality{}; ///< absent: no feedback yet
};
struct stats_reply {
  std::uint64_t entry_count = 0;
  std::size_t max_nb_connection = 0;
  std::size_t ef_construction = 0;
  std::size_t ef_search = 0;
  std::map<std::string, namespace_stats> namespaces; ///< by display name
};

struct health_reply {
  bool ready = false; ///< false while recovering: 503 "starting"
  std::string node_id;
  std::uint64_t entry_count = 0;
};

struct peer_health {
  std::string status; ///< "alive" | "suspected" | "dead"
  double phi = 0.0;
  std::string generation{}; ///< the peer process's incarnation (hex): changes at every restart
  std::string address{};    ///< where this node reaches it
};
/// This node's part in one namespace (clustered mode).
struct namespace_cluster_state {
  std::string role; ///< "primary" | "replica" | "electing" | "none"
  std::uint64_t epoch = 0;
  std::string primary;                 ///< as a replica: the leader it follows
  bool serving = false;                ///< answers reads from its own copy
  std::vector<std::string> replicas{}; ///< as primary: placement's replicas
  std::vector<std::string> in_sync{};  ///< as primary: those every write waits for
};

/// The peer transport's counters (clustered mode; cluster/transport).
struct transport_counts {
  std::uint64_t frames_in = 0;
  std::uint64_t frames_out = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t handshakes_refused = 0;
  std::uint64_t dials_failed = 0;
  std::uint64_t oversized_frames = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t queue_drops = 0;
  std::uint64_t queued_bytes = 0;
  std::uint64_t peers_up = 0;
  std::uint64_t peers_in = 0;
};

struct cluster_status_reply {
  std::string mode; ///< "single" | "clustered"
  std::string self_node_id;
  std::vector<std::string> nodes; ///< sorted
  std::size_t replication_factor = 0;
  bool read_repair_enabled = false;
  std::map<std::string, peer_health> peers;
  std::vector<std::string> dead_nodes;
  // Clustered mode only (docs/cluster.md).
  std::uint64_t placement_epoch = 0; ///< bumped whenever this node's view of live members changes
  bool read_lease = false;           ///< a majority heard this node lately: its copies may serve reads
  std::uint64_t under_replicated_namespaces = 0; ///< led here with fewer in-sync replicas than wanted
  std::uint64_t primary_namespaces = 0;          ///< namespaces this node leads
  std::uint64_t replication_timeouts_total = 0;  ///< replicas dropped from an in-sync set
  std::uint64_t failovers_total = 0;             ///< times this node took over a namespace
  double replication_lag_seconds = 0;            ///< age of the oldest batch waiting for replica acks
  std::map<std::string, namespace_cluster_state> namespaces{}; ///< by display name
  transport_counts transport{};
};

} // namespace ferro
