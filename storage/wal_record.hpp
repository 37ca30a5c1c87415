#pragma once

#include <cstdint>
#include <string>

#include "common/entry.hpp"
#include "common/namespace_key.hpp"

namespace ferro {

enum class wal_op : std::uint8_t { insert = 1, remove = 2 };

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
};

} // namespace ferro
