#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

#include "common/defaults.hpp"

namespace ferro::cluster {

struct phi_settings {
  /// Inter-arrival times kept per peer (the oldest is dropped first); at least 1.
  std::size_t window = defaults::cluster::phi_window;
  /// Floor on the standard deviation used in phi; at least 1 ms.
  double min_stddev_ms = defaults::cluster::phi_min_stddev_ms;
  /// Silence accepted on top of the mean interval before phi starts to grow
  /// (e.g. for GC pauses): added to the mean.
  std::int64_t acceptable_pause_ms = 0;
  /// Assumed mean interval until a peer's second heartbeat; its standard
  /// deviation is taken as a quarter of it (at least min_stddev_ms).
  std::int64_t first_heartbeat_estimate_ms = defaults::cluster::heartbeat_interval_ms;
};

/// Mean and standard deviation of a peer's window, as phi uses them.
struct interval_stats {
  std::size_t samples = 0; ///< real inter-arrival times in the window
  double mean_ms = 0;      ///< window mean, or the first-heartbeat estimate
  double stddev_ms = 0;    ///< population stddev, floored at min_stddev_ms
};

/// phi for a silence of `elapsed_ms` when intervals follow a normal
/// distribution N(mean_ms, stddev_ms^2):
///   phi = -log10(P_later),  P_later = 1 - F(elapsed) = erfc((elapsed - mean) / (stddev * sqrt 2)) / 2
/// Computed with erfc, not 1 - erf, so it keeps growing past phi ~ 16; when
/// erfc underflows, its asymptotic expansion takes over, so phi stays finite
/// and increasing. Never negative. stddev_ms must be > 0.
double phi_of(double elapsed_ms, double mean_ms, double stddev_ms);

/// Phi accrual failure detector (Hayashibara et al., 2004). Pure: callers
/// pass the time (monotonic milliseconds) in.
class phi_detector {
public:
  explicit phi_detector(phi_settings settings = {});

  /// Records a heartbeat from `peer` at `now_ms`. A timestamp older than the
  /// peer's last one is ignored (time passed in must not go backwards).
  void heartbeat(std::string_view peer, std::int64_t now_ms);

  /// Suspicion level of `peer` at `now_ms`; 0 for a peer never heard from.
  double phi(std::string_view peer, std::int64_t now_ms) const;

  /// This node itself did not run from `from_ms` to `to_ms` (stopped,
  /// starved of CPU): it could not have heard anyone then, so that silence
  /// is no evidence against any peer. Each peer's last heartbeat moves
  /// forward by the stall's length (never past `to_ms`), and no interval is
  /// recorded for it.
  void excuse(std::int64_t from_ms, std::int64_t to_ms);

  /// Drops everything known about `peer` (it left, or restarted and starts over).
  void forget(std::string_view peer);

  bool knows(std::string_view peer) const;
  /// The statistics phi uses for `peer`; all zero for an unknown peer.
  interval_stats stats(std::string_view peer) const;

private:
  struct history {
    std::int64_t last_ms = 0;
    std::deque<std::int64_t> intervals;
    // Running sums over `intervals`. Intervals are whole ms, so the sums are
    // exact in a double while the squares total below 2^53 (a full window
    // of intervals up to ~50 min).
    double sum = 0;
    double sum_squares = 0;
  };

  interval_stats stats_of(const history& h) const;

  phi_settings settings_;
  std::map<std::string, history, std::less<>> peers_;
};

} // namespace ferro::cluster
