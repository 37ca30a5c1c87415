#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cluster/replication_channel.hpp"

namespace ferro::cluster::test {

/// One message on the wire between the two ends of a channel.
struct wire_message {
  enum kind_t { event, heartbeat, ack, nack } kind;
  epoch_t epoch;
  seq_t seq;
  std::string payload; // events only
};

/// What the lossy network does to each message it carries.
struct fault_profile {
  double drop = 0;
  double duplicate = 0;
  /// Delivery happens 1 + [0, max_extra_delay] ticks after sending; unequal
  /// delays reorder messages.
  int max_extra_delay = 0;
};

/// Both backends of a channel and a seeded lossy network between them. Every
/// backend call is written to `trace` as one line, in order. Messages are
/// delivered by `channel_fixture::run_tick`.
class sim_link {
public:
  explicit sim_link(std::uint64_t seed) : rng_(seed) {}

  // producer_backend
  void send_event(epoch_t e, seq_t s, const std::string& p) { send(true, {wire_message::event, e, s, p}); }
  void send_heartbeat(epoch_t e, seq_t s) { send(true, {wire_message::heartbeat, e, s, {}}); }
  void acked(seq_t s) {
    log("p acked #" + std::to_string(s));
    last_acked = s;
  }
  void retransmit_failed(seq_t s) {
    log("p retransmit_failed #" + std::to_string(s));
    retransmit_failures.push_back(s);
  }
  void fenced(epoch_t e) {
    log("p fenced e" + std::to_string(e));
    fenced_by = e;
  }
  std::size_t payload_bytes(const std::string& p) const { return p.size(); }

  // consumer_backend
  void consume(seq_t s, std::string p) {
    log("c consume #" + std::to_string(s) + " " + p);
    consumed.push_back(s);
    consumed_payloads.push_back(std::move(p));
  }
  void send_ack(epoch_t e, seq_t s) { send(false, {wire_message::ack, e, s, {}}); }
  void send_nack(epoch_t e, seq_t s) { send(false, {wire_message::nack, e, s, {}}); }
  // Truncates the replica's log (`consumed`) after kept_on_epoch_change.
  seq_t epoch_changed(epoch_t old_epoch, epoch_t new_epoch) {
    log("c epoch_changed e" + std::to_string(old_epoch) + " -> e" + std::to_string(new_epoch));
    while (!consumed.empty() && consumed.back() > kept_on_epoch_change) {
      consumed.pop_back();
      consumed_payloads.pop_back();
    }
    return kept_on_epoch_change;
  }

  struct in_flight {
    int due_tick;
    bool to_consumer;
    wire_message msg;
  };
  /// Takes the messages due by `tick` off the wire, in send order (unequal
  /// delays have already reordered them).
  std::vector<in_flight> take_due(int tick) {
    std::vector<in_flight> due;
    auto it = std::stable_partition(wire_.begin(), wire_.end(),
                                    [&](const in_flight& m) { return m.due_tick <= tick; });
    due.assign(std::make_move_iterator(wire_.begin()), std::make_move_iterator(it));
    wire_.erase(wire_.begin(), it);
    return due;
  }
  std::mt19937_64& rng() { return rng_; }

  fault_profile faults;
  /// Drops (once) the first message it matches; for scripted scenarios.
  std::function<bool(bool to_consumer, const wire_message&)> drop_once;
  int now_tick = 0;
  std::vector<std::string> trace;
  std::vector<seq_t> consumed;
  std::vector<std::string> consumed_payloads;
  std::vector<seq_t> retransmit_failures;
  seq_t last_acked = 0;
  epoch_t fenced_by = 0;
  /// What epoch_changed answers: the last seq the replica's log keeps.
  seq_t kept_on_epoch_change = std::numeric_limits<seq_t>::max();

private:
  static std::string describe(bool to_consumer, const wire_message& m) {
    static constexpr const char* names[] = {"event", "heartbeat", "ack", "nack"};
    std::string s = std::string(to_consumer ? "p>c " : "c>p ") + names[m.kind] + " e" +
                    std::to_string(m.epoch) + " #" + std::to_string(m.seq);
    if (m.kind == wire_message::event)
      s += " " + m.payload;
    return s;
  }

  void log(std::string line) { trace.push_back(std::move(line)); }

  void send(bool to_consumer, wire_message m) {
    log(describe(to_consumer, m));
    if (drop_once && drop_once(to_consumer, m)) {
      drop_once = nullptr;
      log("  dropped");
      return;
    }
    std::uniform_real_distribution<double> coin(0, 1);
    if (coin(rng_) < faults.drop)
      return;
    const int copies = coin(rng_) < faults.duplicate ? 2 : 1;
    for (int i = 0; i < copies; ++i) {
      const int delay = 1 + std::uniform_int_distribution<int>(0, faults.max_extra_delay)(rng_);
      wire_.push_back({now_tick + delay, to_consumer, m});
    }
  }

  std::mt19937_64 rng_;
  std::vector<in_flight> wire_;
};

/// Where the two ends of a channel start.
struct channel_start {
  epoch_t producer_epoch = 1;
  seq_t producer_head = 0;
  epoch_t consumer_epoch = 1;
  seq_t consumer_last_applied = 0;
};

/// A producer and a consumer joined by a sim_link. run_tick() advances time
/// by tick_ms, delivers what is due, ticks both ends, and marks everything
/// consumed as durable (with durable_chance < 1 only sometimes: a slow log).
/// A `successor` (a new primary after a failover) shares the link: it and the
/// old producer both hear every message of the replica.
struct channel_fixture {
  static constexpr std::int64_t tick_ms = 50;

  channel_fixture(std::uint64_t seed, channel_settings settings, channel_start start = {})
      : link(seed), prod(link, start.producer_epoch, start.producer_head, settings),
        cons(link, start.consumer_epoch, start.consumer_last_applied, settings) {}

  void run_tick() {
    ++link.now_tick;
    now_ms += tick_ms;
    for (auto& m : link.take_due(link.now_tick))
      deliver(m.to_consumer, m.msg);
    prod.tick(now_ms);
    if (successor)
      successor->tick(now_ms);
    cons.tick(now_ms);
    if (std::bernoulli_distribution(durable_chance)(link.rng()))
      cons.durable(cons.next_seq() - 1);
  }

  void deliver(bool to_consumer, const wire_message& m) {
    if (to_consumer && m.kind == wire_message::event)
      cons.handle_event(m.epoch, m.seq, m.payload);
    else if (to_consumer)
      cons.handle_heartbeat(m.epoch, m.seq);
    else
      for (auto* p : producers())
        if (m.kind == wire_message::ack)
          p->handle_ack(m.epoch, m.seq);
        else
          p->handle_nack(m.epoch, m.seq);
  }

  std::vector<producer<sim_link, std::string>*> producers() {
    if (successor)
      return {&prod, &*successor};
    return {&prod};
  }

  std::string trace() const {
    std::string out;
    for (const auto& line : link.trace)
      out += line + "\n";
    return out;
  }

  sim_link link;
  producer<sim_link, std::string> prod;
  consumer<sim_link, std::string> cons;
  std::optional<producer<sim_link, std::string>> successor;
  std::int64_t now_ms = 0;
  double durable_chance = 1.0;
};

} // namespace ferro::cluster::test
