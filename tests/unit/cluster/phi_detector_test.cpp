#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <vector>

#include "cluster/member.hpp"
#include "cluster/phi_detector.hpp"

using namespace ferro::cluster;

namespace {

std::uint64_t test_seed(std::uint64_t fallback) {
  if (const char* s = std::getenv("FERRO_TEST_SEED"))
    return std::strtoull(s, nullptr, 10);
  return fallback;
}

// 1 - Phi((x - mean) / sd) through erf: a different route from the
// detector's erfc, accurate while the result is well above 1e-12.
double expected_phi(double elapsed, double mean, double sd) {
  double cdf = 0.5 * (1.0 + std::erf((elapsed - mean) / (sd * std::sqrt(2.0))));
  return -std::log10(1.0 - cdf);
}

// Feeds heartbeats at `start` and then after each interval; returns the time
// of the last one.
std::int64_t feed(phi_detector& d, const std::string& peer, std::int64_t start,
                  const std::vector<std::int64_t>& intervals) {
  d.heartbeat(peer, start);
  for (auto i : intervals) {
    start += i;
    d.heartbeat(peer, start);
  }
  return start;
}

} // namespace

TEST_CASE("phi matches -log10 of the normal tail of the window") {
  std::vector<std::int64_t> intervals{480, 510, 530, 470, 500, 520, 640, 400};
  double mean = 0;
  for (auto i : intervals)
    mean += static_cast<double>(i);
  mean /= static_cast<double>(intervals.size());
  double var = 0;
  for (auto i : intervals)
    var += (static_cast<double>(i) - mean) * (static_cast<double>(i) - mean);
  double sd = std::sqrt(var / static_cast<double>(intervals.size()));
  REQUIRE(sd > 50);
  REQUIRE(sd < 100);

  SECTION("with the window's own deviation") {
    phi_detector d{phi_settings{.window = 100, .min_stddev_ms = 1}};
    auto last = feed(d, "p", 1000, intervals);
    CHECK(d.stats("p").mean_ms == Approx(mean));
    CHECK(d.stats("p").stddev_ms == Approx(sd));
    for (std::int64_t e : {0, 100, 300, 500, 600, 700, 800}) {
      CAPTURE(e);
      CHECK(d.phi("p", last + e) ==
            Approx(expected_phi(static_cast<double>(e), mean, sd)).epsilon(1e-7).margin(1e-9));
    }
  }
  SECTION("with the deviation floored at min_stddev_ms") {
    phi_detector d{phi_settings{.window = 100, .min_stddev_ms = 100}};
    auto last = feed(d, "p", 1000, intervals);
    CHECK(d.stats("p").stddev_ms == 100);
    for (std::int64_t e : {0, 250, 500, 900, 1100}) {
      CAPTURE(e);
      CHECK(d.phi("p", last + e) ==
            Approx(expected_phi(static_cast<double>(e), mean, 100)).epsilon(1e-7).margin(1e-9));
    }
  }
  SECTION("with an acceptable pause added to the mean") {
    phi_detector d{phi_settings{.window = 100, .min_stddev_ms = 100, .acceptable_pause_ms = 300}};
    auto last = feed(d, "p", 1000, intervals);
    for (std::int64_t e : {0, 500, 800, 1200}) {
      CAPTURE(e);
      CHECK(d.phi("p", last + e) ==
            Approx(expected_phi(static_cast<double>(e), mean + 300, 100)).epsilon(1e-7).margin(1e-9));
    }
  }
}

TEST_CASE("a peer never heard from has phi 0, and its first heartbeat uses the estimate") {
  phi_detector d{phi_settings{.first_heartbeat_estimate_ms = 1000}};
  CHECK_FALSE(d.knows("p"));
  CHECK(d.phi("p", 123456) == 0.0);
  d.heartbeat("p", 5000);
  auto s = d.stats("p");
  CHECK(s.samples == 0);
  CHECK(s.mean_ms == 1000);
  CHECK(s.stddev_ms == 250); // a quarter of the estimate, above the 100 ms floor
  CHECK(d.phi("p", 5000 + 1600) == Approx(expected_phi(1600, 1000, 250)).epsilon(1e-7).margin(1e-9));
}

TEST_CASE("phi grows monotonically with silence and stays finite") {
  phi_detector d;
  auto last = feed(d, "p", 0, std::vector<std::int64_t>(50, 500));
  double previous = d.phi("p", last);
  CHECK(previous >= 0);
  for (std::int64_t t = last + 1; t <= last + 60000; t += 7) {
    double now = d.phi("p", t);
    REQUIRE(now >= previous);
    previous = now;
  }
  CHECK(std::isfinite(previous));
  CHECK(previous > 1000);
}

TEST_CASE("phi_of is continuous where erfc hands over to its asymptotic tail") {
  // x = (elapsed - mean) / (sd * sqrt 2) crosses 26 at elapsed ~ 3677 here.
  double sd = 100, mean = 0, cross = 26.0 * sd * std::sqrt(2.0);
  double below = phi_of(cross - 1e-6, mean, sd);
  double above = phi_of(cross + 1e-6, mean, sd);
  CHECK(above >= below);
  CHECK(above - below < 1e-4);
  CHECK(below == Approx(-std::log10(std::erfc(26.0) / 2)).epsilon(1e-7).margin(1e-9));
  CHECK(std::isfinite(phi_of(1e9, 0, 1)));
  CHECK(phi_of(-1e9, 0, 1) == 0.0);
}

TEST_CASE("regular heartbeats keep phi below 1 at the expected next arrival") {
  auto seed = test_seed(7);
  CAPTURE(seed);
  std::cout << "phi jitter seed " << seed << '\n';
  std::mt19937_64 rng(seed);
  phi_detector d;
  std::int64_t t = 0;
  d.heartbeat("p", t);
  for (int i = 0; i < 200; ++i) {
    // 500 ms +- 50 ms of jitter.
    auto interval = 450 + static_cast<std::int64_t>(rng() % 101);
    // Just before each arrival the peer is not suspected.
    REQUIRE(d.phi("p", t + interval) < 1.0);
    t += interval;
    d.heartbeat("p", t);
  }
  auto s = d.stats("p");
  CHECK(s.mean_ms == Approx(500).margin(15));
  CHECK(d.phi("p", t + static_cast<std::int64_t>(s.mean_ms)) < 1.0);
  CHECK(d.phi("p", t + static_cast<std::int64_t>(s.mean_ms)) == Approx(-std::log10(0.5)).margin(0.01));
}

TEST_CASE("a peer silent for ten times its interval crosses phi 8") {
  phi_detector d;
  SECTION("after a regular history") {
    auto last = feed(d, "p", 0, std::vector<std::int64_t>(100, 500));
    CHECK(d.phi("p", last + 500) < 1.0);
    CHECK(d.phi("p", last + 5000) > 8.0);
  }
  SECTION("after a single heartbeat") {
    d.heartbeat("p", 0);
    CHECK(d.phi("p", 500) < 1.0);
    CHECK(d.phi("p", 5000) > 8.0);
  }
}

TEST_CASE("the window keeps only the newest inter-arrival times") {
  phi_detector d{phi_settings{.window = 10}};
  std::vector<std::int64_t> intervals(50, 100);
  intervals.insert(intervals.end(), 50, 1000);
  feed(d, "p", 0, intervals);
  auto s = d.stats("p");
  CHECK(s.samples == 10);
  CHECK(s.mean_ms == 1000);
  CHECK(s.stddev_ms == 100); // no spread left, so the floor
}

TEST_CASE("a heartbeat older than the last one is ignored") {
  phi_detector d;
  feed(d, "p", 1000, {500, 500});
  d.heartbeat("p", 1500);
  auto s = d.stats("p");
  CHECK(s.samples == 2);
  CHECK(s.mean_ms == 500);
  CHECK(d.phi("p", 2000) == Approx(expected_phi(0, 500, 100)));
}

TEST_CASE("a forgotten peer starts over") {
  phi_detector d;
  feed(d, "p", 0, std::vector<std::int64_t>(20, 100));
  feed(d, "q", 0, {500});
  d.forget("p");
  CHECK_FALSE(d.knows("p"));
  CHECK(d.phi("p", 100000) == 0.0);
  CHECK(d.knows("q"));
  d.heartbeat("p", 200000);
  CHECK(d.stats("p").samples == 0);
  CHECK(d.stats("p").mean_ms == ferro::defaults::cluster::heartbeat_interval_ms);
}

TEST_CASE("silence while this node itself stalled is excused") {
  phi_detector d;
  auto last = feed(d, "p", 0, std::vector<std::int64_t>(100, 500));
  feed(d, "q", 0, std::vector<std::int64_t>(100, 500));
  auto before = d.phi("p", last + 400);
  // This node did not run for 20 s right after p's last heartbeat.
  d.excuse(last + 100, last + 20100);
  SECTION("phi after the stall is phi before it, as if the stall took no time") {
    CHECK(d.phi("p", last + 20400) == Approx(before));
    CHECK(d.phi("q", last + 20400) == Approx(before));
  }
  SECTION("without the excuse the same silence convicts") {
    phi_detector plain;
    feed(plain, "p", 0, std::vector<std::int64_t>(100, 500));
    CHECK(plain.phi("p", last + 20400) > 16.0);
  }
  SECTION("the stall adds no interval: the next heartbeat's interval excludes it") {
    d.heartbeat("p", last + 20500);
    auto s = d.stats("p");
    CHECK(s.samples == 101);
    CHECK(s.mean_ms == Approx(500.0));
  }
  SECTION("a silence that goes on after the stall still convicts") {
    CHECK(d.phi("p", last + 20100 + 5000) > 8.0);
  }
}

TEST_CASE("an excuse never moves a heartbeat past the stall's end") {
  phi_detector d;
  d.heartbeat("p", 1000);
  d.heartbeat("p", 1500);
  // A heartbeat recorded during the stall window (late delivery): moved to its end, not beyond.
  d.excuse(1200, 2000);
  d.heartbeat("p", 2000);
  CHECK(d.stats("p").samples == 2);
  CHECK(d.stats("p").mean_ms == Approx(250.0)); // intervals 500 and 0
}

TEST_CASE("a verdict from phi: suspected at the threshold, dead at twice it") {
  CHECK(status_for_phi(0.0, 8.0) == member_status::alive);
  CHECK(status_for_phi(7.99, 8.0) == member_status::alive);
  CHECK(status_for_phi(8.0, 8.0) == member_status::suspected);
  CHECK(status_for_phi(15.99, 8.0) == member_status::suspected);
  CHECK(status_for_phi(16.0, 8.0) == member_status::dead);
  CHECK(status_for_phi(1e9, 8.0) == member_status::dead);
  // The default threshold is the configured default.
  CHECK(status_for_phi(ferro::defaults::cluster::phi_threshold) == member_status::suspected);
  CHECK(is_live(member_status::suspected));
  CHECK_FALSE(is_live(member_status::dead));
}
