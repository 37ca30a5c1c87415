#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>

#include "storage/snapshot_policy.hpp"

using namespace ferro;

TEST_CASE("a fixed snapshot interval ignores the namespace size") {
  snapshot_policy p{10000, 0};
  CHECK(p.threshold(0) == 10000);
  CHECK(p.threshold(5'000'000) == 10000);
  CHECK_FALSE(p.due(9999, 1'000'000));
  CHECK(p.due(10000, 1'000'000));
}

TEST_CASE("automatic snapshots are off when the minimum is zero, whatever the fraction") {
  snapshot_policy p{0, 0.5};
  CHECK(p.threshold(1'000'000) == 0);
  CHECK_FALSE(p.due(std::numeric_limits<std::uint64_t>::max(), 1'000'000));
}

TEST_CASE("a tail fraction makes the interval grow with the namespace above the minimum") {
  snapshot_policy p{10000, 0.5};
  CHECK(p.threshold(0) == 10000);
  CHECK(p.threshold(20000) == 10000);
  CHECK(p.threshold(20001) == 10001); // rounded up: the tail must reach the fraction
  CHECK(p.threshold(1'000'000) == 500000);
  CHECK_FALSE(p.due(499999, 1'000'000));
  CHECK(p.due(500000, 1'000'000));
}

TEST_CASE("snapshot bytes per insert stay flat as a namespace grows under a tail fraction") {
  // Simulates a fill: each snapshot rewrites every entry. With a fixed
  // interval the rewrites per insert grow with the size; with a fraction
  // they stay near 1 / fraction (plus the minimum's share while small).
  auto rewrites_per_insert = [](snapshot_policy p, std::uint64_t from, std::uint64_t to) {
    std::uint64_t entries = 0, since = 0, rewritten_in_window = 0;
    while (entries < to) {
      ++entries;
      ++since;
      if (p.due(since, entries)) {
        if (entries > from)
          rewritten_in_window += entries;
        since = 0;
      }
    }
    return static_cast<double>(rewritten_in_window) / static_cast<double>(to - from);
  };
  const snapshot_policy fixed{10000, 0};
  const snapshot_policy fraction{10000, 0.5};
  // Fixed interval: the last 100k of 1M cost ~10x the last 100k of 200k.
  const double fixed_small = rewrites_per_insert(fixed, 100'000, 200'000);
  const double fixed_large = rewrites_per_insert(fixed, 900'000, 1'000'000);
  CHECK(fixed_large > 4 * fixed_small);
  // Fraction: averaged over a window long enough to hold a snapshot, the
  // cost per insert does not depend on where the window is.
  const double frac_small = rewrites_per_insert(fraction, 100'000, 400'000);
  const double frac_large = rewrites_per_insert(fraction, 1'000'000, 4'000'000);
  CHECK(frac_small < 4.0);
  CHECK(frac_large < 4.0);
  CHECK(frac_large < fixed_large / 10);
}
