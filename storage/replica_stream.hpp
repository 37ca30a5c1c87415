#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/log_record.hpp"
#include "common/namespace_key.hpp"

/// How a copy takes its primary's records at the primary's own sequence
/// numbers (a replica's `follow`, actors/namespace_actor.cpp): which records
/// of a batch are new, which it holds already, and when it cannot take the
/// batch at all. Pure, so that the rule is tested on its own against a
/// stream that loses, duplicates and reorders batches
/// (tests/unit/storage/replica_stream_test.cpp); the cluster's catch-up is
/// what fills a gap, and the simulator tests the two together.
namespace ferro {

/// Where a copy stands in its namespace's stream.
struct replica_cursor {
  namespace_key ns;
  bool empty = true;            ///< holds no record yet: it starts wherever the stream does
  std::uint64_t logged_seq = 0; ///< newest sequence number it logged (or is logging)
  std::uint64_t last_epoch = 0; ///< epoch of its newest record
  std::size_t dimension = 0;    ///< of its inserts; 0 before the first
};

enum class batch_verdict : std::uint8_t {
  take,      ///< `fresh` follows on from the copy (empty when it held everything already)
  gap,       ///< a record is missing before the batch's first new one (or is of another namespace)
  diverged,  ///< the copy holds a record of its own where the stream brings one of a newer epoch
  dimension, ///< an insert of another dimension than the copy's
};

struct batch_admission {
  batch_verdict verdict = batch_verdict::take;
  /// What the copy holds up to: for an empty copy, the sequence number
  /// before the batch's first (a namespace's stream need not start at 1).
  std::uint64_t base = 0;
  std::uint64_t newest = 0;      ///< the batch's newest sequence number (take)
  std::size_t dimension = 0;     ///< the copy's dimension once it took the batch (take)
  std::vector<log_record> fresh; ///< take: the records past `base`, in order
  std::string why;               ///< otherwise: what is wrong, for the error the primary gets
};

/// Judges a batch as a whole before anything changes: a batch that cannot
/// be taken leaves no trace. Records the copy holds already are
/// retransmissions (counted once durable), unless the stream brings one of
/// a newer epoch than any the copy holds at a number it has: the copy then
/// wrote a record of its own there (a deposed leader) and must be rebuilt.
batch_admission admit_batch(const replica_cursor& at, std::vector<log_record> records);

} // namespace ferro
