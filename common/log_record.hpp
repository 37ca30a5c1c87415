#pragma once

#include <cstdint>
#include <string>

#include "common/entry.hpp"
#include "common/namespace_key.hpp"

namespace ferro {

/// What a log record does. The numbers are stored on disk and sent between
/// nodes: never renumber them.
enum class log_op : std::uint8_t {
  /// Applies nothing. Keeps a namespace's sequence dense where a batch
  /// failed after its commit, so that a shipped stream has no gaps.
  void_ = 0,
  insert = 1,
  remove = 2,
  /// Feedback on a served hit (format note F2 in docs/formats.md): changes
  /// the namespace's quality model, never its index.
  feedback = 3,
  /// A namespace's whole feedback table (format note F5): what a copy
  /// rebuilt from its primary's image takes instead of the feedback records
  /// that image leaves out. Added to the copy's counts, which a reset left
  /// empty.
  feedback_table = 4,
};

/// Feedback on a served hit (op == feedback): the model input, fixed when
/// logged so that replay and replicas rebuild exactly the same model.
struct feedback_fields {
  double similarity = 0;
  bool correct = false;
  std::uint8_t feature_class = 0; ///< quality::agreement_class at logging time
  std::string query_text{};       ///< kept for refits; may be empty

  friend bool operator==(const feedback_fields&, const feedback_fields&) = default;
};

/// One mutation of one namespace, as logged before it is applied. The same
/// record is replayed by recovery and applied by replicas, so it carries
/// every decision the writer made (uuid, timestamps, what a removal removes):
/// applying it never reads the applier's clock or state.
struct log_record {
  log_op op = log_op::insert;
  namespace_key ns;
  /// Assigned by wal_store::append(): per namespace, strictly increasing,
  /// never reused (not after a snapshot drops the record, not after a
  /// restart, not after the namespace is dropped and reappears).
  std::uint64_t ns_seq = 0;
  /// The namespace's primary epoch when the record was written: 0 on a
  /// single node. Replicas refuse records of an epoch older than the newest
  /// they have seen (fencing a replaced primary).
  std::uint64_t epoch = 0;
  cache_entry entry;                               ///< op == insert
  std::string uuid;                                ///< op == remove, feedback (the entry)
  removal_reason reason = removal_reason::deleted; ///< op == remove
  feedback_fields feedback{};                      ///< op == feedback
  std::string feedback_table{}; ///< op == feedback_table: quality::feedback_counts::serialize()

  friend bool operator==(const log_record&, const log_record&) = default;
};

} // namespace ferro
