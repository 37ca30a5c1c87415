#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>

#include "http/http_server.hpp"
#include "json_check.hpp"
#include "test_service.hpp"

using namespace ferro;
using namespace ferro::test;
using Catch::Matchers::Contains;

namespace {

struct raw_response {
  unsigned status = 0;
  std::map<std::string, std::string> headers; ///< names lower-cased
  std::string body;
};

/// A blocking client socket with a receive timeout, so a broken server
/// fails the test instead of hanging it.
class raw_client {
public:
  explicit raw_client(std::uint16_t port, int timeout_ms = 5000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0)
      throw std::runtime_error("socket failed");
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect failed");
  }
  ~raw_client() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  void send(std::string_view data) {
    while (!data.empty()) {
      auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0)
        throw std::runtime_error("send failed");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Reads one response (Content-Length framed).
  raw_response read_response() {
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill())
        throw std::runtime_error("connection closed before a response header; got: " + buf_);
    raw_response res;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    res.status = static_cast<unsigned>(std::stoul(status_line.substr(9, 3)));
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string::npos)
        next = head.size();
      std::string line = head.substr(pos, next - pos);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(0, 1);
      res.headers[name] = value;
      pos = next + 2;
    }
    if (res.status == 100)
      return res;
    std::size_t len = res.headers.count("content-length") ? std::stoul(res.headers["content-length"]) : 0;
    while (buf_.size() < len)
      if (!fill())
        throw std::runtime_error("connection closed inside a body");
    res.body = buf_.substr(0, len);
    buf_.erase(0, len);
    return res;
  }

  /// True when the server closes the connection (EOF or reset) before the
  /// receive timeout.
  bool closed_by_server() {
    char c;
    for (;;) {
      auto n = ::recv(fd_, &c, 1, 0);
      if (n == 0)
        return true;
      if (n < 0)
        return errno == ECONNRESET;
    }
  }

private:
  bool fill() {
    char tmp[4096];
    auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0)
      return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buf_;
};

std::string request(std::string_view method, std::string_view target, std::string_view body = {},
                    std::string extra_headers = {}) {
  std::string r = std::string{method} + " " + std::string{target} + " HTTP/1.1\r\nHost: test\r\n";
  if (!body.empty())
    r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra_headers;
  r += "\r\n";
  r += body;
  return r;
}

const std::string insert_json = R"({"embedding":[0.1,0.2],"response":"r","query_text":"q","model_id":"m"})";

struct server_fixture {
  recording_service svc;
  http_options opts;
  std::unique_ptr<http_server> server;
  std::uint16_t port = 0;

  server_fixture() {
    opts.bind_address = "127.0.0.1";
    opts.port = 0;
  }
  void start() {
    server = std::make_unique<http_server>(opts, svc);
    auto p = server->start();
    REQUIRE(p.ok());
    port = *p;
    REQUIRE(port != 0);
  }
  ~server_fixture() {
    if (server)
      server->stop();
  }
};

} // namespace

TEST_CASE_METHOD(server_fixture, "The server answers two requests on one keep-alive connection") {
  start();
  raw_client c{port};
  c.send(request("POST", "/insert", insert_json));
  auto a = c.read_response();
  CHECK(a.status == 200);
  CHECK(a.headers["content-type"] == "application/json");
  CHECK(a.body == R"({"id":"00000000-0000-4000-8000-000000000001","status":"ok"})");
  CHECK(a.headers["connection"] != "close");
  c.send(request("GET", "/health"));
  auto b = c.read_response();
  CHECK(b.status == 200);
  CHECK(b.body == R"({"status":"ok","node_id":"node-1","entry_count":3})");
  CHECK(svc.inserts.size() == 1);
}

TEST_CASE_METHOD(server_fixture, "Pipelined requests are answered in order") {
  start();
  raw_client c{port};
  c.send(request("GET", "/nope") + request("GET", "/health") + request("GET", "/insert"));
  CHECK(c.read_response().status == 404);
  CHECK(c.read_response().status == 200);
  auto r = c.read_response();
  CHECK(r.status == 405);
  CHECK(r.headers["allow"] == "POST");
}

TEST_CASE_METHOD(server_fixture, "Garbage on the socket gets a 400 and the server keeps serving") {
  start();
  {
    raw_client c{port};
    static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";
    c.send(std::string_view(tls_hello, sizeof tls_hello - 1));
    auto r = c.read_response();
    CHECK(r.status == 400);
    CHECK_FALSE(error_of(http_response{r.status, r.headers["content-type"], r.body, {}}).empty());
    CHECK(c.closed_by_server());
  }
  {
    raw_client c{port};
    c.send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    CHECK(c.read_response().status == 400);
  }
  raw_client c{port};
  c.send(request("GET", "/health"));
  CHECK(c.read_response().status == 200);
}

TEST_CASE_METHOD(server_fixture, "An oversized Content-Length gets 413 without the body being read") {
  opts.max_body_bytes = 1024;
  start();
  raw_client c{port};
  // Only the header is sent: the answer must come without waiting for the
  // 10 MB the header announces.
  c.send("POST /insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
         "10000000\r\n\r\n");
  auto r = c.read_response();
  CHECK(r.status == 413);
  CHECK(r.headers["connection"] == "close");
  CHECK_THAT(r.body, Contains("error"));
  CHECK(svc.inserts.empty());
}

TEST_CASE_METHOD(server_fixture, "A chunked body beyond the limit gets 413") {
  opts.max_body_bytes = 16;
  start();
  raw_client c{port};
  c.send("POST /insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: "
         "chunked\r\n\r\n"
         "20\r\n" +
         std::string(32, 'x') + "\r\n0\r\n\r\n");
  CHECK(c.read_response().status == 413);
}

TEST_CASE_METHOD(server_fixture, "A missing token gets 401 before the body is read") {
  opts.auth_token = "s3cret";
  start();
  {
    raw_client c{port};
    c.send(
        "POST /insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n");
    auto r = c.read_response();
    CHECK(r.status == 401);
    CHECK(r.body == R"({"error":"unauthorized"})");
    // Auth comes before the size check as well.
    raw_client d{port};
    d.send("POST /insert HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n");
    CHECK(d.read_response().status == 401);
  }
  raw_client c{port};
  c.send(request("GET", "/stats"));
  CHECK(c.read_response().status == 401); // no body: the connection stays open
  c.send(request("GET", "/health"));
  CHECK(c.read_response().status == 200);
  c.send(request("POST", "/insert", insert_json, "Authorization: Bearer s3cret\r\n"));
  CHECK(c.read_response().status == 200);
  CHECK(svc.inserts.size() == 1);
}

TEST_CASE_METHOD(server_fixture, "Expect 100-continue gets an interim response before the body") {
  start();
  raw_client c{port};
  c.send("POST /insert HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
         "Content-Length: " +
         std::to_string(insert_json.size()) + "\r\n\r\n");
  CHECK(c.read_response().status == 100);
  c.send(insert_json);
  CHECK(c.read_response().status == 200);
}

TEST_CASE_METHOD(server_fixture, "Connections above max_connections get a 503") {
  opts.max_connections = 1;
  start();
  raw_client first{port};
  first.send(request("GET", "/health"));
  REQUIRE(first.read_response().status == 200);
  {
    raw_client second{port};
    auto r = second.read_response();
    CHECK(r.status == 503);
    CHECK_THAT(r.body, Contains("error"));
    CHECK(second.closed_by_server());
  }
  first.send(request("GET", "/health"));
  CHECK(first.read_response().status == 200);
  CHECK(svc.metrics().http_rejected_overload_total >= 1);
}

TEST_CASE_METHOD(server_fixture, "An oversized header gets 431") {
  opts.max_header_bytes = 1024;
  start();
  raw_client c{port};
  c.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  CHECK(c.read_response().status == 431);
}

TEST_CASE_METHOD(server_fixture, "An idle connection is closed after the idle timeout") {
  opts.idle_timeout = std::chrono::milliseconds(100);
  start();
  raw_client c{port, 3000};
  auto t0 = std::chrono::steady_clock::now();
  CHECK(c.closed_by_server());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
}

TEST_CASE_METHOD(server_fixture, "A service that never answers gets a 504 and a late answer is dropped") {
  opts.handler_timeout = std::chrono::milliseconds(100);
  svc.defer = true;
  start();
  raw_client c{port};
  c.send(request("POST", "/insert", insert_json));
  auto r = c.read_response();
  CHECK(r.status == 504);
  CHECK_THAT(r.body, Contains("error"));
  REQUIRE(svc.wait_for_calls(1));
  svc.flush(); // the late answer: must not produce a second response
  svc.defer = false;
  c.send(request("GET", "/health"));
  auto h = c.read_response();
  CHECK(h.status == 200);
  CHECK_THAT(h.body, Contains("\"status\":\"ok\""));
}

TEST_CASE_METHOD(server_fixture, "An answer from another thread reaches the client") {
  svc.defer = true;
  start();
  raw_client c{port};
  c.send(request("POST", "/insert", insert_json));
  // Wait until the request is with the service, then answer from this
  // (foreign) thread, as an actor would.
  REQUIRE(svc.wait_for_calls(1));
  svc.flush();
  CHECK(c.read_response().status == 200);
}

TEST_CASE("A server that cannot bind reports an error") {
  recording_service svc;
  http_options opts;
  opts.bind_address = "not an address";
  http_server s{opts, svc};
  auto p = s.start();
  CHECK_FALSE(p.ok());
  s.stop();
}

TEST_CASE("Stopping a server that never started is harmless") {
  recording_service svc;
  http_server s{http_options{}, svc};
  s.stop();
}
