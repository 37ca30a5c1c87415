// The rule by which a copy takes its primary's records (storage/replica_stream.hpp):
// case by case, then a stream that loses, duplicates and reorders batches,
// which must end with the copy holding exactly the primary's log.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/replica_stream.hpp"

using namespace ferro;

namespace {

const namespace_key ns{"model", "tenant", ""};

log_record insert_at(std::uint64_t seq, std::uint64_t epoch, std::size_t dim = 4) {
  log_record r;
  r.op = log_op::insert;
  r.ns = ns;
  r.ns_seq = seq;
  r.epoch = epoch;
  r.entry.uuid = std::string("u").append(std::to_string(seq)); // not "u" + ...: GCC 12's bogus -Wrestrict
  r.entry.embedding.assign(dim, 0.5f);
  return r;
}

log_record remove_at(std::uint64_t seq, std::uint64_t epoch) {
  log_record r;
  r.op = log_op::remove;
  r.ns = ns;
  r.ns_seq = seq;
  r.epoch = epoch;
  r.uuid = std::string("u").append(std::to_string(seq - 1));
  return r;
}

std::vector<std::uint64_t> seqs(const std::vector<log_record>& records) {
  std::vector<std::uint64_t> out;
  for (const auto& r : records)
    out.push_back(r.ns_seq);
  return out;
}

/// A copy as the namespace actor keeps it: its cursor and its log.
struct copy {
  replica_cursor at{ns};
  std::vector<log_record> log;

  /// Offers a batch; true if taken (possibly with nothing new).
  bool offer(std::vector<log_record> batch) {
    auto a = admit_batch(at, std::move(batch));
    if (a.verdict != batch_verdict::take)
      return false;
    for (auto& r : a.fresh) {
      at.logged_seq = r.ns_seq;
      at.last_epoch = std::max(at.last_epoch, r.epoch);
      log.push_back(std::move(r));
    }
    if (at.empty && !log.empty())
      at.empty = false;
    at.dimension = a.dimension;
    return true;
  }
};

} // namespace

TEST_CASE("a batch that follows on is taken whole, in order") {
  replica_cursor at{ns, false, 4, 2, 4};
  auto a = admit_batch(at, {insert_at(5, 2), remove_at(6, 2), insert_at(7, 3)});
  CHECK(a.verdict == batch_verdict::take);
  CHECK(a.base == 4);
  CHECK(a.newest == 7);
  CHECK(seqs(a.fresh) == std::vector<std::uint64_t>{5, 6, 7});
}

TEST_CASE("records the copy holds are retransmissions: only the new ones are taken") {
  replica_cursor at{ns, false, 6, 2, 4};
  auto a = admit_batch(at, {insert_at(5, 2), remove_at(6, 2), insert_at(7, 2)});
  CHECK(a.verdict == batch_verdict::take);
  CHECK(a.newest == 7);
  CHECK(seqs(a.fresh) == std::vector<std::uint64_t>{7});
  auto again = admit_batch(at, {insert_at(5, 2), remove_at(6, 2)});
  CHECK(again.verdict == batch_verdict::take);
  CHECK(again.fresh.empty());
  CHECK(again.newest == 6); // acknowledged once durable up to here
}

TEST_CASE("a batch after a missing record is refused whole") {
  replica_cursor at{ns, false, 4, 2, 4};
  auto a = admit_batch(at, {insert_at(6, 2), insert_at(7, 2)});
  CHECK(a.verdict == batch_verdict::gap);
  CHECK(a.fresh.empty());
  CHECK(a.why == "holds up to 4, got record 6");
  // A hole inside the batch refuses the part before it too.
  auto b = admit_batch(at, {insert_at(5, 2), insert_at(7, 2)});
  CHECK(b.verdict == batch_verdict::gap);
  CHECK(b.fresh.empty());
}

TEST_CASE("an empty copy starts wherever the stream does") {
  replica_cursor at{ns, true, 0, 0, 0};
  auto a = admit_batch(at, {insert_at(41, 1, 8), insert_at(42, 1, 8)});
  CHECK(a.verdict == batch_verdict::take);
  CHECK(a.base == 40);
  CHECK(seqs(a.fresh) == std::vector<std::uint64_t>{41, 42});
  CHECK(a.dimension == 8);
}

TEST_CASE("a record of a newer epoch at a number the copy holds means the copy diverged") {
  // The copy logged 5 at epoch 2 as a deposed leader; the new leader's 5 is of epoch 3.
  replica_cursor at{ns, false, 5, 2, 4};
  auto a = admit_batch(at, {insert_at(5, 3), insert_at(6, 3)});
  CHECK(a.verdict == batch_verdict::diverged);
  CHECK(a.fresh.empty());
  CHECK(a.why == "holds its own record 5 (epoch 2 or older), not that of epoch 3: it must be rebuilt");
}

TEST_CASE("records of another namespace or dimension are refused") {
  replica_cursor at{ns, false, 4, 2, 4};
  auto other = insert_at(5, 2);
  other.ns = namespace_key{"model", "other-tenant", ""};
  CHECK(admit_batch(at, {other}).verdict == batch_verdict::gap);
  auto wide = admit_batch(at, {insert_at(5, 2, 8)});
  CHECK(wide.verdict == batch_verdict::dimension);
  CHECK(wide.why == "replicated insert of dimension 8 into namespace of dimension 4");
}

TEST_CASE("a stream that loses, duplicates and reorders batches ends with the copy equal to its primary") {
  // The primary's log: 300 records over four epochs (new leaders), shipped
  // in batches of 1-5. The channel drops a batch in five, sends one in four
  // twice and delivers from a window of the next six in random order. A
  // refused batch is what the cluster's catch-up answers: the copy's next
  // records are sent again from its position, through the same channel.
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng{seed};
    std::vector<log_record> primary;
    std::uint64_t epoch = 1;
    for (std::uint64_t seq = 1; seq <= 300; ++seq) {
      if (seq % 100 == 0)
        ++epoch;
      primary.push_back(seq % 7 == 0 ? remove_at(seq, epoch) : insert_at(seq, epoch));
    }
    auto batch_from = [&](std::uint64_t first) {
      std::vector<log_record> b;
      auto n = std::uniform_int_distribution<std::size_t>(1, 5)(rng);
      for (auto s = first; s < first + n && s <= primary.size(); ++s)
        b.push_back(primary[s - 1]);
      return b;
    };
    std::deque<std::vector<log_record>> channel;
    auto send = [&](std::vector<log_record> b) {
      if (std::uniform_int_distribution<int>(0, 4)(rng) == 0)
        return; // lost
      if (std::uniform_int_distribution<int>(0, 3)(rng) == 0)
        channel.push_back(b); // duplicated
      channel.push_back(std::move(b));
    };
    // The copy's first record comes from its first catch-up, before any
    // live batch: an empty copy starts wherever the first batch it takes
    // does, so a reordered stream must not reach it first.
    copy replica;
    REQUIRE(replica.offer({primary.front()}));
    for (std::uint64_t next = 2; next <= primary.size();) {
      auto b = batch_from(next);
      next += b.size();
      send(std::move(b));
    }
    std::size_t refused = 0, rounds = 0;
    while (replica.log.size() < primary.size()) {
      REQUIRE(++rounds < 100'000);
      if (channel.empty()) {
        // Everything in flight is gone: the catch-up resends from the copy's position.
        send(batch_from(replica.at.logged_seq + 1));
        continue;
      }
      auto window = std::min<std::size_t>(channel.size(), 6);
      auto pick = std::uniform_int_distribution<std::size_t>(0, window - 1)(rng);
      auto b = std::move(channel[pick]);
      channel.erase(channel.begin() + static_cast<std::ptrdiff_t>(pick));
      if (!replica.offer(std::move(b))) {
        ++refused;
        send(batch_from(replica.at.logged_seq + 1));
      }
    }
    // Whatever is still in flight arrives late, and changes nothing.
    while (!channel.empty()) {
      CHECK(replica.offer(std::move(channel.front())));
      channel.pop_front();
    }
    REQUIRE(replica.log == primary);
    CHECK(replica.at.last_epoch == primary.back().epoch);
    CHECK(refused > 0); // the channel did lose and reorder
  }
}
