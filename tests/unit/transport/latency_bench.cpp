#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <vector>

#include <catch2/catch.hpp>

#include "transport_test_support.hpp"

using namespace ferro::transport;
using namespace ferro::transport::test;

namespace {

/// Round trips of 1 KiB frames: A sends to B, B's on_frame sends the frame
/// back, A's on_frame wakes the measuring thread. Hidden: run with
/// `unit_transport_tests "[.bench]" -s`.
void measure(bool tls, int warmup, int n) {
  temp_dir dir;
  if (tls)
    make_certs(dir.path, "a b");
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t echoes = 0;
  frame_transport* b_ptr = nullptr;
  transport_handlers ha, hb;
  ha.on_frame = [&](const std::string&, std::string) {
    std::lock_guard lock(mu);
    ++echoes;
    cv.notify_one();
  };
  hb.on_frame = [&](const std::string& from, std::string f) { b_ptr->send(from, std::move(f)); };
  auto oa = options_for("a"), ob = options_for("b");
  if (tls) {
    oa.tls = tls_for(dir.path, "a");
    ob.tls = tls_for(dir.path, "b");
  }
  std::atomic<int> ups{0};
  ha.on_peer_up = hb.on_peer_up = [&](const peer_info&) { ++ups; };
  auto a = frame_transport::start(oa, ha);
  auto b = frame_transport::start(ob, hb);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  b_ptr = b->get();
  (*a)->connect(address_of(**b));
  (*b)->connect(address_of(**a));
  REQUIRE(wait_until([&] { return ups == 2; }));
  const std::string payload(1024, 'x');
  std::vector<double> us;
  for (int i = 0; i < warmup + n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE((*a)->send("b", payload));
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return echoes == static_cast<std::uint64_t>(i) + 1; });
    if (i >= warmup)
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  auto pct = [&](double p) { return us[static_cast<std::size_t>(p * (us.size() - 1))]; };
  std::printf("%s 1 KiB round trip over loopback, n=%d: p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us\n",
              tls ? "mTLS " : "plain", n, pct(0.5), pct(0.9), pct(0.99), us.back());
}

} // namespace

TEST_CASE("round-trip latency of 1 KiB frames, plain and mutual TLS", "[.bench][transport]") {
  measure(false, 500, 5000);
  measure(true, 500, 5000);
}
