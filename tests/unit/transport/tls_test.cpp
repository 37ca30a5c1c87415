#include <atomic>
#include <thread>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <catch2/catch.hpp>

#include "transport_test_support.hpp"

using namespace ferro::transport;
using namespace ferro::transport::test;
namespace ssl = boost::asio::ssl;

namespace {

struct cluster_certs {
  temp_dir dir, foreign;
  cluster_certs() {
    make_certs(dir.path, "a b c");
    make_certs(foreign.path, "c"); // same name, another CA
  }
};

cluster_certs& certs() {
  static cluster_certs c;
  return c;
}

transport_options tls_options_for(const std::string& node, const std::filesystem::path& dir,
                                  const std::string& cert_node) {
  auto o = options_for(node);
  o.tls = tls_for(dir, cert_node);
  return o;
}

/// Tries a TLS session with B as a raw client with the given certificate
/// (none when cert is empty), then a hello; true when B ends the connection
/// without ever answering the hello.
bool tls_client_is_refused(std::uint16_t port, const std::filesystem::path& dir, const std::string& cert) {
  asio::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none); // the attacker trusts anything
  if (!cert.empty()) {
    ctx.use_certificate_chain_file((dir / (cert + ".pem")).string());
    ctx.use_private_key_file((dir / (cert + ".key")).string(), ssl::context::pem);
  }
  ssl::stream<tcp::socket> s(io, ctx);
  s.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  boost::system::error_code ec;
  s.handshake(ssl::stream_base::client, ec);
  if (ec)
    return true;
  // TLS 1.3: the server's verdict on our certificate arrives after our side
  // of the handshake finished.
  auto hello = hello_frame(cert.empty() ? "anon" : cert);
  asio::write(s, asio::buffer(hello), ec);
  char buf[64];
  s.read_some(asio::buffer(buf), ec);
  return static_cast<bool>(ec);
}

/// Sends numbered frames one after another, each once the previous one
/// arrived, until `done`; returns how many it sent.
int lockstep_stream(frame_transport& t, const std::string& from, const std::string& to, recorder& to_rec,
                    std::atomic<bool>& done, std::atomic<bool>& failed) {
  int i = 0;
  while (!done) {
    if (!t.send(to, std::to_string(i)) ||
        !wait_until([&] { return to_rec.frame_count(from) == static_cast<std::size_t>(i) + 1; })) {
      failed = true;
      return i;
    }
    ++i;
  }
  return i;
}

} // namespace

TEST_CASE(
    "two mTLS peers keep exchanging frames while foreign, anonymous, plain and bare connections are refused",
    "[transport][tls]") {
  auto& c = certs();
  recorder ra, rb;
  auto a = start_ok(tls_options_for("a", c.dir.path, "a"), ra);
  auto b = start_ok(tls_options_for("b", c.dir.path, "b"), rb);
  connect_ok(*a, ra, *b, "b");
  connect_ok(*b, rb, *a, "a");

  // Both directions exchange frames in lockstep for the whole attack.
  std::atomic<bool> done{false}, failed{false};
  int sent_ab = 0, sent_ba = 0;
  std::thread ta([&] { sent_ab = lockstep_stream(*a, "a", "b", rb, done, failed); });
  std::thread tb([&] { sent_ba = lockstep_stream(*b, "b", "a", ra, done, failed); });
  auto before_ab = rb.frame_count("a"), before_ba = ra.frame_count("b");

  // A certificate from another CA, no certificate, plain TCP garbage, a bare
  // connect and close, each against both established nodes.
  for (auto* target : {b.get(), a.get()}) {
    CHECK(tls_client_is_refused(target->port(), c.foreign.path, "c"));
    CHECK(tls_client_is_refused(target->port(), c.dir.path, ""));
    raw_client plain(target->port());
    plain.write("this is not TLS at all\r\n\r\n" + std::string(3000, '\x16'));
    CHECK(plain.closed_by_peer());
    raw_client bare(target->port());
    bare.socket.close();
  }
  // Our own dialer with a foreign-CA certificate, and one without TLS.
  recorder rf, rp;
  auto foreign = start_ok(tls_options_for("c", c.foreign.path, "c"), rf);
  foreign->connect(address_of(*b));
  auto plain = start_ok(options_for("p"), rp);
  plain->connect(address_of(*b));
  REQUIRE(wait_until([&] { return rf.downs().size() == 1 && rp.downs().size() == 1; }));
  CHECK(rf.ups().empty());
  CHECK(rp.ups().empty());

  // Frames keep flowing on the established connections (no down was seen,
  // checked below). Polled with a deadline: how many frames pass during the
  // attacks themselves depends on the machine's load, not on the transport.
  CHECK(wait_until(
      [&] { return rb.frame_count("a") > before_ab + 10 && ra.frame_count("b") > before_ba + 10; }));
  done = true;
  ta.join();
  tb.join();
  CHECK_FALSE(failed);
  INFO("frames a->b " << sent_ab << ", b->a " << sent_ba);
  auto at_b = rb.frames("a"), at_a = ra.frames("b");
  REQUIRE(at_b.size() == static_cast<std::size_t>(sent_ab));
  REQUIRE(at_a.size() == static_cast<std::size_t>(sent_ba));
  for (int i = 0; i < sent_ab; ++i)
    REQUIRE(at_b[i] == std::to_string(i));
  for (int i = 0; i < sent_ba; ++i)
    REQUIRE(at_a[i] == std::to_string(i));
  CHECK(ra.downs().empty());
  CHECK(rb.downs().empty());
  // 4 attacks on A; 4 on B plus the two dialers (bare connects may be counted late).
  REQUIRE(
      wait_until([&] { return a->stats().handshakes_refused == 4 && b->stats().handshakes_refused == 6; }));
  REQUIRE(frame_arrives(*a, "a", rb, "b", "still talking"));
  REQUIRE(frame_arrives(*b, "b", ra, "a", "both ways"));
}

TEST_CASE("an mTLS peer whose certificate names another node is refused", "[transport][tls]") {
  auto& c = certs();
  recorder rb, ri;
  auto b = start_ok(tls_options_for("b", c.dir.path, "b"), rb);
  auto impostor = start_ok(tls_options_for("a", c.dir.path, "c"), ri); // c's key, claims to be a
  impostor->connect(address_of(*b));
  REQUIRE(wait_until([&] { return ri.downs().size() == 1; }));
  CHECK(ri.downs()[0].reason.find("certificate does not name node_id 'a'") != std::string::npos);
  CHECK(b->stats().handshakes_refused == 1);
  CHECK(b->stats().peers_in == 0);
}

TEST_CASE("a TLS dial to a server that never answers times out within the connect timeout",
          "[transport][tls]") {
  auto& c = certs();
  asio::io_context io;
  tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  recorder ra;
  auto opts = tls_options_for("a", c.dir.path, "a");
  opts.connect_timeout = 300ms;
  auto a = start_ok(opts, ra);
  auto started = std::chrono::steady_clock::now();
  a->connect("127.0.0.1:" + std::to_string(silent.local_endpoint().port()));
  REQUIRE(wait_until([&] { return !ra.downs().empty(); }, 3s));
  CHECK(std::chrono::steady_clock::now() - started < 1300ms);
  CHECK(ra.downs()[0].reason.find("connect timed out") != std::string::npos);
}

TEST_CASE("start fails naming the TLS file that is missing, unreadable or does not match",
          "[transport][tls]") {
  auto& c = certs();
  recorder r;
  auto missing = tls_options_for("a", c.dir.path, "a");
  missing.tls.ca_cert_path = (c.dir.path / "nope.pem").string();
  auto t1 = frame_transport::start(missing, r.handlers());
  REQUIRE_FALSE(t1.ok());
  CHECK(t1.err().code == ferro::errc::bad_request);
  CHECK(t1.err().message.find("ca_cert_path") != std::string::npos);
  CHECK(t1.err().message.find("nope.pem") != std::string::npos);

  auto garbage_cert = tls_options_for("a", c.dir.path, "a");
  temp_dir tmp;
  auto junk = tmp.path / "junk.pem";
  std::ofstream(junk) << "not a certificate\n";
  garbage_cert.tls.cert_path = junk.string();
  auto t2 = frame_transport::start(garbage_cert, r.handlers());
  REQUIRE_FALSE(t2.ok());
  CHECK(t2.err().message.find("junk.pem") != std::string::npos);

  auto mismatched = tls_options_for("a", c.dir.path, "a");
  mismatched.tls.key_path = (c.dir.path / "b.key").string();
  auto t3 = frame_transport::start(mismatched, r.handlers());
  REQUIRE_FALSE(t3.ok());
  CHECK(t3.err().message.find("b.key") != std::string::npos);
  INFO(t3.err().message);
  CHECK(t3.err().message.find("mismatch") != std::string::npos);
}
