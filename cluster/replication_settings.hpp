#pragma once

#include <cstddef>
#include <cstdint>

#include "common/defaults.hpp"

namespace ferro::cluster {

/// A fencing token: raised by every change of primary. Messages of an older
/// epoch are refused; a newer one is adopted (replica) or fences (primary).
using epoch_t = std::uint64_t;

/// A namespace's log sequence number: dense and strictly increasing within a
/// stream. 0 means "nothing yet"; the first event is 1.
using seq_t = std::uint64_t;

/// Tuning of one replication channel; the defaults live in
/// common/defaults.hpp (`defaults::replication`). Times are in the
/// milliseconds of the clock that drives `tick(now_ms)`.
struct channel_settings {
  /// Producer: unacknowledged events it buffers before produce() is refused.
  std::size_t max_buffered_events = defaults::replication::max_buffered_events;
  /// Producer: unacknowledged payload bytes it buffers before produce() is
  /// refused (one event larger than this is still taken into an empty buffer).
  std::size_t max_buffered_bytes = defaults::replication::max_buffered_bytes;
  /// Producer: heartbeat period.
  std::int64_t heartbeat_interval_ms = defaults::replication::heartbeat_interval_ms;
  /// Producer: resend the oldest unacknowledged event after this long
  /// without acknowledgement progress.
  std::int64_t retransmit_after_ms = defaults::replication::retransmit_after_ms;
  /// Producer: stalled() after this long without acknowledgement progress.
  std::int64_t stall_after_ms = defaults::replication::stall_after_ms;
  /// Consumer: events it holds ahead of the next expected one; it takes
  /// sequence numbers in [next_seq + 1, next_seq + max_out_of_order] and
  /// drops those further ahead (they are asked for again later).
  std::size_t max_out_of_order = defaults::replication::max_out_of_order;
  /// Consumer: re-nack an open gap after this long.
  std::int64_t nack_after_ms = defaults::replication::nack_after_ms;
};

} // namespace ferro::cluster
