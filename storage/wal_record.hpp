#pragma once

#include <cstdint>
#include <string>

#include "common/entry.hpp"
#include "common/namespace_key.hpp"

namespace ferro {

/// 3 (feedback) since format note F2 in docs/formats.md.
enum class wal_op : std::uint8_t { insert = 1, remove = 2, feedback = 3 };

/// Feedback on a served hit (op == feedback): the model input, fixed when
/// logged so that replay rebuilds exactly the same model.
struct feedback_fields {
  double similarity = 0;
  bool correct = false;
  std::uint8_t feature_class = 0; ///< quality::agreement_class at logging time
  std::string query_text{};       ///< kept for refits; may be empty
};

/// One mutation of one namespace, as logged before it is applied.
struct wal_record {
  wal_op op = wal_op::insert;
  namespace_key ns;
  /// Assigned by wal_store::append(): per namespace, strictly increasing,
  /// never reused (not after a snapshot drops the record, not after a
  /// restart, not after the namespace is dropped and reappears).
  std::uint64_t ns_seq = 0;
  cache_entry entry;                               ///< op == insert
  std::string uuid;                                ///< op == remove
  removal_reason reason = removal_reason::deleted; ///< op == remove
  feedback_fields feedback{};                      ///< op == feedback (uuid: the entry)
};

} // namespace ferro
