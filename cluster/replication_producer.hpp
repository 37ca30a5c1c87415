#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "cluster/replication_settings.hpp"
#include "common/status.hpp"

namespace ferro::cluster {

/// What a producer needs from its edge (the CAF replicator, the simulated
/// network, a test fixture). The producer calls it synchronously from its own
/// member functions; the backend must not call back into the same producer
/// from these calls.
///
/// - `send_event(epoch, seq, payload)`: ship one event to the replica.
/// - `send_heartbeat(epoch, last_seq)`: tell the replica the last produced seq.
/// - `acked(seq)`: the replica acknowledged every event up to seq.
/// - `retransmit_failed(from_seq)`: the replica needs events from from_seq on
///   that the producer no longer holds; ship a snapshot (or the log range),
///   then call `reset_after_snapshot()`.
/// - `fenced(epoch)`: the replica follows a newer epoch, so another primary
///   exists; this producer is dead.
/// - `payload_bytes(payload)`: what an event weighs against
///   `channel_settings::max_buffered_bytes`.
template <class B, class Payload>
concept producer_backend = requires(B& b, const B& cb, epoch_t e, seq_t s, const Payload& p) {
  b.send_event(e, s, p);
  b.send_heartbeat(e, s);
  b.acked(s);
  b.retransmit_failed(s);
  b.fenced(e);
  { cb.payload_bytes(p) } -> std::convertible_to<std::size_t>;
};

/// The primary's end of one namespace's replication stream to one replica.
/// Sans-IO: messages come in through `handle_*`, time through `tick()`, and
/// everything going out goes through the backend. Between ticks it takes the
/// time of the latest tick. Not thread-safe; one owner.
///
/// It holds every produced but unacknowledged event (bounded), sends each at
/// once, resends from wherever the replica asks (nack), and resends the oldest
/// one when acknowledgements stop coming.
template <class Backend, class Payload>
class producer {
public:
  /// `head_seq` is the namespace's last sequence number when the channel
  /// opens: the first produce() is head_seq + 1. Events up to head_seq were
  /// never in this channel, so a replica that turns out to need one of them
  /// gets `retransmit_failed`.
  producer(Backend& backend, epoch_t epoch, seq_t head_seq, channel_settings settings = {})
      : backend_(backend), settings_(settings), epoch_(epoch), last_produced_(head_seq) {
    static_assert(producer_backend<Backend, Payload>);
  }

  /// Buffers the event and sends it (unless a snapshot is awaited; it is sent
  /// after `reset_after_snapshot`). Errors, with nothing buffered or sent:
  /// `overloaded` when the buffer is full (retry after acks come in, or drop
  /// the replica from the in-sync set and resume it from a snapshot),
  /// `unavailable` once fenced, `internal` when seq is not last_produced() + 1.
  status produce(seq_t seq, Payload payload) {
    if (fenced_)
      return error{errc::unavailable, "replication: fenced by a newer epoch"};
    if (seq != last_produced_ + 1)
      return error{errc::internal, "replication: produced seq " + std::to_string(seq) + " does not follow " +
                                       std::to_string(last_produced_)};
    const std::size_t bytes = backend_.payload_bytes(payload);
    // An empty buffer takes any one event, so a single large record still
    // goes through.
    if (!buffer_.empty() && (buffer_.size() >= settings_.max_buffered_events ||
                             buffered_bytes_ + bytes > settings_.max_buffered_bytes))
      return error{errc::overloaded, "replication: buffer of unacknowledged events is full"};
    if (buffer_.empty())
      restart_timers();
    buffer_.push_back({seq, std::move(payload), bytes});
    buffered_bytes_ += bytes;
    last_produced_ = seq;
    if (!awaiting_snapshot_)
      backend_.send_event(epoch_, seq, buffer_.back().payload);
    return {};
  }

  /// A cumulative acknowledgement: the replica holds every event up to
  /// acked_seq. Acks of an older epoch are ignored (their numbers may count a
  /// tail the new primary does not have); a newer epoch fences the producer.
  void handle_ack(epoch_t epoch, seq_t acked_seq) {
    if (!accept_epoch(epoch) || acked_seq <= acked_ || acked_seq > last_produced_)
      return;
    acked_ = acked_seq;
    drop_up_to(acked_seq);
    restart_timers();
    backend_.acked(acked_seq);
  }

  /// The replica misses events from from_seq on: resend them all, or report
  /// `retransmit_failed` and send nothing more until `reset_after_snapshot`
  /// when the buffer no longer reaches back that far. Ignored: a nack at or
  /// below the acknowledged position (stale, overtaken by an ack), and one
  /// for events resent less than retransmit_after_ms ago (that resend is
  /// still on its way; sending the window again would only multiply the
  /// traffic of a slow replica).
  void handle_nack(epoch_t epoch, seq_t from_seq) {
    if (!accept_epoch(epoch) || awaiting_snapshot_ || from_seq <= acked_ || from_seq > last_produced_)
      return;
    if (from_seq <= resent_through_ && now_ms_ - resent_at_ms_ < settings_.retransmit_after_ms)
      return;
    if (from_seq <= floor()) {
      awaiting_snapshot_ = true;
      backend_.retransmit_failed(from_seq);
      return;
    }
    resend_from(from_seq);
  }

  /// The replica has installed a snapshot holding every event up to
  /// base_seq (the edge calls this once the replica confirmed it). Counts as
  /// an acknowledgement of base_seq and resumes sending the buffered events
  /// after it (after last_acked() if that is newer). A base beyond last_produced() moves the stream on: the
  /// next produce() is base_seq + 1. A base older than the buffer reaches reports `retransmit_failed(base_seq
  /// + 1)` again.
  void reset_after_snapshot(seq_t base_seq) {
    if (fenced_)
      return;
    // The replica keeps what it acknowledged, even if the snapshot is older.
    base_seq = std::max(base_seq, acked_);
    awaiting_snapshot_ = false;
    if (base_seq > last_produced_) {
      drop_up_to(last_produced_);
      last_produced_ = base_seq;
    } else {
      drop_up_to(base_seq);
    }
    restart_timers();
    if (base_seq > acked_) {
      acked_ = base_seq;
      backend_.acked(base_seq);
    }
    if (base_seq < floor()) {
      awaiting_snapshot_ = true;
      backend_.retransmit_failed(base_seq + 1);
      return;
    }
    resend_from(floor() + 1);
  }

  /// Advances time: a heartbeat every heartbeat_interval_ms, and the oldest
  /// unacknowledged event again after retransmit_after_ms without ack
  /// progress. Silent while fenced or awaiting a snapshot.
  void tick(std::int64_t now_ms) {
    now_ms_ = std::max(now_ms_, now_ms);
    if (fenced_ || awaiting_snapshot_)
      return;
    if (now_ms_ - last_heartbeat_ms_ >= settings_.heartbeat_interval_ms) {
      last_heartbeat_ms_ = now_ms_;
      backend_.send_heartbeat(epoch_, last_produced_);
    }
    if (!buffer_.empty() && now_ms_ - last_resend_ms_ >= settings_.retransmit_after_ms) {
      last_resend_ms_ = now_ms_;
      backend_.send_event(epoch_, buffer_.front().seq, buffer_.front().payload);
    }
  }

  epoch_t epoch() const { return epoch_; }
  seq_t last_produced() const { return last_produced_; }
  /// The highest sequence number the replica acknowledged (0: none yet).
  seq_t last_acked() const { return acked_; }
  /// Produced but not acknowledged events.
  seq_t lag() const { return last_produced_ - acked_; }
  /// Unacknowledged events held for resending.
  std::size_t buffered() const { return buffer_.size(); }
  std::size_t buffered_bytes() const { return buffered_bytes_; }
  /// Out of sync: waiting for a snapshot, or the oldest unacknowledged event
  /// has waited stall_after_ms without ack progress.
  bool stalled() const {
    return awaiting_snapshot_ ||
           (!buffer_.empty() && now_ms_ - waiting_since_ms_ >= settings_.stall_after_ms);
  }
  bool awaiting_snapshot() const { return awaiting_snapshot_; }
  bool fenced() const { return fenced_; }

private:
  struct entry {
    seq_t seq;
    Payload payload;
    std::size_t bytes;
  };

  // False for a message to ignore: an older epoch, or any once fenced.
  bool accept_epoch(epoch_t epoch) {
    if (fenced_ || epoch < epoch_)
      return false;
    if (epoch > epoch_) {
      fenced_ = true;
      backend_.fenced(epoch);
      return false;
    }
    return true;
  }

  // The buffer always holds exactly (floor(), last_produced_].
  seq_t floor() const { return last_produced_ - buffer_.size(); }

  void drop_up_to(seq_t seq) {
    while (!buffer_.empty() && buffer_.front().seq <= seq) {
      buffered_bytes_ -= buffer_.front().bytes;
      buffer_.pop_front();
    }
  }

  // Sends the buffered events from seq on (floor() < seq); the buffer is
  // contiguous, so seq sits at a known offset.
  void resend_from(seq_t seq) {
    for (auto it = buffer_.begin() + static_cast<std::ptrdiff_t>(seq - floor() - 1); it != buffer_.end();
         ++it)
      backend_.send_event(epoch_, it->seq, it->payload);
    resent_through_ = last_produced_;
    resent_at_ms_ = now_ms_;
    last_resend_ms_ = now_ms_;
  }

  // Progress (an ack, or a first event after an idle spell) restarts both
  // the stall clock and the retransmit clock.
  void restart_timers() {
    waiting_since_ms_ = now_ms_;
    last_resend_ms_ = now_ms_;
  }

  Backend& backend_;
  channel_settings settings_;
  epoch_t epoch_;
  bool fenced_ = false;
  bool awaiting_snapshot_ = false;
  seq_t last_produced_;
  seq_t acked_ = 0;
  std::deque<entry> buffer_;
  std::size_t buffered_bytes_ = 0;
  std::int64_t now_ms_ = 0;
  std::int64_t last_heartbeat_ms_ = 0;
  std::int64_t last_resend_ms_ = 0;
  std::int64_t waiting_since_ms_ = 0;
  // The last resend for a nack or snapshot: up to which seq, and when.
  seq_t resent_through_ = 0;
  std::int64_t resent_at_ms_ = 0;
};

} // namespace ferro::cluster
