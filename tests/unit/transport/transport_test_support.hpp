#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "cluster/transport/frame_transport.hpp"
#include "cluster/transport/wire.hpp"

/// Helpers of the transport tests: loopback only, ports from binding port 0,
/// waits that poll a condition until a deadline.
namespace ferro::transport::test {

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// Polls `pred` every millisecond until it holds or `limit` passes.
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

struct down_event {
  std::string node_id, address, reason;
};

/// Records every handler call; thread-safe.
class recorder {
public:
  transport_handlers handlers() {
    return {[this](const peer_info& p) {
              std::lock_guard lock(mu_);
              ups_.push_back(p);
            },
            [this](const std::string& node, std::string frame) {
              std::lock_guard lock(mu_);
              frames_[node].push_back(std::move(frame));
            },
            [this](const std::string& node, const std::string& address, const std::string& reason) {
              std::lock_guard lock(mu_);
              downs_.push_back({node, address, reason});
            }};
  }
  std::vector<peer_info> ups() {
    std::lock_guard lock(mu_);
    return ups_;
  }
  std::vector<down_event> downs() {
    std::lock_guard lock(mu_);
    return downs_;
  }
  std::size_t frame_count(const std::string& node) {
    std::lock_guard lock(mu_);
    return frames_[node].size();
  }
  std::vector<std::string> frames(const std::string& node) {
    std::lock_guard lock(mu_);
    return frames_[node];
  }
  bool is_up(const std::string& node) {
    std::lock_guard lock(mu_);
    for (auto& p : ups_)
      if (p.node_id == node)
        return true;
    return false;
  }

private:
  std::mutex mu_;
  std::vector<peer_info> ups_;
  std::vector<down_event> downs_;
  std::map<std::string, std::vector<std::string>> frames_;
};

/// The seed of each test's random numbers, printed so a failure can be replayed.
inline std::uint64_t test_seed() {
  static const std::uint64_t seed = [] {
    auto s = static_cast<std::uint64_t>(std::random_device{}());
    if (const char* env = std::getenv("FERRO_TEST_SEED"))
      s = std::strtoull(env, nullptr, 10);
    return s;
  }();
  return seed;
}

inline transport_options options_for(const std::string& node_id) {
  transport_options o;
  o.node_id = node_id;
  static std::mt19937_64 rng(test_seed());
  o.incarnation = rng();
  o.bind_address = "127.0.0.1";
  o.port = 0;
  o.max_frame_bytes = 256 * 1024;
  o.max_queue_bytes_per_peer = 4 * 1024 * 1024;
  o.connect_timeout = 2000ms;
  o.hello_timeout = 1000ms;
  return o;
}

inline std::unique_ptr<frame_transport> start_ok(transport_options o, recorder& rec) {
  auto t = frame_transport::start(std::move(o), rec.handlers());
  if (!t)
    FAIL("start failed: " << t.err().message);
  return std::move(t.value());
}

inline std::string address_of(const frame_transport& t) {
  return "127.0.0.1:" + std::to_string(t.port());
}

/// Dials `to` from `from` and waits for the handshake.
inline void connect_ok(frame_transport& from, recorder& from_rec, frame_transport& to,
                       const std::string& to_id) {
  from.connect(address_of(to));
  REQUIRE(wait_until([&] { return from_rec.is_up(to_id); }));
}

/// One frame from `from` to node `to_id` arrives at `to_rec` (others may be in flight).
inline bool frame_arrives(frame_transport& from, const std::string& from_id, recorder& to_rec,
                          const std::string& to_id, const std::string& payload) {
  auto before = to_rec.frame_count(from_id);
  if (!from.send(to_id, payload))
    return false;
  return wait_until(
      [&] { return to_rec.frame_count(from_id) > before && to_rec.frames(from_id).back() == payload; });
}

/// A frame on the wire: 4-byte big-endian length, then the payload.
inline std::string framed(const std::string& payload) {
  auto h = wire::encode_header(static_cast<std::uint32_t>(payload.size()));
  return std::string(h.begin(), h.end()) + payload;
}

inline std::string hello_frame(const std::string& node_id, std::uint32_t version = 1,
                               const std::string& advertise = "127.0.0.1:9", std::uint64_t incarnation = 7) {
  return framed(wire::encode_hello({version, incarnation, node_id, advertise}));
}

/// A blocking raw TCP client for hostile input.
struct raw_client {
  asio::io_context io;
  tcp::socket socket{io};

  explicit raw_client(std::uint16_t port) { socket.connect({asio::ip::make_address("127.0.0.1"), port}); }

  void write(const std::string& bytes) { asio::write(socket, asio::buffer(bytes)); }

  /// Waits up to `limit` for readable data or EOF; true when the peer closed
  /// (reads and discards anything before the EOF).
  bool closed_by_peer(std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    char buf[4096];
    for (;;) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return false;
      pollfd p{socket.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        continue;
      auto n = ::read(socket.native_handle(), buf, sizeof buf);
      if (n <= 0)
        return true;
    }
  }

  /// Reads one frame (blocking) and returns its payload.
  std::string read_frame() {
    std::array<char, 4> h{};
    asio::read(socket, asio::buffer(h));
    std::uint32_t n = (std::uint32_t(std::uint8_t(h[0])) << 24) | (std::uint32_t(std::uint8_t(h[1])) << 16) |
                      (std::uint32_t(std::uint8_t(h[2])) << 8) | std::uint32_t(std::uint8_t(h[3]));
    std::string payload(n, '\0');
    asio::read(socket, asio::buffer(payload));
    return payload;
  }
};

/// Resident set size of this process.
inline std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// ASan keeps freed memory in quarantine, so RSS says nothing about what the
/// code under test holds; the byte counters in stats() still do.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

/// A fresh directory under the system temp dir, removed at scope exit.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ferro-transport-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

/// Runs deploy/make-cluster-certs.sh into `dir` for `nodes`.
inline void make_certs(const std::filesystem::path& dir, const std::string& nodes) {
  std::string cmd = std::string(FERRO_SOURCE_DIR) + "/deploy/make-cluster-certs.sh '" + dir.string() + "' " +
                    nodes + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

inline tls_options tls_for(const std::filesystem::path& dir, const std::string& node) {
  tls_options t;
  t.enabled = true;
  t.ca_cert_path = (dir / "ca.pem").string();
  t.cert_path = (dir / (node + ".pem")).string();
  t.key_path = (dir / (node + ".key")).string();
  return t;
}

} // namespace ferro::transport::test
