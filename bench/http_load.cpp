#include "http_load.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ferro::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using bench_clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_samples = 5;

/// One keep-alive connection; its handlers form a single chain (one
/// operation outstanding at a time), so its members need no lock even with
/// several client threads.
struct connection {
  explicit connection(asio::io_context& ioc) : socket(ioc) {}
  tcp::socket socket;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  std::size_t index = 0;
  bench_clock::time_point sent;
  std::vector<std::uint64_t> latencies;
  bool dead = false;
};

} // namespace

struct http_load::impl {
  explicit impl(load_target t) : target(std::move(t)), ioc(static_cast<int>(target.threads)) {}

  load_target target;
  asio::io_context ioc;
  tcp::resolver::results_type endpoints;
  std::vector<std::unique_ptr<connection>> conns;

  // State of the running phase.
  const std::vector<std::string>* requests = nullptr;
  const response_checker* check = nullptr;
  std::size_t first = 0;
  std::size_t count = 0;
  bool record = false;
  bench_clock::time_point deadline;
  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> completed{0}, errors{0}, mismatches{0}, recall_misses{0}, reconnects{0};
  std::atomic<std::int64_t> last_done_ns{0};
  std::atomic<bool> timed_out{false};
  std::mutex report_mutex; // statuses and samples
  std::map<unsigned, std::uint64_t> statuses;
  std::vector<std::string> samples;

  std::string open(connection& c) {
    beast::error_code ec;
    asio::connect(c.socket, endpoints, ec);
    if (ec)
      return ec.message();
    // Requests go out in one write; without this, small ones could wait for
    // delayed ACKs.
    c.socket.set_option(tcp::no_delay(true), ec);
    return {};
  }

  void note_failure(unsigned status, const std::string& what) {
    std::lock_guard lock(report_mutex);
    if (status)
      ++statuses[status];
    if (samples.size() < max_samples)
      samples.push_back(what);
  }

  void issue(connection& c) {
    if (c.dead)
      return;
    const std::size_t i = next.fetch_add(1);
    if (i >= count)
      return; // the chain ends; io_context::run returns once all have ended
    if (bench_clock::now() >= deadline) {
      timed_out = true;
      return;
    }
    c.index = (first + i) % requests->size();
    c.parser.emplace();
    c.parser->body_limit(64 * 1024 * 1024);
    c.sent = bench_clock::now();
    asio::async_write(
        c.socket, asio::buffer((*requests)[c.index]), [this, &c](beast::error_code ec, std::size_t) {
          if (ec)
            return transport_failure(c, "write: " + ec.message());
          http::async_read(c.socket, c.buffer, *c.parser, [this, &c](beast::error_code ec2, std::size_t) {
            if (ec2)
              return transport_failure(c, "read: " + ec2.message());
            on_response(c);
          });
        });
  }

  void on_response(connection& c) {
    const auto now = bench_clock::now();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent).count();
    if (record)
      c.latencies.push_back(static_cast<std::uint64_t>(ns));
    completed.fetch_add(1);
    store_max(now.time_since_epoch().count());
    auto& res = c.parser->get();
    const unsigned status = res.result_int();
    const verdict v = (*check)(c.index, status, res.body());
    if (v == verdict::error) {
      errors.fetch_add(1);
      note_failure(status, "request " + std::to_string(c.index) + ": HTTP " + std::to_string(status) + " " +
                               res.body().substr(0, 300));
    } else if (v == verdict::recall_miss) {
      recall_misses.fetch_add(1);
    } else if (v == verdict::mismatch) {
      mismatches.fetch_add(1);
      note_failure(0,
                   "request " + std::to_string(c.index) + ": unexpected answer " + res.body().substr(0, 300));
    }
    if (!res.keep_alive() && !reopen(c))
      return;
    issue(c);
  }

  void transport_failure(connection& c, const std::string& what) {
    errors.fetch_add(1);
    note_failure(0, "request " + std::to_string(c.index) + ": " + what);
    if (reopen(c))
      issue(c);
  }

  // Blocking reconnect: only on failures, where timing is already lost.
  bool reopen(connection& c) {
    beast::error_code ignored;
    c.socket.close(ignored);
    c.buffer.clear();
    reconnects.fetch_add(1);
    if (auto err = open(c); !err.empty()) {
      note_failure(0, "reconnect: " + err);
      c.dead = true;
      return false;
    }
    return true;
  }

  void store_max(std::int64_t t) {
    auto cur = last_done_ns.load();
    while (t > cur && !last_done_ns.compare_exchange_weak(cur, t)) {
    }
  }
};

http_load::http_load(load_target target) : impl_(std::make_unique<impl>(std::move(target))) {
}

http_load::~http_load() = default;

std::string http_load::connect() {
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  impl_->endpoints = resolver.resolve(impl_->target.host, std::to_string(impl_->target.port), ec);
  if (ec)
    return "resolve " + impl_->target.host + ": " + ec.message();
  for (std::size_t i = 0; i < impl_->target.connections; ++i) {
    auto c = std::make_unique<connection>(impl_->ioc);
    if (auto err = impl_->open(*c); !err.empty())
      return "connect to " + impl_->target.host + ":" + std::to_string(impl_->target.port) + ": " + err;
    impl_->conns.push_back(std::move(c));
  }
  return {};
}

phase_result http_load::run(const std::vector<std::string>& requests, std::size_t first, std::size_t count,
                            double max_seconds, const response_checker& check, bool record) {
  auto& s = *impl_;
  s.requests = &requests;
  s.check = &check;
  s.first = first;
  s.count = requests.empty() ? 0 : count;
  s.record = record;
  s.next = 0;
  s.completed = 0;
  s.errors = 0;
  s.mismatches = 0;
  s.recall_misses = 0;
  s.reconnects = 0;
  s.timed_out = false;
  s.statuses.clear();
  s.samples.clear();
  for (auto& c : s.conns) {
    c->latencies.clear();
    if (record)
      c->latencies.reserve(count / s.conns.size() + 16);
  }

  const auto start = bench_clock::now();
  s.deadline =
      start + std::chrono::duration_cast<bench_clock::duration>(std::chrono::duration<double>(max_seconds));
  s.last_done_ns = start.time_since_epoch().count();
  for (auto& c : s.conns)
    asio::post(s.ioc, [&s, conn = c.get()] { s.issue(*conn); });
  std::vector<std::thread> extra;
  for (std::size_t t = 1; t < s.target.threads; ++t)
    extra.emplace_back([&s] { s.ioc.run(); });
  s.ioc.run();
  for (auto& t : extra)
    t.join();
  s.ioc.restart();

  phase_result r;
  r.completed = s.completed;
  r.errors = s.errors;
  r.mismatches = s.mismatches;
  r.recall_misses = s.recall_misses;
  r.reconnects = s.reconnects;
  r.complete = r.completed >= s.count;
  r.timed_out = s.timed_out;
  // Throughput is over the span in which responses arrived.
  r.wall_s =
      std::chrono::duration<double>(bench_clock::duration(s.last_done_ns.load()) - start.time_since_epoch())
          .count();
  r.statuses = s.statuses;
  r.samples = s.samples;
  for (auto& c : s.conns)
    r.latencies_ns.insert(r.latencies_ns.end(), c->latencies.begin(), c->latencies.end());
  return r;
}

} // namespace ferro::bench
