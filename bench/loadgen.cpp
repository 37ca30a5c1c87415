// ferrocache-loadgen: closed-loop HTTP load against one FerroCache node.
//
//   ferrocache-loadgen MODE [--host 127.0.0.1] [--port 3000] [--concurrency 50]
//                      [--dim 384] [--entries 100000] [--seed 42] [options]
//
// Modes (docs/benchmarks.md has the whole picture):
//   fill        insert entries [offset, offset+count) of the synthetic set
//   query-hit   near-duplicates of stored entries; each must hit its entry
//   query-miss  random directions; each must miss
//   exact       a stored entry's query text with an unrelated vector; each
//               must be an exact-match hit on that entry
//   health      GET /health, the HTTP floor
//   wait-ready  poll /health until 200 (restart timing), see --since-ns
//
// Query and health modes run --warmup requests, then --repeats measured
// rounds of --requests each (one JSON line per round).
//
// Every request body is built before the clock starts; every response is
// checked. One JSON line per run goes to stdout, failures to stderr. Exit
// status 3 when the run had errors, mismatches, more recall misses than
// --max-recall-miss-pct (near-duplicates answered with a miss; the index is
// approximate) or hit its time limit.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <simdjson.h>

#include "cli_args.hpp"
#include "http_load.hpp"
#include "json_body.hpp"
#include "latency_stats.hpp"
#include "proc_cpu.hpp"
#include "synthetic_data.hpp"

namespace {

using namespace ferro::bench;
using bench_clock = std::chrono::steady_clock;

struct run_config {
  std::string mode;
  std::string host;
  std::uint16_t port = 3000;
  std::string token;
  std::string model_id;
  std::string label;
  std::size_t concurrency = 1;
  std::size_t threads = 1;
  std::size_t response_bytes = 256;
  std::size_t offset = 0;   // fill: first entry
  std::size_t count = 0;    // fill: entries to insert
  std::size_t requests = 0; // queries: measured requests
  std::size_t queries = 0;  // queries: distinct bodies, cycled
  std::size_t warmup = 0;
  double max_seconds = 120;
  std::string threshold; // sent verbatim when given
  long server_pid = 0;
};

/// Builds n items on every core; item i depends only on i.
template <typename F>
void parallel_for(std::size_t n, F&& f) {
  const std::size_t workers = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (std::size_t w = 0; w < workers; ++w)
    pool.emplace_back([&, w] {
      for (std::size_t i = w; i < n; i += workers)
        f(i);
    });
  for (auto& t : pool)
    t.join();
}

/// What a response must say; `target` is the entry a hit must name.
struct expectation {
  std::size_t target = 0;
};

/// The requests of one run and what each response must be.
struct workload {
  std::vector<std::string> wire;
  std::vector<expectation> expect;
  std::size_t first_measured = 0; // warm-up uses the requests before it
};

std::string host_header(const run_config& c) {
  return c.host + ":" + std::to_string(c.port);
}

workload build_fill(const run_config& c, const synthetic_data& data) {
  workload w;
  w.wire.resize(c.count);
  w.expect.resize(c.count);
  parallel_for(c.count, [&](std::size_t k) {
    const std::size_t i = c.offset + k;
    std::vector<float> v(data.params().dim);
    data.entry_vector(i, v.data());
    std::string body = "{";
    append_embedding(body, v.data(), v.size());
    append_field(body, "response", synthetic_data::entry_response(i, c.response_bytes));
    append_field(body, "query_text", data.entry_query_text(i));
    append_field(body, "model_id", c.model_id);
    append_field(body, "uuid", synthetic_data::entry_uuid(i));
    body += '}';
    w.wire[k] = http_request("POST", "/insert", host_header(c), c.token, body, true);
    w.expect[k].target = i;
  });
  return w;
}

workload build_queries(const run_config& c, const synthetic_data& data) {
  workload w;
  w.wire.resize(c.queries);
  w.expect.resize(c.queries);
  parallel_for(c.queries, [&](std::size_t j) {
    std::string body = "{";
    if (c.mode == "query-hit") {
      auto q = data.make_hit_query(j);
      append_embedding(body, q.vector.data(), q.vector.size());
      w.expect[j].target = q.target;
    } else if (c.mode == "query-miss") {
      auto v = data.make_miss_query(j);
      append_embedding(body, v.data(), v.size());
    } else {
      auto q = data.make_exact_query(j);
      append_embedding(body, q.vector.data(), q.vector.size());
      append_field(body, "query_text", q.query_text);
      w.expect[j].target = q.target;
    }
    append_field(body, "model_id", c.model_id);
    if (!c.threshold.empty())
      body += ",\"threshold\":" + c.threshold;
    body += '}';
    w.wire[j] = http_request("POST", "/query", host_header(c), c.token, body, true);
  });
  return w;
}

workload build_health(const run_config& c) {
  workload w;
  w.wire.push_back(http_request("GET", "/health", host_header(c), c.token, "", false));
  w.expect.resize(1);
  return w;
}

// --- response checks -------------------------------------------------------

bool string_field_is(simdjson::dom::element doc, const char* key, std::string_view want) {
  std::string_view got;
  return doc[key].get(got) == simdjson::SUCCESS && got == want;
}

bool bool_field_is(simdjson::dom::element doc, const char* key, bool want) {
  bool got = false;
  return doc[key].get(got) == simdjson::SUCCESS && got == want;
}

response_checker make_checker(const run_config& c, const workload& w) {
  return [&c, &w](std::size_t index, unsigned status, std::string_view body) -> verdict {
    if (status != 200)
      return verdict::error;
    // One parser per client thread; responses are small, copying is fine.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(body.data(), body.size(), true).get(doc) != simdjson::SUCCESS)
      return verdict::error;
    const std::string uuid = synthetic_data::entry_uuid(w.expect[index].target);
    bool ok = false;
    if (c.mode == "fill")
      ok = string_field_is(doc, "status", "ok") && string_field_is(doc, "id", uuid);
    else if (c.mode == "query-hit" && bool_field_is(doc, "hit", false))
      return verdict::recall_miss;
    else if (c.mode == "query-hit")
      ok = bool_field_is(doc, "hit", true) && string_field_is(doc, "id", uuid) &&
           bool_field_is(doc, "exact_match", false);
    else if (c.mode == "query-miss")
      ok = bool_field_is(doc, "hit", false);
    else if (c.mode == "exact")
      ok = bool_field_is(doc, "hit", true) && bool_field_is(doc, "exact_match", true) &&
           string_field_is(doc, "id", uuid);
    else if (c.mode == "health")
      ok = string_field_is(doc, "status", "ok");
    return ok ? verdict::ok : verdict::mismatch;
  };
}

// --- wait-ready --------------------------------------------------------------

std::int64_t realtime_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Polls GET /health until it answers 200 or `max_seconds` pass. Times are
/// measured from `since_ns` (CLOCK_REALTIME, `date +%s%N` just before the
/// server was started), so they include process start-up.
int wait_ready(const run_config& c, std::int64_t since_ns, std::size_t interval_ms,
               long long expect_entries) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  const auto deadline = bench_clock::now() + std::chrono::duration<double>(c.max_seconds);
  std::int64_t first_answer_ns = -1;
  std::uint64_t polls = 0;
  std::string last;
  while (bench_clock::now() < deadline) {
    ++polls;
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(2));
    beast::error_code ec;
    auto endpoints = resolver.resolve(c.host, std::to_string(c.port), ec);
    if (!ec)
      stream.connect(endpoints, ec);
    if (!ec) {
      http::request<http::empty_body> req{http::verb::get, "/health", 11};
      req.set(http::field::host, host_header(c));
      http::write(stream, req, ec);
      beast::flat_buffer buf;
      http::response<http::string_body> res;
      if (!ec)
        http::read(stream, buf, res, ec);
      if (!ec) {
        const auto now = realtime_ns();
        if (first_answer_ns < 0)
          first_answer_ns = now;
        last = "HTTP " + std::to_string(res.result_int()) + " " + res.body();
        if (res.result_int() == 200) {
          simdjson::dom::parser parser;
          simdjson::dom::element doc;
          std::int64_t entries = -1;
          if (parser.parse(res.body()).get(doc) != simdjson::SUCCESS ||
              doc["entry_count"].get(entries) != simdjson::SUCCESS)
            entries = -1;
          const bool count_ok = expect_entries < 0 || entries == expect_entries;
          json_line l;
          l.add("tool", "loadgen").add("mode", "wait-ready").add("label", c.label);
          l.add("ready_ms", static_cast<double>(now - since_ns) / 1e6);
          l.add("first_answer_ms", static_cast<double>(first_answer_ns - since_ns) / 1e6);
          l.add("polls", polls).add("entry_count", static_cast<long long>(entries));
          l.add("entry_count_ok", count_ok).add("loadavg_1m", load_average_1m()).print();
          if (!count_ok)
            std::fprintf(stderr, "wait-ready: /health reports %lld entries, expected %lld\n",
                         static_cast<long long>(entries), expect_entries);
          return count_ok ? 0 : 3;
        }
      }
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(interval_ms)); // poll interval, not a condition wait
  }
  std::fprintf(stderr, "wait-ready: no 200 from /health within %.1f s (last answer: %s)\n", c.max_seconds,
               last.empty() ? "none" : last.c_str());
  json_line l;
  l.add("tool", "loadgen")
      .add("mode", "wait-ready")
      .add("label", c.label)
      .add("ready_ms", -1.0)
      .add("polls", polls);
  l.print();
  return 3;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: ferrocache-loadgen fill|query-hit|query-miss|exact|health|wait-ready [--options]\n"
                 "       (see the comment at the top of bench/loadgen.cpp)\n");
    return 2;
  }
  cli_args args(argc, argv, 2);
  run_config c;
  c.mode = argv[1];
  const bool is_query = c.mode == "query-hit" || c.mode == "query-miss" || c.mode == "exact";
  if (!is_query && c.mode != "fill" && c.mode != "health" && c.mode != "wait-ready")
    cli_args::fail("unknown mode '" + c.mode + "'");

  synthetic_params p;
  p.dim = args.number("dim", 384);
  p.entries = args.number("entries", 100000);
  p.clusters = args.number("clusters", p.clusters);
  p.spread = args.real("spread", p.spread);
  p.hit_noise = args.real("hit-noise", p.hit_noise);
  p.seed = args.number("seed", p.seed);
  c.host = args.text("host", "127.0.0.1");
  c.port = static_cast<std::uint16_t>(args.number("port", 3000));
  c.token = args.text("token", "");
  c.model_id = args.text("model-id", "bench::" + std::to_string(p.dim));
  c.label = args.text("label", "");
  c.concurrency = args.number("concurrency", 1);
  c.threads = args.number("threads", 1);
  c.response_bytes = args.number("response-bytes", 256);
  c.offset = args.number("offset", 0);
  c.count = args.number("count", p.entries > c.offset ? p.entries - c.offset : 0);
  c.requests = args.number("requests", c.mode == "health" ? 50000 : 20000);
  c.queries = args.number("queries", std::min<std::size_t>(c.requests, 10000));
  c.warmup = args.number("warmup", c.mode == "fill" ? 0 : 1000);
  c.max_seconds = args.real("max-seconds", 120);
  if (args.given("threshold"))
    c.threshold = std::to_string(args.real("threshold", 0.92));
  c.server_pid = static_cast<long>(args.number("server-pid", 0));
  const std::size_t repeat_count = std::max<std::uint64_t>(1, args.number("repeats", 1));
  const double max_recall_miss_pct = args.real("max-recall-miss-pct", 2.0);
  const auto since_ns = static_cast<std::int64_t>(args.number("since-ns", 0));
  const auto interval_ms = args.number("interval-ms", 5);
  const long long expect_entries =
      args.given("expect-entries") ? static_cast<long long>(args.number("expect-entries", 0)) : -1;
  args.reject_unknown();

  if (c.mode == "wait-ready")
    return wait_ready(c, since_ns ? since_ns : realtime_ns(), interval_ms, expect_entries);

  if (p.dim == 0 || p.entries == 0 || p.clusters == 0 || c.concurrency == 0 || c.threads == 0)
    cli_args::fail("--dim, --entries, --clusters, --concurrency and --threads must be positive");
  if (c.mode == "fill" && c.offset + c.count > p.entries)
    cli_args::fail("--offset + --count exceeds --entries");
  if (is_query && c.queries == 0)
    cli_args::fail("--queries must be positive");
  std::fprintf(stderr, "ferrocache-loadgen %s: seed %llu, dim %zu, entries %zu, clusters %zu, model_id %s\n",
               c.mode.c_str(), static_cast<unsigned long long>(p.seed), p.dim, p.entries, p.clusters,
               c.model_id.c_str());

  const auto t_prep = bench_clock::now();
  synthetic_data data(p);
  workload w = c.mode == "fill"     ? build_fill(c, data)
               : c.mode == "health" ? build_health(c)
                                    : build_queries(c, data);
  const double prepare_s = std::chrono::duration<double>(bench_clock::now() - t_prep).count();
  std::size_t wire_bytes = 0;
  for (auto& r : w.wire)
    wire_bytes += r.size();
  std::fprintf(stderr, "prepared %zu requests (%.1f MiB) in %.1f s\n", w.wire.size(),
               static_cast<double>(wire_bytes) / (1 << 20), prepare_s);

  http_load load({c.host, c.port, c.concurrency, c.threads});
  if (auto err = load.connect(); !err.empty()) {
    std::fprintf(stderr, "error: %s\n", err.c_str());
    return 1;
  }
  auto check = make_checker(c, w);

  // Warm-up: the same request mix, not recorded; its failures still count.
  phase_result warm;
  if (c.warmup > 0)
    warm = load.run(w.wire, 0, c.warmup, c.max_seconds, check, false);

  // Fill inserts each entry once, so it cannot be repeated on one namespace.
  const std::size_t measured = c.mode == "fill" ? c.count : c.requests;
  const std::size_t repeats = c.mode == "fill" ? 1 : repeat_count;
  auto report = [](const char* phase, const phase_result& pr) {
    for (auto& [status, n] : pr.statuses)
      std::fprintf(stderr, "%s: HTTP %u x %llu\n", phase, status, static_cast<unsigned long long>(n));
    for (auto& sample : pr.samples)
      std::fprintf(stderr, "%s: %s\n", phase, sample.c_str());
  };
  report("warm-up", warm);
  bool clean = warm.errors == 0 && warm.mismatches == 0;
  for (std::size_t rep = 0; rep < repeats; ++rep) {
    const double server_cpu0 = c.server_pid ? process_cpu_seconds(static_cast<pid_t>(c.server_pid)) : -1;
    const double server_wb0 = c.server_pid ? process_write_bytes(static_cast<pid_t>(c.server_pid)) : -1;
    const double own_cpu0 = own_cpu_seconds();
    phase_result r =
        load.run(w.wire, (c.warmup + rep * measured) % w.wire.size(), measured, c.max_seconds, check, true);
    const double server_cpu1 = c.server_pid ? process_cpu_seconds(static_cast<pid_t>(c.server_pid)) : -1;
    const double server_wb1 = c.server_pid ? process_write_bytes(static_cast<pid_t>(c.server_pid)) : -1;
    const double own_cpu1 = own_cpu_seconds();

    const auto s = summarise(r.latencies_ns);
    json_line l;
    l.add("tool", "loadgen")
        .add("mode", c.mode)
        .add("label", c.label)
        .add("dim", static_cast<std::uint64_t>(p.dim));
    l.add("model_id", c.model_id).add("seed", static_cast<std::uint64_t>(p.seed));
    l.add("entries", static_cast<std::uint64_t>(p.entries))
        .add("concurrency", static_cast<std::uint64_t>(c.concurrency));
    l.add("client_threads", static_cast<std::uint64_t>(c.threads))
        .add("repeat", static_cast<std::uint64_t>(rep));
    // Warm-up failures are charged to the first repeat.
    l.add("requests", r.completed).add("errors", r.errors + (rep == 0 ? warm.errors : 0));
    l.add("mismatches", r.mismatches + (rep == 0 ? warm.mismatches : 0));
    l.add("recall_misses", r.recall_misses);
    l.add("reconnects", r.reconnects).add("complete", r.complete);
    l.add("warmup", static_cast<std::uint64_t>(rep == 0 ? c.warmup : 0)).add("wall_s", r.wall_s);
    l.add("throughput_rps", r.wall_s > 0 ? static_cast<double>(r.completed) / r.wall_s : 0.0);
    l.add_latency(s);
    if (c.server_pid && server_cpu0 >= 0 && server_cpu1 >= 0 && r.wall_s > 0)
      l.add("server_cpu_pct", 100.0 * (server_cpu1 - server_cpu0) / r.wall_s);
    if (r.wall_s > 0)
      l.add("loadgen_cpu_pct", 100.0 * (own_cpu1 - own_cpu0) / r.wall_s);
    // Disk writes the server caused during the run (WAL pages, snapshot
    // files); per request it is the write amplification of a fill. Writes
    // the run set off that land after it (a snapshot still being written)
    // count towards the next run.
    if (server_wb0 >= 0 && server_wb1 >= 0) {
      l.add("server_write_bytes", server_wb1 - server_wb0);
      if (r.completed > 0)
        l.add("server_write_bytes_per_request", (server_wb1 - server_wb0) / static_cast<double>(r.completed));
    }
    l.add("prepare_s", prepare_s)
        .add("request_bytes_mean", static_cast<double>(wire_bytes) / static_cast<double>(w.wire.size()));
    l.add("loadavg_1m", load_average_1m());
    l.print();

    report("measured", r);
    if (!r.complete && r.timed_out)
      std::fprintf(stderr, "measured: stopped at the %.0f s limit after %llu of %zu requests\n",
                   c.max_seconds, static_cast<unsigned long long>(r.completed), measured);
    else if (!r.complete)
      std::fprintf(stderr, "measured: only %llu of %zu requests answered (connections failed)\n",
                   static_cast<unsigned long long>(r.completed), measured);
    const double recall_miss_pct =
        r.completed ? 100.0 * static_cast<double>(r.recall_misses) / static_cast<double>(r.completed) : 0.0;
    if (recall_miss_pct > max_recall_miss_pct)
      std::fprintf(stderr, "measured: %.2f%% of near-duplicate queries missed (limit %.2f%%)\n",
                   recall_miss_pct, max_recall_miss_pct);
    clean =
        clean && r.errors == 0 && r.mismatches == 0 && r.complete && recall_miss_pct <= max_recall_miss_pct;
  }
  return clean ? 0 : 3;
}
