#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>

#include "cluster/replication_settings.hpp"

namespace ferro::cluster {

/// What a consumer needs from its edge (the replica's namespace actor, the
/// simulated network, a test fixture). The consumer calls it synchronously
/// from its own member functions; of the consumer's functions, the backend
/// may call only `durable()` from these calls.
///
/// - `consume(seq, payload)`: the next event in sequence, handed over exactly
///   once and in order. The edge logs and applies it, and calls `durable()`
///   once the log holds it.
/// - `send_ack(epoch, seq)`: tell the primary every event up to seq is durable.
/// - `send_nack(epoch, from_seq)`: ask the primary for events from from_seq on;
///   also the refusal of an older epoch's message, which fences its sender.
/// - `epoch_changed(old_epoch, new_epoch) -> seq_t`: a newer primary took
///   over. The edge truncates its log's uncommitted tail and returns the last
///   sequence number it keeps; the stream continues after it.
template <class B, class Payload>
concept consumer_backend = requires(B& b, epoch_t e, seq_t s, Payload p) {
  b.consume(s, std::move(p));
  b.send_ack(e, s);
  b.send_nack(e, s);
  { b.epoch_changed(e, e) } -> std::convertible_to<seq_t>;
};

/// The replica's end of one namespace's replication stream. Sans-IO, like
/// `producer`: between ticks it takes the time of the latest tick. Not
/// thread-safe; one owner.
///
/// Acknowledgements follow durability, not delivery: `consume` hands an event
/// over, and only `durable(up_to_seq)` sends the cumulative ack, so a primary
/// that counts this replica towards W never counts an event the replica could
/// still lose. An edge without a log of its own calls `durable(seq)` from
/// inside `consume`.
template <class Backend, class Payload>
class consumer {
public:
  /// `epoch` is the newest epoch this replica has followed and `last_applied`
  /// the last sequence number its durable log holds (both from its durable
  /// state); the stream continues at last_applied + 1.
  consumer(Backend& backend, epoch_t epoch, seq_t last_applied, channel_settings settings = {})
      : backend_(backend), settings_(settings), epoch_(epoch), next_seq_(last_applied + 1),
        durable_seq_(last_applied), known_last_(last_applied) {
    static_assert(consumer_backend<Backend, Payload>);
  }

  /// An event from the primary: consumed if it is the next one (then any held
  /// successors too), re-acknowledged if already consumed, held (up to
  /// max_out_of_order ahead) and nacked if it leaves a gap.
  void handle_event(epoch_t epoch, seq_t seq, Payload payload) {
    if (!accept_epoch(epoch))
      return;
    const bool was_behind = behind();
    known_last_ = std::max(known_last_, seq);
    if (seq < next_seq_) {
      backend_.send_ack(epoch_, durable_seq_);
      return;
    }
    if (seq == next_seq_) {
      deliver(seq, std::move(payload));
      deliver_held();
    } else if (seq - next_seq_ <= settings_.max_out_of_order) {
      held_.try_emplace(seq, std::move(payload));
    }
    // A new gap is asked for at once; an open one again from tick().
    if (behind() && !was_behind)
      send_nack();
  }

  /// The primary's heartbeat: nacks from next_seq() when behind (catch-up),
  /// acknowledges otherwise (so a lost ack does not linger).
  void handle_heartbeat(epoch_t epoch, seq_t last_seq) {
    if (!accept_epoch(epoch))
      return;
    known_last_ = std::max(known_last_, last_seq);
    if (behind())
      send_nack();
    else
      backend_.send_ack(epoch_, durable_seq_);
  }

  /// The edge's log holds every consumed event up to up_to_seq (capped at the
  /// last consumed one): sends the cumulative ack when that moves forward.
  void durable(seq_t up_to_seq) {
    up_to_seq = std::min(up_to_seq, next_seq_ - 1);
    if (up_to_seq <= durable_seq_)
      return;
    durable_seq_ = up_to_seq;
    backend_.send_ack(epoch_, durable_seq_);
  }

  /// The edge installed (durably) a snapshot holding every event up to
  /// base_seq: the stream continues after it, held successors are consumed,
  /// and base_seq is acknowledged.
  void reset_after_snapshot(seq_t base_seq) {
    if (base_seq >= next_seq_) {
      next_seq_ = base_seq + 1;
      held_.erase(held_.begin(), held_.upper_bound(base_seq));
    }
    known_last_ = std::max(known_last_, base_seq);
    if (base_seq > durable_seq_) {
      durable_seq_ = base_seq;
      backend_.send_ack(epoch_, durable_seq_);
    }
    deliver_held();
  }

  /// Advances time: nacks again a gap still open after nack_after_ms.
  void tick(std::int64_t now_ms) {
    now_ms_ = std::max(now_ms_, now_ms);
    if (behind() && now_ms_ - nacked_at_ms_ >= settings_.nack_after_ms)
      send_nack();
  }

  epoch_t epoch() const { return epoch_; }
  /// The sequence number expected next (last consumed + 1).
  seq_t next_seq() const { return next_seq_; }
  /// The highest sequence number acknowledged as durable.
  seq_t durable_seq() const { return durable_seq_; }
  /// Events held out of order, waiting for a gap to fill.
  std::size_t buffered() const { return held_.size(); }
  /// Whether the primary is known to have events not consumed yet.
  bool behind() const { return known_last_ >= next_seq_; }

private:
  // Refuses an older epoch (the nack carries ours and fences the sender) and
  // adopts a newer one. False when the message is to be ignored.
  bool accept_epoch(epoch_t epoch) {
    if (epoch < epoch_) {
      backend_.send_nack(epoch_, next_seq_);
      return false;
    }
    if (epoch > epoch_) {
      const epoch_t old = epoch_;
      epoch_ = epoch;
      // Held events and positions learnt came from the old primary.
      held_.clear();
      const seq_t kept = backend_.epoch_changed(old, epoch);
      if (kept < next_seq_ - 1)
        next_seq_ = kept + 1;
      durable_seq_ = std::min(durable_seq_, next_seq_ - 1);
      known_last_ = next_seq_ - 1;
    }
    return true;
  }

  void deliver(seq_t seq, Payload&& payload) {
    // Moved on first, so that the edge may call durable(seq) from consume().
    next_seq_ = seq + 1;
    backend_.consume(seq, std::move(payload));
  }

  void deliver_held() {
    while (!held_.empty() && held_.begin()->first == next_seq_) {
      auto node = held_.extract(held_.begin());
      deliver(node.key(), std::move(node.mapped()));
    }
  }

  void send_nack() {
    nacked_at_ms_ = now_ms_;
    backend_.send_nack(epoch_, next_seq_);
  }

  Backend& backend_;
  channel_settings settings_;
  epoch_t epoch_;
  seq_t next_seq_;
  seq_t durable_seq_;
  // The highest sequence number the primary is known to have produced.
  seq_t known_last_;
  std::map<seq_t, Payload> held_;
  std::int64_t now_ms_ = 0;
  std::int64_t nacked_at_ms_ = 0;
};

} // namespace ferro::cluster
