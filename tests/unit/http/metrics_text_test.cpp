#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "http/metrics_text.hpp"
#include "test_service.hpp"

using namespace ferro;
using namespace ferro::test;
using Catch::Matchers::Contains;

namespace {

/// A node after some traffic: namespaces with awkward names, observations in
/// several buckets, a cluster with suspected and dead peers.
struct realistic {
  node_metrics m;
  health_reply health{true, "node-1", 42};
  stats_reply stats;
  cluster_status_reply cluster{
      "clustered", "a",  {"a", "b", "c", "d"},
      2,           true, {{"b", {"alive", 0.4}}, {"c", {"suspected", 9.1}}, {"d", {"dead", 30}}},
      {"d", "e"}};
  realistic() {
    m.queries_total = 10;
    m.queries_hit = 7;
    m.queries_miss = 3;
    m.inserts_total = 5;
    m.compactions = 1;
    for (double s : {0.00001, 0.0003, 0.002, 0.2, 3.0})
      m.query_duration.observe(s);
    m.insert_duration.observe(0.004);
    stats.entry_count = 42;
    stats.namespaces["gpt-4o-mini::1536"] = namespace_stats{40, 1536, 1, 2, 3};
    stats.namespaces["m::tenant \"x\"::conv_a\\b\nc"] = namespace_stats{1, 3, 1, 2, 3};
    stats.namespaces["caf\xC3\xA9"] = namespace_stats{1, 3, 1, 2, 3};
  }
};

std::string run_promtool(const std::string& exposition) {
  auto dir = std::filesystem::temp_directory_path();
  auto file = dir / ("ferro_metrics_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(file) << exposition;
  std::string cmd = "/usr/bin/promtool check metrics < " + file.string() + " 2>&1; echo \"exit=$?\"";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), buf.size(), p))
      out += buf.data();
    ::pclose(p);
  }
  std::filesystem::remove(file);
  return out;
}

} // namespace

TEST_CASE("The metrics exposition has HELP and TYPE for every family and cumulative buckets") {
  realistic r;
  auto text = render_metrics(r.m, r.health, &r.stats, r.cluster);
  CHECK_THAT(text, Contains("# TYPE ferrocache_queries_total counter\n"));
  CHECK_THAT(text, Contains("ferrocache_queries_total{result=\"hit\"} 7\n"));
  CHECK_THAT(text, Contains("ferrocache_queries_total{result=\"miss\"} 3\n"));
  CHECK_THAT(text, Contains("ferrocache_entries 42\n"));
  CHECK_THAT(text, Contains("ferrocache_namespace_entries{namespace=\"gpt-4o-mini::1536\"} 40\n"));
  CHECK_THAT(
      text, Contains("ferrocache_namespace_entries{namespace=\"m::tenant \\\"x\\\"::conv_a\\\\b\\nc\"} 1\n"));
  CHECK_THAT(text, Contains("ferrocache_cluster_nodes 4\n"));
  CHECK_THAT(text, Contains("ferrocache_cluster_peers_suspected 1\n"));
  CHECK_THAT(text, Contains("ferrocache_cluster_peers_dead 2\n"));
  CHECK_THAT(text, Contains("ferrocache_query_duration_seconds_bucket{le=\"0.00005\"} 1\n"));
  CHECK_THAT(text, Contains("ferrocache_query_duration_seconds_bucket{le=\"0.0005\"} 2\n"));
  CHECK_THAT(text, Contains("ferrocache_query_duration_seconds_bucket{le=\"1\"} 4\n"));
  CHECK_THAT(text, Contains("ferrocache_query_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
  CHECK_THAT(text, Contains("ferrocache_query_duration_seconds_count 5\n"));
  CHECK_THAT(text, Contains("ferrocache_insert_duration_seconds_count 1\n"));
  CHECK_THAT(text, Contains("ferrocache_compactions_total 1\n"));
  // Every sample line belongs to a family announced with HELP and TYPE.
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("# TYPE ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      CHECK_THAT(text, Contains("# HELP " + name + " "));
    }
  }
}

TEST_CASE("The metrics exposition passes promtool check metrics") {
  if (!std::filesystem::exists("/usr/bin/promtool")) {
    WARN("promtool not installed at /usr/bin/promtool; skipping the exposition lint");
    return;
  }
  realistic r;
  auto out = run_promtool(render_metrics(r.m, r.health, &r.stats, r.cluster));
  INFO(out);
  CHECK(out == "exit=0\n");
  // A fresh node (no traffic, no namespaces, stats unavailable) too.
  node_metrics fresh;
  out = run_promtool(render_metrics(fresh, health_reply{false, "n", 0}, nullptr,
                                    cluster_status_reply{"single", "n", {}, 2, true, {}, {}}));
  INFO(out);
  CHECK(out == "exit=0\n");
  stats_reply empty;
  out = run_promtool(render_metrics(fresh, health_reply{true, "n", 0}, &empty,
                                    cluster_status_reply{"single", "n", {"n"}, 2, true, {}, {}}));
  INFO(out);
  CHECK(out == "exit=0\n");
}

TEST_CASE("GET /metrics serves the exposition with the Prometheus content type") {
  recording_service svc;
  http_options opts;
  opts.auth_token = "t"; // always open
  svc.stats_result = stats_reply{5, 16, 200, 32, {{"m", namespace_stats{5, 3, 1, 2, 0}}}};
  auto res = call(svc, opts, "GET", "/metrics");
  REQUIRE(res.status == 200);
  CHECK(res.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(res.body, Contains("ferrocache_namespace_entries{namespace=\"m\"} 5\n"));
}

TEST_CASE("GET /metrics still answers when the stats are unavailable") {
  recording_service svc;
  http_options opts;
  svc.stats_result = error{errc::unavailable, "starting"};
  svc.health_value = health_reply{false, "n", 9};
  auto res = call(svc, opts, "GET", "/metrics");
  REQUIRE(res.status == 200);
  CHECK_THAT(res.body, Contains("ferrocache_entries 9\n"));
  CHECK_THAT(res.body, Contains("ferrocache_ready 0\n"));
  CHECK_FALSE(res.body.find("ferrocache_namespace_entries{") != std::string::npos);
}

TEST_CASE("Label values escape backslash, quote and newline") {
  CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(escape_label_value("plain::x") == "plain::x");
}
