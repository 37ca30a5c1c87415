#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ferro {

/// When a namespace's next automatic snapshot is due (docs/operations.md,
/// `compact_interval_inserts` and `compact_tail_fraction`).
///
/// A snapshot rewrites the whole namespace, so snapshotting every fixed
/// number of inserts makes the bytes written per insert grow with the
/// namespace (at 1M entries, 10,000 inserts paid for a 3.5 GB rewrite).
/// Waiting until the log tail since the last snapshot is a fixed fraction of
/// the namespace (its size now, tail included) keeps the amortised cost per
/// insert flat: about (snapshot bytes per entry) / fraction, whatever the
/// size, as the namespace grows by 1 / (1 - fraction) between snapshots.
/// The price is a longer tail to replay after a crash, up to that fraction
/// of the namespace (or the minimum); a longer tail also keeps more records
/// readable for a replica's catch-up (`read_after`). A fraction of 1 or
/// more would never be reached while inserts only add entries, so the
/// configuration caps it below 1.
struct snapshot_policy {
  /// Inserts since the last snapshot before one is due, at least; 0: never.
  std::uint64_t min_inserts = 0;
  /// The tail must also reach this fraction of the namespace's entries;
  /// 0: `min_inserts` alone decides (the policy before 2026-12).
  double tail_fraction = 0;

  /// Inserts since the last snapshot at which the next one is due for a
  /// namespace of `entries` entries; 0 when automatic snapshots are off.
  std::uint64_t threshold(std::uint64_t entries) const {
    if (min_inserts == 0)
      return 0;
    if (!(tail_fraction > 0)) // also false for NaN: the fixed interval
      return min_inserts;
    const double by_size = std::ceil(tail_fraction * static_cast<double>(entries));
    // Saturate instead of overflowing the cast for absurd fractions.
    const double cap = 1e18;
    return std::max(min_inserts, static_cast<std::uint64_t>(std::min(by_size, cap)));
  }

  /// Whether a snapshot is due after `inserts` inserts since the last one,
  /// with `entries` entries in the namespace now.
  bool due(std::uint64_t inserts, std::uint64_t entries) const {
    const auto t = threshold(entries);
    return t != 0 && inserts >= t;
  }
};

} // namespace ferro
