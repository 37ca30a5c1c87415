// ferrocache-bench-vectors: float32 against compact vectors (issue 13).
//
//   ferrocache-bench-vectors [--dim 384] [--entries 100000] [--queries 5000]
//                            [--types float32,float16,int8] [--run 8]
//                            [--threads 2] [--threshold 0.92] [--seed 42]
//                            [--warmup 500]
//
// For each vector type, in one process on the same seeded data as the other
// bench tools: fills a namespace_index in runs of --run upserts on
// --threads threads (as the namespace actor applies durable inserts) and
// times it; takes the index's memory account (the graph's vector part and
// the total); then asks every near-duplicate query of the hit set twice:
// at threshold 0 for recall@1 (the nearest entry is the query's own
// target) and at --threshold, timed, for the near-duplicate miss rate (no
// answer that close) and the query latency. Also reports how far the
// similarities the index returns for the target are from the exact cosine
// with the client's float32 vector. Ratios to the first type listed are
// computed from the same run. One JSON line per type on stdout, a table on
// stderr.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "index/namespace_index.hpp"
#include "latency_stats.hpp"
#include "proc_cpu.hpp"
#include "synthetic_data.hpp"

namespace {

using namespace ferro::bench;
using bench_clock = std::chrono::steady_clock;

double seconds_since(bench_clock::time_point t0) {
  return std::chrono::duration<double>(bench_clock::now() - t0).count();
}

struct outcome {
  std::string type;
  double insert_rate = 0;
  std::size_t vector_bytes = 0;
  std::size_t total_bytes = 0;
  double recall_at_1 = 0;
  double miss_rate = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_similarity_error = 0;
  double mean_similarity_error = 0;
};

std::vector<ferro::vector_type> parse_types(const std::string& list) {
  std::vector<ferro::vector_type> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    auto word = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto t = ferro::parse_vector_type(word);
    if (!t)
      cli_args::fail("--types: unknown vector type '" + word + "'");
    out.push_back(*t);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

outcome run_type(ferro::vector_type type, const synthetic_data& data, const std::vector<hit_query>& hits,
                 std::size_t run, std::size_t threads, double threshold, std::size_t warmup) {
  const auto& p = data.params();
  ferro::hnsw_params hp; // the server's defaults (common/defaults.hpp)
  hp.stored_type = type;
  ferro::namespace_index index(p.dim, hp);
  outcome o;
  o.type = std::string(ferro::name_of(type));

  const auto t0 = bench_clock::now();
  for (std::size_t first = 0; first < p.entries; first += run) {
    std::vector<ferro::cache_entry> batch;
    for (std::size_t i = first; i < std::min(p.entries, first + run); ++i) {
      ferro::cache_entry e;
      e.uuid = synthetic_data::entry_uuid(i);
      e.embedding = data.entry_vector(i);
      e.response = synthetic_data::entry_response(i, 64);
      e.created_at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i);
      batch.push_back(std::move(e));
    }
    for (auto& st : index.upsert_many(std::move(batch), threads))
      if (!st)
        cli_args::fail("upsert failed: " + st.err().message);
  }
  o.insert_rate = static_cast<double>(p.entries) / seconds_since(t0);
  const auto m = index.memory();
  o.vector_bytes = m.graph_vectors;
  o.total_bytes = m.total();

  // Lookups happen after every insert, as in a server: a hit moves its
  // entry to the recent end of the LRU list in O(1). (A clock before the
  // entries' creation would make each hit walk the whole list.)
  const std::int64_t now_ms = 1'700'000'000'000 + static_cast<std::int64_t>(p.entries) + 1000;
  std::size_t recalled = 0, missed = 0, compared = 0;
  double error_sum = 0;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    const auto& q = hits[i];
    auto nearest = index.lookup(q.vector, "", 0.0, now_ms);
    if (nearest && nearest->uuid == synthetic_data::entry_uuid(q.target)) {
      ++recalled;
      const auto v = data.entry_vector(q.target);
      double err = std::fabs(nearest->similarity - dot(q.vector.data(), v.data(), p.dim));
      o.max_similarity_error = std::max(o.max_similarity_error, err);
      error_sum += err;
      ++compared;
    }
  }
  for (std::size_t i = 0; i < std::min(warmup, hits.size()); ++i)
    (void)index.lookup(hits[i].vector, "", threshold, now_ms);
  std::vector<std::uint64_t> ns;
  ns.reserve(hits.size());
  for (const auto& q : hits) {
    const auto s = bench_clock::now();
    auto hit = index.lookup(q.vector, "", threshold, now_ms);
    ns.push_back(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(bench_clock::now() - s).count()));
    if (!hit)
      ++missed;
  }
  const auto lat = summarise(ns);
  const double n = static_cast<double>(hits.size());
  o.recall_at_1 = static_cast<double>(recalled) / n;
  o.miss_rate = static_cast<double>(missed) / n;
  o.p50_us = lat.p50_us;
  o.p99_us = lat.p99_us;
  o.mean_similarity_error = compared ? error_sum / static_cast<double>(compared) : 0;
  return o;
}

} // namespace

int main(int argc, char** argv) {
  cli_args args(argc, argv, 1);
  synthetic_params p;
  p.dim = args.number("dim", 384);
  p.entries = args.number("entries", 100000);
  p.seed = args.number("seed", p.seed);
  const std::size_t queries = args.number("queries", 5000);
  const auto types = parse_types(args.text("types", "float32,float16,int8"));
  const std::size_t run = std::max<std::size_t>(1, args.number("run", 8));
  const std::size_t threads = std::max<std::size_t>(1, args.number("threads", 2));
  const double threshold = args.real("threshold", 0.92);
  const std::size_t warmup = args.number("warmup", 500);
  args.reject_unknown();
  if (p.dim == 0 || p.entries == 0 || queries == 0)
    cli_args::fail("--dim, --entries and --queries must be positive");

  synthetic_data data(p);
  std::vector<hit_query> hits;
  hits.reserve(queries);
  for (std::size_t j = 0; j < queries; ++j)
    hits.push_back(data.make_hit_query(j));

  std::vector<outcome> results;
  for (auto type : types) {
    results.push_back(run_type(type, data, hits, run, threads, threshold, warmup));
    const auto& o = results.back();
    const auto& base = results.front();
    json_line l;
    l.add("tool", "vectors").add("vector_type", o.type).add("dim", static_cast<std::uint64_t>(p.dim));
    l.add("entries", static_cast<std::uint64_t>(p.entries))
        .add("queries", static_cast<std::uint64_t>(queries));
    l.add("seed", static_cast<std::uint64_t>(p.seed)).add("threads", static_cast<std::uint64_t>(threads));
    l.add("insert_rate", o.insert_rate).add("vector_bytes", static_cast<std::uint64_t>(o.vector_bytes));
    l.add("index_bytes", static_cast<std::uint64_t>(o.total_bytes));
    // Percentages and parts per million: json_line prints three decimals.
    l.add("recall_at_1_pct", 100 * o.recall_at_1).add("near_duplicate_miss_pct", 100 * o.miss_rate);
    l.add("query_p50_us", o.p50_us).add("query_p99_us", o.p99_us);
    l.add("similarity_error_max_ppm", 1e6 * o.max_similarity_error)
        .add("similarity_error_mean_ppm", 1e6 * o.mean_similarity_error);
    l.add("vector_bytes_ratio", static_cast<double>(o.vector_bytes) / static_cast<double>(base.vector_bytes));
    l.add("insert_rate_ratio", o.insert_rate / base.insert_rate)
        .add("query_p50_ratio", o.p50_us / base.p50_us);
    l.add("loadavg_1m", load_average_1m()).print();
  }

  std::fprintf(stderr, "%zu entries x %zu dims, %zu near-duplicate queries, threshold %.2f\n", p.entries,
               p.dim, queries, threshold);
  std::fprintf(stderr,
               "| type | recall@1 | near-dup misses | vector MiB (ratio) | index MiB | inserts/s (ratio) "
               "| query p50 us (ratio) | similarity error max / mean |\n|---|---|---|---|---|---|---|---|\n");
  const auto& base = results.front();
  for (const auto& o : results)
    std::fprintf(
        stderr, "| %s | %.2f%% | %.2f%% | %.1f (%.3f) | %.1f | %.0f (%.2f) | %.1f (%.2f) | %.5f / %.6f |\n",
        o.type.c_str(), 100 * o.recall_at_1, 100 * o.miss_rate,
        static_cast<double>(o.vector_bytes) / 1048576.0,
        static_cast<double>(o.vector_bytes) / static_cast<double>(base.vector_bytes),
        static_cast<double>(o.total_bytes) / 1048576.0, o.insert_rate, o.insert_rate / base.insert_rate,
        o.p50_us, o.p50_us / base.p50_us, o.max_similarity_error, o.mean_similarity_error);
  return 0;
}
