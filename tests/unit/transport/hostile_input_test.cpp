#include <random>

#include <catch2/catch.hpp>

#include "transport_test_support.hpp"

using namespace ferro::transport;
using namespace ferro::transport::test;

namespace {

/// B accepts from the well-behaved A; the tests attack B with raw sockets
/// and check after each attack that A's frames still arrive and A was never
/// reported down.
struct attacked_node {
  recorder ra, rb;
  std::unique_ptr<frame_transport> a, b;
  int round = 0;

  attacked_node() {
    a = start_ok(options_for("a"), ra);
    b = start_ok(options_for("b"), rb);
    connect_ok(*a, ra, *b, "b");
  }

  void check_a_unaffected() {
    REQUIRE(frame_arrives(*a, "a", rb, "b", "after attack " + std::to_string(++round)));
    for (auto& d : rb.downs())
      CHECK(d.node_id != "a");
    CHECK(ra.downs().empty());
  }

  std::string refusal_reason(raw_client& r) {
    auto first = wire::decode_first_frame(r.read_frame());
    REQUIRE(first.ok());
    REQUIRE(first->refused);
    return first->refused->reason;
  }
};

} // namespace

TEST_CASE("a frame length above max_frame_bytes closes that connection without allocating it",
          "[transport]") {
  attacked_node n;
  raw_client r(n.b->port());
  r.write(hello_frame("r"));
  auto reply = wire::decode_first_frame(r.read_frame());
  REQUIRE(reply.ok());
  REQUIRE(reply->hi);
  CHECK(reply->hi->node_id == "b");
  auto rss_before = rss_bytes();
  for (int i = 0; i < 3; ++i) {
    raw_client again(n.b->port());
    again.write(hello_frame("r" + std::to_string(i)));
    again.read_frame();
    again.write("\xff\xff\xff\xf0"); // declares ~4 GiB
    CHECK(again.closed_by_peer());
  }
  r.write(std::string("\x00\x04\x00\x01", 4)); // 262,145 bytes: one above the limit of 256 KiB
  CHECK(r.closed_by_peer());
  CHECK(n.b->stats().oversized_frames == 4);
  // Allocating one of them (zero-filled) would add at least 256 KiB each and
  // 4 GiB for the others; measured growth stays far below.
  if (rss_is_meaningful)
    CHECK(rss_bytes() < rss_before + 32 * 1024 * 1024);
  REQUIRE(wait_until([&] { return n.rb.downs().size() == 4; }));
  CHECK(n.rb.downs().back().reason.find("max_frame_bytes") != std::string::npos);
  n.check_a_unaffected();
}

TEST_CASE("garbage before the hello closes only that connection", "[transport]") {
  attacked_node n;
  std::mt19937_64 rng(test_seed());
  INFO("seed " << test_seed());
  std::string junk(64 * 1024, '\0');
  for (auto& c : junk)
    c = static_cast<char>(rng());
  raw_client r(n.b->port());
  r.write(junk);
  CHECK(r.closed_by_peer());
  raw_client http(n.b->port());
  http.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(http.closed_by_peer());
  REQUIRE(wait_until([&] { return n.b->stats().handshakes_refused == 2; }));
  n.check_a_unaffected();
}

TEST_CASE("a truncated header or a truncated frame followed by EOF closes only that connection",
          "[transport]") {
  attacked_node n;
  {
    raw_client r(n.b->port());
    r.write(std::string("\x00\x00", 2)); // half a header, then EOF
    r.socket.shutdown(tcp::socket::shutdown_send);
    CHECK(r.closed_by_peer());
  }
  REQUIRE(wait_until([&] { return n.b->stats().handshakes_refused == 1; }));
  {
    raw_client r(n.b->port());
    r.write(hello_frame("t"));
    r.read_frame();
    r.write(std::string("\x00\x00\x00\x64", 4) + "only ten b"); // 100 declared, 10 sent
    r.socket.shutdown(tcp::socket::shutdown_send);
    CHECK(r.closed_by_peer());
  }
  REQUIRE(wait_until([&] { return n.rb.downs().size() == 1; }));
  CHECK(n.rb.downs()[0].node_id == "t");
  CHECK(n.rb.downs()[0].reason.find("truncated frame") != std::string::npos);
  CHECK(n.b->stats().protocol_errors == 2); // the half header and the short frame
  CHECK(n.rb.frame_count("t") == 0);
  n.check_a_unaffected();
}

TEST_CASE("a hello of another wire version is refused with the reason", "[transport]") {
  attacked_node n;
  raw_client r(n.b->port());
  r.write(hello_frame("old", 2));
  CHECK(n.refusal_reason(r).find("wire version 2") != std::string::npos);
  CHECK(r.closed_by_peer());
  CHECK(n.b->stats().handshakes_refused == 1);
  n.check_a_unaffected();
}

TEST_CASE("a hello claiming the acceptor's own node_id is refused", "[transport]") {
  attacked_node n;
  raw_client r(n.b->port());
  r.write(hello_frame("b"));
  CHECK(n.refusal_reason(r).find("own id") != std::string::npos);
  CHECK(r.closed_by_peer());
  n.check_a_unaffected();
}

TEST_CASE("a node_id already connected from another address is refused, naming that address", "[transport]") {
  attacked_node n;
  raw_client r(n.b->port());
  r.write(hello_frame("a", 1, "127.0.0.1:9"));
  auto reason = n.refusal_reason(r);
  CHECK(reason.find("already connected") != std::string::npos);
  CHECK(reason.find(n.a->advertise()) != std::string::npos);
  CHECK(r.closed_by_peer());
  CHECK(n.b->stats().handshakes_refused == 1);
  n.check_a_unaffected();
}

TEST_CASE("the same node redialing from its advertised address replaces its old connection", "[transport]") {
  attacked_node n;
  // A restart of "a" (new incarnation, same advertised address) whose old
  // connection B has not yet seen close.
  raw_client r(n.b->port());
  r.write(hello_frame("a", 1, n.a->advertise(), 99));
  auto reply = wire::decode_first_frame(r.read_frame());
  REQUIRE(reply.ok());
  REQUIRE(reply->hi);
  r.write(framed("from the new incarnation"));
  REQUIRE(wait_until([&] { return n.rb.frame_count("a") == 1; }));
  CHECK(n.rb.frames("a")[0] == "from the new incarnation");
  REQUIRE(wait_until([&] { return n.ra.downs().size() == 1; })); // the old connection was closed
  CHECK(n.b->stats().peers_in == 1);
}

TEST_CASE("a connection that never says hello is closed after the hello timeout", "[transport]") {
  attacked_node n;
  raw_client silent(n.b->port());
  raw_client bare(n.b->port());
  bare.socket.close();
  auto started = std::chrono::steady_clock::now();
  CHECK(silent.closed_by_peer(3s));
  CHECK(std::chrono::steady_clock::now() - started < 1500ms);
  REQUIRE(wait_until([&] { return n.b->stats().handshakes_refused == 2; }));
  n.check_a_unaffected();
}
