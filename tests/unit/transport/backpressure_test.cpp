#include <thread>

#include <catch2/catch.hpp>

#include "transport_test_support.hpp"

using namespace ferro::transport;
using namespace ferro::transport::test;

namespace {

/// A peer that answers the hello and then never reads again.
struct deaf_peer {
  asio::io_context io;
  tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  tcp::socket socket{io};
  std::thread thread;

  deaf_peer() {
    thread = std::thread([this] {
      acceptor.accept(socket);
      std::array<char, 4> h{};
      asio::read(socket, asio::buffer(h));
      std::string hello(static_cast<unsigned char>(h[3]) | (static_cast<unsigned char>(h[2]) << 8), '\0');
      asio::read(socket, asio::buffer(hello));
      asio::write(socket, asio::buffer(hello_frame("deaf", 1, "127.0.0.1:9")));
    });
  }
  ~deaf_peer() {
    if (thread.joinable())
      thread.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()); }
};

} // namespace

TEST_CASE("a peer that stops reading makes send return false at the queue bound, memory stays bounded",
          "[transport]") {
  deaf_peer deaf;
  recorder ra;
  auto opts = options_for("a");
  opts.max_queue_bytes_per_peer = 1024 * 1024;
  opts.write_stall_timeout = std::chrono::milliseconds(60000);
  auto a = start_ok(opts, ra);
  a->connect(deaf.address());
  REQUIRE(wait_until([&] { return ra.is_up("deaf"); }));
  deaf.thread.join();
  const std::string chunk(64 * 1024, 'q');
  auto rss_before = rss_bytes();
  // Offer 128 MiB as fast as possible. The kernel's socket buffers take a
  // few MiB, the queue at most 1 MiB; everything else must be refused.
  std::size_t accepted = 0, refused = 0;
  for (int i = 0; i < 2048; ++i) {
    if (a->send("deaf", chunk))
      ++accepted;
    else
      ++refused;
    CHECK(a->stats().queued_bytes <= opts.max_queue_bytes_per_peer);
  }
  INFO("frames accepted: " << accepted << ", refused: " << refused);
  CHECK(refused > 1500);
  CHECK(a->stats().queue_drops == refused);
  CHECK(accepted * (chunk.size() + 4) < 40 * 1024 * 1024);
  if (rss_is_meaningful)
    CHECK(rss_bytes() < rss_before + 40 * 1024 * 1024);
  CHECK(ra.downs().empty());
}

TEST_CASE("a write that makes no progress for write_stall_timeout closes the connection", "[transport]") {
  deaf_peer deaf;
  recorder ra;
  auto opts = options_for("a");
  opts.write_stall_timeout = std::chrono::milliseconds(300);
  auto a = start_ok(opts, ra);
  a->connect(deaf.address());
  REQUIRE(wait_until([&] { return ra.is_up("deaf"); }));
  deaf.thread.join();
  const std::string chunk(64 * 1024, 'q');
  REQUIRE(wait_until([&] { return !a->send("deaf", chunk) || !ra.downs().empty(); }, 20s));
  REQUIRE(wait_until([&] { return !ra.downs().empty(); }, 5s));
  CHECK(ra.downs()[0].node_id == "deaf");
  CHECK(ra.downs()[0].reason.find("write stalled") != std::string::npos);
  CHECK(a->stats().queued_bytes == 0);
  CHECK(a->stats().peers_up == 0);
}
