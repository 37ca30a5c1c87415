#include "cluster/phi_detector.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ferro::cluster {

namespace {

// Past this x, erfc(x) < 1e-294 and nears the end of the double range.
constexpr double asymptotic_from = 26.0;

// log10(erfc(x)) for large x from erfc(x) ~ e^(-x^2) / (x sqrt(pi)) *
// (1 - 1/(2x^2) + 3/(4x^4)); the relative error is below 1e-8 at x = 26.
double log10_erfc_tail(double x) {
  double x2 = x * x;
  double series = 1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2);
  return -x2 * std::numbers::log10e - std::log10(x * std::sqrt(std::numbers::pi)) + std::log10(series);
}

} // namespace

double phi_of(double elapsed_ms, double mean_ms, double stddev_ms) {
  double x = (elapsed_ms - mean_ms) / (stddev_ms * std::numbers::sqrt2);
  double log10_p_later =
      x < asymptotic_from ? std::log10(std::erfc(x) / 2.0) : log10_erfc_tail(x) - std::log10(2.0);
  return std::max(0.0, -log10_p_later);
}

phi_detector::phi_detector(phi_settings settings) : settings_(settings) {
  settings_.window = std::max<std::size_t>(settings_.window, 1);
  // A zero deviation would divide by zero in phi_of.
  settings_.min_stddev_ms = std::max(settings_.min_stddev_ms, 1.0);
}

void phi_detector::heartbeat(std::string_view peer, std::int64_t now_ms) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    peers_.emplace(std::string(peer), history{now_ms, {}, 0, 0});
    return;
  }
  auto& h = it->second;
  if (now_ms < h.last_ms)
    return;
  auto interval = now_ms - h.last_ms;
  h.last_ms = now_ms;
  if (h.intervals.size() == settings_.window) {
    auto old = static_cast<double>(h.intervals.front());
    h.sum -= old;
    h.sum_squares -= old * old;
    h.intervals.pop_front();
  }
  auto v = static_cast<double>(interval);
  h.intervals.push_back(interval);
  h.sum += v;
  h.sum_squares += v * v;
}

interval_stats phi_detector::stats_of(const history& h) const {
  interval_stats s;
  s.samples = h.intervals.size();
  double stddev = 0;
  if (s.samples == 0) {
    s.mean_ms = static_cast<double>(settings_.first_heartbeat_estimate_ms);
    stddev = s.mean_ms / 4.0;
  } else {
    auto n = static_cast<double>(s.samples);
    s.mean_ms = h.sum / n;
    // Clamped: rounding can leave a tiny negative variance.
    stddev = std::sqrt(std::max(0.0, h.sum_squares / n - s.mean_ms * s.mean_ms));
  }
  s.stddev_ms = std::max(stddev, settings_.min_stddev_ms);
  return s;
}

interval_stats phi_detector::stats(std::string_view peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? interval_stats{} : stats_of(it->second);
}

double phi_detector::phi(std::string_view peer, std::int64_t now_ms) const {
  auto it = peers_.find(peer);
  if (it == peers_.end())
    return 0.0;
  auto s = stats_of(it->second);
  auto elapsed = static_cast<double>(std::max<std::int64_t>(0, now_ms - it->second.last_ms));
  return phi_of(elapsed, s.mean_ms + static_cast<double>(settings_.acceptable_pause_ms), s.stddev_ms);
}

void phi_detector::excuse(std::int64_t from_ms, std::int64_t to_ms) {
  if (to_ms <= from_ms)
    return;
  for (auto& [peer, h] : peers_)
    h.last_ms = std::max(h.last_ms, std::min(to_ms, h.last_ms + (to_ms - from_ms)));
}

void phi_detector::forget(std::string_view peer) {
  auto it = peers_.find(peer);
  if (it != peers_.end())
    peers_.erase(it);
}

bool phi_detector::knows(std::string_view peer) const {
  return peers_.find(peer) != peers_.end();
}

} // namespace ferro::cluster
