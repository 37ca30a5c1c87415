#include <atomic>
#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>

#include "transport_test_support.hpp"

using namespace ferro::transport;
using namespace ferro::transport::test;

namespace {

/// Frame i of a stream: sizes from 0 to max_frame_bytes, contents that tell
/// frames apart.
std::string nth_frame(std::size_t i, std::size_t max_bytes, char tag) {
  std::size_t size = (i * 7919) % 5000;
  if (i % 10 == 0)
    size = 0;
  else if (i % 97 == 0)
    size = max_bytes;
  else if (i % 101 == 0)
    size = max_bytes - 1;
  std::string f(size, tag);
  for (std::size_t k = 0; k < size; k += 251)
    f[k] = static_cast<char>(i + k);
  return f;
}

/// Sends frames 0..n-1, waiting (bounded) when the queue is full.
void send_stream(frame_transport& t, const std::string& to, std::size_t n, std::size_t max_bytes, char tag) {
  for (std::size_t i = 0; i < n; ++i) {
    auto f = nth_frame(i, max_bytes, tag);
    REQUIRE(wait_until([&] { return t.send(to, f); }));
  }
}

} // namespace

TEST_CASE("two transports exchange a thousand frames of varied sizes both ways in order", "[transport]") {
  recorder ra, rb;
  auto a = start_ok(options_for("a"), ra);
  auto b = start_ok(options_for("b"), rb);
  connect_ok(*a, ra, *b, "b");
  connect_ok(*b, rb, *a, "a");
  const std::size_t n = 1000, max = options_for("x").max_frame_bytes;
  std::thread ta([&] { send_stream(*a, "b", n, max, 'A'); });
  send_stream(*b, "a", n, max, 'B');
  ta.join();
  REQUIRE(wait_until([&] { return rb.frame_count("a") == n && ra.frame_count("b") == n; }));
  auto at_b = rb.frames("a");
  auto at_a = ra.frames("b");
  for (std::size_t i = 0; i < n; ++i) {
    INFO("frame " << i);
    REQUIRE(at_b[i] == nth_frame(i, max, 'A'));
    REQUIRE(at_a[i] == nth_frame(i, max, 'B'));
  }
  CHECK(a->stats().frames_out == n);
  CHECK(b->stats().frames_in == n);
  CHECK(a->stats().bytes_out == b->stats().bytes_in);
  CHECK(ra.downs().empty());
  CHECK(rb.downs().empty());
  REQUIRE(ra.ups().size() == 1);
  CHECK(ra.ups()[0].address == address_of(*b));
}

TEST_CASE("a stopped peer is reported down on the other side in both directions", "[transport]") {
  recorder ra, rb;
  auto a = start_ok(options_for("a"), ra);
  auto b = start_ok(options_for("b"), rb);
  connect_ok(*a, ra, *b, "b");
  connect_ok(*b, rb, *a, "a");
  REQUIRE(frame_arrives(*a, "a", rb, "b", "ping"));
  b->stop();
  REQUIRE(wait_until([&] { return ra.downs().size() == 2; }));
  for (auto& d : ra.downs())
    CHECK(d.node_id == "b");
  CHECK_FALSE(a->send("b", "after"));
  CHECK(rb.downs().empty()); // stop tells nobody on its own side
}

TEST_CASE("a dial to a closed port fails fast and is reported down", "[transport]") {
  std::uint16_t closed_port;
  {
    asio::io_context io;
    tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    closed_port = probe.local_endpoint().port();
  }
  recorder ra;
  auto a = start_ok(options_for("a"), ra);
  auto started = std::chrono::steady_clock::now();
  auto target = "127.0.0.1:" + std::to_string(closed_port);
  a->connect(target);
  REQUIRE(wait_until([&] { return !ra.downs().empty(); }, 2s));
  CHECK(std::chrono::steady_clock::now() - started < 500ms);
  auto d = ra.downs()[0];
  CHECK(d.node_id.empty());
  CHECK(d.address == target);
  CHECK(d.reason.find("connect failed") != std::string::npos);
  CHECK(a->stats().dials_failed == 1);
}

TEST_CASE("a dial to a server that accepts and never answers times out within the hello timeout",
          "[transport]") {
  asio::io_context io;
  tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0}); // the backlog accepts; nobody reads
  auto target = "127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  recorder ra;
  auto opts = options_for("a");
  opts.hello_timeout = 300ms;
  auto a = start_ok(opts, ra);
  auto started = std::chrono::steady_clock::now();
  a->connect(target);
  REQUIRE(wait_until([&] { return !ra.downs().empty(); }, 3s));
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(took >= 290ms);
  CHECK(took < 1300ms);
  CHECK(ra.downs()[0].reason.find("hello timed out") != std::string::npos);
  CHECK(ra.ups().empty());
}

TEST_CASE("connect is a no-op while a dial to that address is up, and works again after disconnect",
          "[transport]") {
  recorder ra, rb;
  auto a = start_ok(options_for("a"), ra);
  auto b = start_ok(options_for("b"), rb);
  connect_ok(*a, ra, *b, "b");
  a->connect(address_of(*b));
  REQUIRE(frame_arrives(*a, "a", rb, "b", "one"));
  CHECK(ra.ups().size() == 1);
  CHECK(b->stats().connections_accepted == 1);
  a->disconnect("b");
  REQUIRE(wait_until([&] { return ra.downs().size() == 1 && rb.downs().size() == 1; }));
  CHECK(ra.downs()[0].reason == "disconnected by this node");
  CHECK(rb.downs()[0].node_id == "a");
  CHECK_FALSE(a->send("b", "nobody"));
  a->connect(address_of(*b));
  REQUIRE(wait_until([&] { return ra.ups().size() == 2; }));
  REQUIRE(frame_arrives(*a, "a", rb, "b", "two"));
}

TEST_CASE("a transport that dials itself is refused for using its own node_id", "[transport]") {
  recorder ra;
  auto a = start_ok(options_for("a"), ra);
  a->connect(address_of(*a));
  REQUIRE(wait_until([&] { return !ra.downs().empty(); }));
  CHECK(ra.downs()[0].reason.find("own id") != std::string::npos);
  CHECK(a->stats().handshakes_refused == 1);
  CHECK(ra.ups().empty());
}

TEST_CASE("start fails on a busy port and on bad options, naming the problem", "[transport]") {
  recorder ra, rb;
  auto a = start_ok(options_for("a"), ra);
  auto opts = options_for("b");
  opts.port = a->port();
  auto busy = frame_transport::start(opts, rb.handlers());
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.err().code == ferro::errc::unavailable);
  CHECK(busy.err().message.find(std::to_string(a->port())) != std::string::npos);
  auto no_id = options_for("");
  auto bad = frame_transport::start(no_id, rb.handlers());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().code == ferro::errc::bad_request);
  auto small_queue = options_for("c");
  small_queue.max_queue_bytes_per_peer = small_queue.max_frame_bytes;
  CHECK_FALSE(frame_transport::start(small_queue, rb.handlers()).ok());
}

TEST_CASE("send refuses a frame above max_frame_bytes and one to an unknown node", "[transport]") {
  recorder ra, rb;
  auto a = start_ok(options_for("a"), ra);
  auto b = start_ok(options_for("b"), rb);
  connect_ok(*a, ra, *b, "b");
  CHECK_FALSE(a->send("b", std::string(options_for("x").max_frame_bytes + 1, 'x')));
  CHECK_FALSE(a->send("nobody", "x"));
  REQUIRE(frame_arrives(*a, "a", rb, "b", "still fine"));
}

TEST_CASE("a handler that throws does not break the connection it was called for", "[transport]") {
  recorder ra;
  std::atomic<int> calls{0};
  transport_handlers hb;
  hb.on_frame = [&](const std::string&, std::string f) {
    ++calls;
    if (f == "boom")
      throw std::runtime_error("handler failure");
  };
  auto a = start_ok(options_for("a"), ra);
  auto b = frame_transport::start(options_for("b"), hb);
  REQUIRE(b.ok());
  connect_ok(*a, ra, **b, "b");
  REQUIRE(a->send("b", "boom"));
  REQUIRE(a->send("b", "after"));
  REQUIRE(wait_until([&] { return calls == 2; }));
  CHECK(ra.downs().empty());
}

TEST_CASE("an accepting side that sends data after its hello is dropped as a protocol error", "[transport]") {
  asio::io_context io;
  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::thread server([&] {
    tcp::socket s(io);
    acceptor.accept(s);
    std::array<char, 1024> buf{};
    s.read_some(asio::buffer(buf)); // the dialer's hello (small: one read)
    asio::write(s, asio::buffer(hello_frame("chatty") + framed("unsolicited")));
    char c;
    boost::system::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec); // until the dialer closes
  });
  recorder ra;
  auto a = start_ok(options_for("a"), ra);
  a->connect("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
  REQUIRE(wait_until([&] { return !ra.downs().empty(); }));
  server.join();
  CHECK(ra.downs()[0].node_id == "chatty");
  CHECK(ra.downs()[0].reason.find("unexpected data") != std::string::npos);
  CHECK(a->stats().protocol_errors == 1);
  CHECK(a->stats().oversized_frames == 0);
}
