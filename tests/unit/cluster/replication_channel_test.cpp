#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "channel_fixture.hpp"

using namespace ferro;
using namespace ferro::cluster;
using ferro::cluster::test::channel_fixture;
using ferro::cluster::test::channel_start;
using ferro::cluster::test::fault_profile;

namespace {

channel_settings quick_settings() {
  channel_settings s;
  s.heartbeat_interval_ms = 100;
  s.retransmit_after_ms = 300;
  s.nack_after_ms = 150;
  s.stall_after_ms = 1000;
  return s;
}

std::size_t count_lines(const std::string& trace, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = trace.find(needle); pos != std::string::npos; pos = trace.find(needle, pos + 1))
    ++n;
  return n;
}

// The payload of event `seq` from a primary that writes `tag`s.
std::string payload_for(seq_t seq, char tag = 'v') {
  // Appended rather than "v" + to_string: GCC 12 warns falsely (-Wrestrict)
  // about the latter at -O3.
  std::string p(1, tag);
  p += std::to_string(seq);
  return p;
}

// What run_lossy() saw, including the largest buffers along the way.
struct lossy_run {
  std::vector<seq_t> consumed;
  std::vector<std::string> payloads;
  seq_t produced = 0;
  seq_t acked = 0;
  std::size_t max_producer_buffered = 0;
  std::size_t max_consumer_buffered = 0;
  std::vector<seq_t> retransmit_failures;
  epoch_t fenced_by = 0;
  std::string trace;
};

// Produces 1..n over a faulty network in random bursts, as far as the
// producer's buffer takes them, then stops the faults and runs ticks until n
// is acknowledged.
lossy_run run_lossy(std::uint64_t seed, seq_t n, const channel_settings& settings) {
  channel_fixture f(seed, settings);
  f.link.faults = fault_profile{0.2, 0.1, 6};
  f.durable_chance = 0.5;
  std::mt19937_64 workload(seed * 0x9e3779b97f4a7c15ull + 1);
  lossy_run r;
  auto observe = [&] {
    r.max_producer_buffered = std::max(r.max_producer_buffered, f.prod.buffered());
    r.max_consumer_buffered = std::max(r.max_consumer_buffered, f.cons.buffered());
  };
  seq_t next = 1;
  for (int t = 0; t < 100000 && next <= n; ++t) {
    const int burst = std::uniform_int_distribution<int>(0, 4)(workload);
    for (int k = 0; k < burst && next <= n && f.prod.produce(next, payload_for(next)); ++k)
      ++next;
    f.run_tick();
    observe();
  }
  f.link.faults = fault_profile{};
  f.durable_chance = 1.0;
  for (int t = 0; t < 1000 && f.prod.last_acked() < n; ++t) {
    f.run_tick();
    observe();
  }
  r.consumed = f.link.consumed;
  r.payloads = f.link.consumed_payloads;
  r.produced = f.prod.last_produced();
  r.acked = f.prod.last_acked();
  r.retransmit_failures = f.link.retransmit_failures;
  r.fenced_by = f.link.fenced_by;
  r.trace = f.trace();
  return r;
}

} // namespace

TEST_CASE("over a lossy, duplicating, reordering network every event is consumed once, in order, and acked") {
  constexpr seq_t n = 300;
  auto settings = quick_settings();
  settings.max_buffered_events = 32;
  settings.max_out_of_order = 8;
  settings.stall_after_ms = 1'000'000;
  std::vector<seq_t> expected(n);
  std::iota(expected.begin(), expected.end(), seq_t{1});
  int full_producers = 0;
  int full_consumers = 0;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    INFO("seed " << seed);
    const auto r = run_lossy(seed, n, settings);
    REQUIRE(r.produced == n);
    CHECK(r.consumed == expected);
    CHECK(r.acked == n);
    for (std::size_t i = 0; i < r.payloads.size(); ++i)
      if (r.payloads[i] != payload_for(i + 1))
        FAIL("payload " << r.payloads[i] << " consumed as #" << i + 1);
    CHECK(r.max_producer_buffered <= 32);
    CHECK(r.max_consumer_buffered <= 8);
    CHECK(r.retransmit_failures.empty());
    CHECK(r.fenced_by == 0);
    full_producers += r.max_producer_buffered == 32;
    full_consumers += r.max_consumer_buffered == 8;
  }
  // The bounds were reached: refused produce() calls and full out-of-order
  // windows were part of the runs.
  CHECK(full_producers > 0);
  CHECK(full_consumers > 0);
}

TEST_CASE("after a failover over a lossy network the replica's log is the committed prefix and the new "
          "primary's events") {
  // Primary 1 streams v1.. until the failover; primary 2 (epoch 2) continues
  // after what the replica had acknowledged (h), with w(h+1)..w(n). Primary 1
  // keeps ticking: its resends and heartbeats are still on the wire.
  constexpr seq_t n = 200;
  auto settings = quick_settings();
  settings.max_buffered_events = 32;
  settings.max_out_of_order = 8;
  for (std::uint64_t seed = 1; seed <= 100; ++seed) {
    INFO("seed " << seed);
    channel_fixture f(seed, settings);
    f.link.faults = fault_profile{0.2, 0.1, 6};
    f.durable_chance = 0.5;
    std::mt19937_64 workload(seed);
    const int failover_tick = std::uniform_int_distribution<int>(10, 80)(workload);
    seq_t next = 1;
    for (int t = 0; t < failover_tick; ++t) {
      for (int k = 0; k < 3 && f.prod.produce(next, payload_for(next)); ++k)
        ++next;
      f.run_tick();
    }
    const seq_t h = f.prod.last_acked();
    f.link.kept_on_epoch_change = h;
    f.successor.emplace(f.link, 2, h, settings);
    auto& p2 = *f.successor;
    next = h + 1;
    for (int t = 0; t < 100000 && next <= n; ++t) {
      for (int k = 0; k < 3 && next <= n && p2.produce(next, payload_for(next, 'w')); ++k)
        ++next;
      f.run_tick();
    }
    REQUIRE(next == n + 1);
    f.link.faults = fault_profile{};
    f.durable_chance = 1.0;
    for (int t = 0; t < 1000 && (p2.last_acked() < n || !f.prod.fenced()); ++t)
      f.run_tick();
    CAPTURE(h);
    CHECK(p2.last_acked() == n);
    CHECK(f.prod.fenced());
    CHECK(f.cons.epoch() == 2);
    std::vector<seq_t> expected(n);
    std::iota(expected.begin(), expected.end(), seq_t{1});
    CHECK(f.link.consumed == expected);
    bool payloads_match = f.link.consumed_payloads.size() == n;
    for (seq_t i = 1; payloads_match && i <= n; ++i)
      payloads_match = f.link.consumed_payloads[i - 1] == payload_for(i, i <= h ? 'v' : 'w');
    CHECK(payloads_match);
    CHECK(f.link.retransmit_failures.empty());
  }
}

TEST_CASE("the same seed gives the same run twice") {
  const auto a = run_lossy(7, 50, quick_settings());
  const auto b = run_lossy(7, 50, quick_settings());
  CHECK(a.trace == b.trace);
  CHECK(a.trace != run_lossy(8, 50, quick_settings()).trace);
}

TEST_CASE("a lost event is nacked, resent and consumed in order: golden trace") {
  channel_fixture f(1, quick_settings());
  f.link.drop_once = [](bool to_consumer, const test::wire_message& m) {
    return to_consumer && m.kind == test::wire_message::event && m.seq == 2;
  };
  REQUIRE(f.prod.produce(1, "a"));
  REQUIRE(f.prod.produce(2, "b"));
  REQUIRE(f.prod.produce(3, "c"));
  for (int i = 0; i < 6; ++i)
    f.run_tick();
  CHECK(f.trace() == "p>c event e1 #1 a\n"
                     "p>c event e1 #2 b\n"
                     "  dropped\n"
                     "p>c event e1 #3 c\n"
                     // t=50: #3 is held, #2 asked for; #1 is durable at the tick's end
                     "c consume #1 a\n"
                     "c>p nack e1 #2\n"
                     "c>p ack e1 #1\n"
                     // t=100
                     "p>c event e1 #2 b\n"
                     "p>c event e1 #3 c\n"
                     "p acked #1\n"
                     "p>c heartbeat e1 #3\n"
                     // t=150: #3 again is a duplicate; acks stay at what is durable
                     "c consume #2 b\n"
                     "c consume #3 c\n"
                     "c>p ack e1 #1\n"
                     "c>p ack e1 #1\n"
                     "c>p ack e1 #3\n"
                     // t=200
                     "p acked #3\n"
                     "p>c heartbeat e1 #3\n"
                     // t=250
                     "c>p ack e1 #3\n"
                     // t=300; its ack (t=350) is not run
                     "p>c heartbeat e1 #3\n");
  CHECK(f.link.consumed == std::vector<seq_t>{1, 2, 3});
  CHECK(f.prod.last_acked() == 3);
  CHECK(f.prod.buffered() == 0);
  CHECK(f.prod.lag() == 0);
}

TEST_CASE("a primary of an older epoch is refused and learns that it is fenced") {
  channel_fixture f(1, quick_settings(), channel_start{.producer_epoch = 1, .consumer_epoch = 2});
  REQUIRE(f.prod.produce(1, "a"));
  f.run_tick();
  f.run_tick();
  CHECK(f.link.consumed.empty());
  CHECK(f.prod.fenced());
  CHECK(f.link.fenced_by == 2);
  const auto refused = f.prod.produce(2, "b");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.err().code == errc::unavailable);
  for (int i = 0; i < 10; ++i)
    f.run_tick();
  CHECK(f.trace() == "p>c event e1 #1 a\n"
                     "c>p nack e2 #1\n"
                     "p fenced e2\n");
  CHECK(f.cons.epoch() == 2);
}

TEST_CASE("a replica adopts a newer epoch, reports it and ignores nothing of the new primary") {
  channel_fixture f(1, quick_settings(), channel_start{.producer_epoch = 2, .consumer_epoch = 1});
  REQUIRE(f.prod.produce(1, "a"));
  f.run_tick();
  f.run_tick();
  CHECK(f.cons.epoch() == 2);
  CHECK(count_lines(f.trace(), "c epoch_changed e1 -> e2") == 1);
  CHECK(f.link.consumed == std::vector<seq_t>{1});
  CHECK(f.prod.last_acked() == 1);
  // An ack of the old epoch may count a tail the new primary never had.
  REQUIRE(f.prod.produce(2, "b"));
  f.prod.handle_ack(1, 2);
  CHECK(f.prod.last_acked() == 1);
  CHECK_FALSE(f.prod.fenced());
}

TEST_CASE("after an epoch change the replica continues after the tail it keeps") {
  // The replica logged #4 and #5 under epoch 1; the new primary (epoch 2)
  // continues after #3, so the replica truncates to #3.
  channel_fixture f(
      1, quick_settings(),
      channel_start{
          .producer_epoch = 2, .producer_head = 3, .consumer_epoch = 1, .consumer_last_applied = 5});
  f.link.kept_on_epoch_change = 3;
  REQUIRE(f.prod.produce(4, "x"));
  f.run_tick();
  f.run_tick();
  CHECK(f.link.consumed == std::vector<seq_t>{4});
  CHECK(f.link.consumed_payloads == std::vector<std::string>{"x"});
  CHECK(f.cons.next_seq() == 5);
  CHECK(f.cons.durable_seq() == 4);
  CHECK(f.prod.last_acked() == 4);
}

TEST_CASE("a nack older than the producer's buffer asks for a snapshot, after which the stream continues") {
  // The channel opens at #10; the replica has only #3.
  channel_fixture f(1, quick_settings(), channel_start{.producer_head = 10, .consumer_last_applied = 3});
  REQUIRE(f.prod.produce(11, "k"));
  f.run_tick(); // the replica holds #11 and nacks #4
  f.run_tick();
  CHECK(f.link.retransmit_failures == std::vector<seq_t>{4});
  CHECK(f.prod.awaiting_snapshot());
  CHECK(f.prod.stalled());
  // Produced meanwhile: buffered, not sent.
  REQUIRE(f.prod.produce(12, "l"));
  for (int i = 0; i < 10; ++i)
    f.run_tick();
  CHECK(count_lines(f.trace(), "p>c event e1 #12") == 0);
  CHECK(count_lines(f.trace(), "p>c heartbeat") == 0);
  CHECK(f.link.consumed.empty());

  // The edge ships a snapshot up to #10 and the replica installs it.
  f.cons.reset_after_snapshot(10);
  f.prod.reset_after_snapshot(10);
  for (int i = 0; i < 4; ++i)
    f.run_tick();
  CHECK(f.link.consumed == std::vector<seq_t>{11, 12});
  CHECK(f.prod.last_acked() == 12);
  CHECK_FALSE(f.prod.awaiting_snapshot());
  CHECK_FALSE(f.prod.stalled());
  CHECK(f.link.retransmit_failures.size() == 1);
}

TEST_CASE("a snapshot older than the producer's buffer asks for another one") {
  channel_fixture f(1, quick_settings(), channel_start{.producer_head = 10, .consumer_last_applied = 3});
  f.prod.handle_nack(1, 4);
  REQUIRE(f.prod.awaiting_snapshot());
  f.prod.reset_after_snapshot(7);
  CHECK(f.prod.awaiting_snapshot());
  CHECK(f.link.retransmit_failures == std::vector<seq_t>{4, 8});
  CHECK(f.prod.last_acked() == 7);
  f.prod.reset_after_snapshot(10);
  CHECK_FALSE(f.prod.awaiting_snapshot());
}

TEST_CASE("a snapshot older than what the replica acknowledged resumes after the acknowledged position") {
  channel_fixture f(1, quick_settings());
  for (seq_t i = 1; i <= 5; ++i)
    REQUIRE(f.prod.produce(i, payload_for(i)));
  f.prod.handle_ack(1, 3);
  f.prod.reset_after_snapshot(2);
  CHECK(f.link.retransmit_failures.empty());
  CHECK(f.prod.last_acked() == 3);
  CHECK(count_lines(f.trace(), "p>c event e1 #4") == 2);
  CHECK(count_lines(f.trace(), "p>c event e1 #5") == 2);
}

TEST_CASE("a full producer buffer refuses new events instead of growing") {
  SECTION("by count") {
    auto s = quick_settings();
    s.max_buffered_events = 3;
    channel_fixture f(1, s);
    for (seq_t i = 1; i <= 3; ++i)
      REQUIRE(f.prod.produce(i, "a"));
    const auto refused = f.prod.produce(4, "a");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.err().code == errc::overloaded);
    CHECK(f.prod.buffered() == 3);
    CHECK(f.prod.last_produced() == 3);
    CHECK(count_lines(f.trace(), "p>c event") == 3);
    f.prod.handle_ack(1, 2);
    CHECK(f.prod.buffered() == 1);
    CHECK(f.prod.produce(4, "a"));
  }
  SECTION("by bytes") {
    auto s = quick_settings();
    s.max_buffered_bytes = 10;
    channel_fixture f(1, s);
    REQUIRE(f.prod.produce(1, "abcd"));
    REQUIRE(f.prod.produce(2, "abcd"));
    const auto refused = f.prod.produce(3, "abcd");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.err().code == errc::overloaded);
    CHECK(f.prod.buffered_bytes() == 8);
    f.prod.handle_ack(1, 2);
    CHECK(f.prod.buffered_bytes() == 0);
    // An empty buffer takes one event larger than the bound.
    CHECK(f.prod.produce(3, "abcdefghijklmnop"));
    CHECK_FALSE(f.prod.produce(4, "a"));
  }
}

TEST_CASE("produce refuses a sequence number that does not follow the last one") {
  channel_fixture f(1, quick_settings());
  const auto gap = f.prod.produce(2, "a");
  REQUIRE_FALSE(gap.ok());
  CHECK(gap.err().code == errc::internal);
  REQUIRE(f.prod.produce(1, "a"));
  CHECK_FALSE(f.prod.produce(1, "a"));
  CHECK(f.prod.buffered() == 1);
}

TEST_CASE("a replica holds at most max_out_of_order events ahead and asks again for the rest") {
  auto s = quick_settings();
  s.max_out_of_order = 4;
  channel_fixture f(1, s);
  for (seq_t i = 2; i <= 10; ++i)
    f.cons.handle_event(1, i, payload_for(i));
  CHECK(f.cons.buffered() == 4);
  CHECK(count_lines(f.trace(), "c>p nack") == 1); // once per new gap, not per event
  f.cons.handle_event(1, 1, payload_for(1));
  CHECK(f.link.consumed == std::vector<seq_t>{1, 2, 3, 4, 5});
  CHECK(f.cons.buffered() == 0);
  CHECK(f.cons.behind());
  f.cons.tick(100);
  CHECK(count_lines(f.trace(), "c>p nack e1 #6") == 0);
  f.cons.tick(150);
  CHECK(count_lines(f.trace(), "c>p nack e1 #6") == 1);
}

TEST_CASE("a replica acknowledges only what is durable") {
  channel_fixture f(1, quick_settings());
  f.cons.handle_event(1, 1, "a");
  f.cons.handle_event(1, 2, "b");
  CHECK(f.link.consumed == std::vector<seq_t>{1, 2});
  CHECK(count_lines(f.trace(), "c>p ack") == 0);
  f.cons.durable(1);
  f.cons.durable(9); // capped at what was consumed
  f.cons.durable(2);
  CHECK(f.trace() == "c consume #1 a\n"
                     "c consume #2 b\n"
                     "c>p ack e1 #1\n"
                     "c>p ack e1 #2\n");
  CHECK(f.cons.durable_seq() == 2);
}

TEST_CASE("a heartbeat makes a replica that is behind ask for what it misses") {
  channel_fixture f(1, quick_settings(), channel_start{.consumer_last_applied = 0});
  f.cons.handle_heartbeat(1, 0);
  f.cons.handle_heartbeat(1, 5);
  CHECK(f.trace() == "c>p ack e1 #0\n"
                     "c>p nack e1 #1\n");
}

TEST_CASE("a producer heartbeats on its interval and resends its oldest event when acks stop") {
  channel_fixture f(1, quick_settings()); // heartbeat 100, retransmit 300, stall 1000
  REQUIRE(f.prod.produce(1, "a"));
  REQUIRE(f.prod.produce(2, "b"));
  for (std::int64_t t = 50; t <= 300; t += 50)
    f.prod.tick(t);
  CHECK(f.trace() == "p>c event e1 #1 a\n"
                     "p>c event e1 #2 b\n"
                     "p>c heartbeat e1 #2\n"
                     "p>c heartbeat e1 #2\n"
                     "p>c heartbeat e1 #2\n"
                     "p>c event e1 #1 a\n");
  CHECK(f.prod.lag() == 2);
  f.prod.tick(999);
  CHECK_FALSE(f.prod.stalled());
  f.prod.tick(1000);
  CHECK(f.prod.stalled());
  f.prod.handle_ack(1, 1);
  CHECK_FALSE(f.prod.stalled());
  CHECK(f.prod.lag() == 1);
  CHECK(f.link.last_acked == 1);
}

TEST_CASE("a nack overtaken by an ack neither resends nor asks for a snapshot") {
  channel_fixture f(1, quick_settings());
  for (seq_t i = 1; i <= 3; ++i)
    REQUIRE(f.prod.produce(i, payload_for(i)));
  f.prod.handle_ack(1, 3);
  f.prod.handle_nack(1, 2);
  CHECK(count_lines(f.trace(), "p>c event") == 3);
  CHECK(f.link.retransmit_failures.empty());
  CHECK_FALSE(f.prod.awaiting_snapshot());
}

TEST_CASE("a nack for events resent moments ago does not resend them again") {
  channel_fixture f(1, quick_settings()); // retransmit 300
  for (seq_t i = 1; i <= 3; ++i)
    REQUIRE(f.prod.produce(i, payload_for(i)));
  f.prod.tick(50);
  f.prod.handle_nack(1, 2); // resends #2 and #3
  f.prod.handle_nack(1, 2); // a duplicate
  f.prod.handle_nack(1, 3); // the replica got #2, #3 is on its way
  CHECK(count_lines(f.trace(), "p>c event e1 #2") == 2);
  CHECK(count_lines(f.trace(), "p>c event e1 #3") == 2);
  REQUIRE(f.prod.produce(4, payload_for(4)));
  f.prod.handle_nack(1, 4); // #4 was not resent yet
  CHECK(count_lines(f.trace(), "p>c event e1 #4") == 2);
  f.prod.tick(349);
  f.prod.handle_nack(1, 3);
  CHECK(count_lines(f.trace(), "p>c event e1 #3") == 2);
  f.prod.tick(350);
  f.prod.handle_nack(1, 3); // long enough: lost again
  CHECK(count_lines(f.trace(), "p>c event e1 #3") == 3);
}

TEST_CASE(
    "a replica whose produce was refused comes back through a snapshot beyond the last produced event") {
  auto s = quick_settings();
  s.max_buffered_events = 2;
  channel_fixture f(1, s);
  REQUIRE(f.prod.produce(1, "a"));
  REQUIRE(f.prod.produce(2, "b"));
  REQUIRE_FALSE(f.prod.produce(3, "c"));
  // The primary's log goes on to #5 without this replica; a snapshot of it
  // brings the replica back.
  f.run_tick();
  f.cons.reset_after_snapshot(5);
  f.prod.reset_after_snapshot(5);
  REQUIRE(f.prod.produce(6, "f"));
  for (int i = 0; i < 4; ++i)
    f.run_tick();
  CHECK(f.link.consumed == std::vector<seq_t>{1, 2, 6});
  CHECK(f.prod.last_acked() == 6);
  CHECK(f.prod.lag() == 0);
}
