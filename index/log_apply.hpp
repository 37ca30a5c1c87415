#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/log_record.hpp"
#include "common/status.hpp"
#include "index/namespace_index.hpp"

namespace ferro {

namespace quality {
class feedback_counts;
}

/// How apply_log() puts inserts into the index.
struct apply_options {
  /// Threads a run of consecutive inserts is spread over (upsert_many).
  std::size_t threads = 1;
  /// Inserts past the first `graph_inserts` of the batch wait in the index's
  /// backlog instead of going into the graph (recovery: the node serves
  /// before the slow HNSW inserts are done). Live writes use the default.
  std::size_t graph_inserts = std::numeric_limits<std::size_t>::max();
};

/// What apply_log() did, record by record and in total.
struct apply_outcome {
  /// One per record: an insert's error (the index refused it: wrong
  /// dimension, or out of memory), or a feedback record's (no model to
  /// apply it to, or an unknown feature class); removals and voids always
  /// succeed.
  std::vector<status> results;
  /// One per record: for a removal, whether the entry was there to remove.
  std::vector<bool> removed;
  /// The highest ns_seq of the batch (void and failed records included: the
  /// namespace has moved past them either way).
  std::uint64_t last_seq = 0;
  std::uint64_t inserts = 0; ///< inserts that took effect
  /// Removals that took effect, by removal_reason (index = reason - 1).
  std::array<std::uint64_t, 4> removals{};
  std::uint64_t feedback = 0;        ///< feedback records that took effect
  std::uint64_t feedback_wrong = 0;  ///< of them, "wrong" verdicts
  std::uint64_t feedback_tables = 0; ///< feedback tables added (images; not client feedback)
};

/// Adds a feedback_table record's counts to `feedback`; an error (changing
/// nothing) when there is no model or the table does not parse.
status apply_feedback_table(const log_record& rec, quality::feedback_counts* feedback);

/// Applies log records to a namespace in order: the one way a record takes
/// effect, for live writes, recovery and replicas alike, so a replica that
/// applies a primary's records ends where the primary did. Inserts and
/// removals change `index`; feedback records change only `feedback`, the
/// namespace's quality model (docs/quality.md), and fail when it is null;
/// so do feedback_table records (an image's whole table, added).
/// Inserts carry unit-length vectors (normalised before they were logged).
/// Runs of consecutive inserts go in together; a removal ends a run, so
/// every record takes effect in log order (feedback does not touch the
/// index, so it does not end a run). The records' entries are moved from.
apply_outcome apply_log(namespace_index& index, std::vector<log_record>& records,
                        const apply_options& options = {}, quality::feedback_counts* feedback = nullptr);

} // namespace ferro
