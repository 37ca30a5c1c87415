// ferrocache-bench-inproc: the in-process floors under the HTTP numbers.
//
//   ferrocache-bench-inproc [--dim 384] [--entries 100000] [--clusters 100]
//                           [--seed 42] [--queries 10000] [--warmup 1000]
//                           [--repeats 1] [--search-threads CORES]
//                           [--insert-threads CORES] [--tail-inserts 0]
//                           [--insert-only 0] [--parallel 1]
//
// hnswlib with the server's defaults (inner product, M=16,
// ef_construction=200, ef_search=32) on the same seeded data as
// ferrocache-loadgen: single-threaded insert throughput, the throughput of a
// second build with one thread per core (hnswlib's own parallel insertion, as
// its Python bindings do it), then the latency of single k=1 searches for the
// near-duplicate (hit) and random (miss) query sets, and the aggregate search
// throughput of one thread per core. Prints one JSON line per measurement.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "cli_args.hpp"
#include "inproc_index.hpp"
#include "latency_stats.hpp"
#include "proc_cpu.hpp"
#include "synthetic_data.hpp"

namespace {

using namespace ferro::bench;
using bench_clock = std::chrono::steady_clock;

double seconds_since(bench_clock::time_point t0) {
  return std::chrono::duration<double>(bench_clock::now() - t0).count();
}

struct search_set {
  std::vector<std::vector<float>> vectors;
  std::vector<std::size_t> targets; // entry a hit must return; unused for misses
};

/// Times every search of `set` on its own and checks it: a hit query should
/// return its target above min_hit_similarity, a miss query must stay below
/// the threshold.
void measure_searches(const inproc_index& index, const search_set& set, bool expect_hit, double threshold,
                      std::size_t warmup, const char* mode, json_line base) {
  // Warm caches and branch predictors the way a running server has them.
  for (std::size_t i = 0; i < warmup; ++i)
    (void)index.search(set.vectors[i % set.vectors.size()].data());

  std::vector<std::uint64_t> ns;
  ns.reserve(set.vectors.size());
  std::uint64_t mismatches = 0, recall_misses = 0;
  for (std::size_t i = 0; i < set.vectors.size(); ++i) {
    auto t0 = bench_clock::now();
    auto r = index.search(set.vectors[i].data());
    auto t1 = bench_clock::now();
    ns.push_back(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    // Judged as the server judges: a hit is a neighbour at or above the
    // threshold. A near-duplicate that finds nothing that close is a recall
    // miss (approximate search), any other wrong answer a mismatch.
    const bool hit = r.found && r.similarity >= threshold;
    if (expect_hit && !hit)
      ++recall_misses;
    else if (expect_hit ? (r.label != set.targets[i] || r.similarity < min_hit_similarity) : hit)
      ++mismatches;
  }
  auto s = summarise(ns);
  base.add("mode", mode).add("requests", static_cast<std::uint64_t>(s.count)).add("mismatches", mismatches);
  base.add("recall_misses", recall_misses);
  base.add("throughput_rps", s.mean_us > 0 ? 1e6 / s.mean_us : 0.0).add_latency(s);
  base.add("loadavg_1m", load_average_1m()).print();
}

/// Aggregate search throughput with `threads` threads sharing the index:
/// what a node could do at most on this machine if HTTP cost nothing.
void measure_parallel_searches(const inproc_index& index, const search_set& set, std::size_t threads,
                               json_line base) {
  std::atomic<std::size_t> next{0};
  const std::size_t total = set.vectors.size() * 2;
  auto t0 = bench_clock::now();
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < total;)
        (void)index.search(set.vectors[i % set.vectors.size()].data());
    });
  for (auto& t : pool)
    t.join();
  const double wall = seconds_since(t0);
  base.add("mode", "search-hit-parallel").add("search_threads", static_cast<std::uint64_t>(threads));
  base.add("requests", static_cast<std::uint64_t>(total)).add("wall_s", wall);
  base.add("throughput_rps", static_cast<double>(total) / wall).add("loadavg_1m", load_average_1m()).print();
}

/// Builds a second index with `threads` threads inserting concurrently (the
/// first entry alone: hnswlib's insertion is thread-safe once the graph has
/// an entry point) and reports its throughput; the index is then dropped.
void measure_parallel_build(const std::vector<float>& vectors, std::size_t entries, std::size_t dim,
                            std::size_t m, std::size_t ef_construction, std::size_t threads, json_line base) {
  inproc_index index(dim, entries, m, ef_construction, 100);
  auto t0 = bench_clock::now();
  index.add(vectors.data(), 0);
  std::atomic<std::size_t> next{1};
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < entries;)
        index.add(&vectors[i * dim], i);
    });
  for (auto& t : pool)
    t.join();
  const double wall = seconds_since(t0);
  base.add("mode", "insert-parallel").add("insert_threads", static_cast<std::uint64_t>(threads));
  base.add("requests", static_cast<std::uint64_t>(entries)).add("wall_s", wall);
  base.add("throughput_rps", static_cast<double>(entries) / wall)
      .add("loadavg_1m", load_average_1m())
      .print();
}

} // namespace

int main(int argc, char** argv) {
  cli_args args(argc, argv, 1);
  if (!args.positional().empty())
    cli_args::fail("no positional arguments expected; see the comment at the top of inproc_hnsw.cpp");
  synthetic_params p;
  p.dim = args.number("dim", 384);
  p.entries = args.number("entries", 100000);
  p.clusters = args.number("clusters", p.clusters);
  p.spread = args.real("spread", p.spread);
  p.hit_noise = args.real("hit-noise", p.hit_noise);
  p.seed = args.number("seed", p.seed);
  const std::size_t queries = args.number("queries", 10000);
  const std::size_t warmup = args.number("warmup", 1000);
  const std::size_t m = args.number("m", 16);
  const std::size_t ef_construction = args.number("ef-construction", 200);
  const std::size_t ef_search = args.number("ef-search", 32);
  const double threshold = args.real("threshold", 0.92);
  const std::size_t repeats = std::max<std::uint64_t>(1, args.number("repeats", 1));
  const std::size_t args_threads = args.number("search-threads", 0);        // 0: one per core
  const std::size_t args_insert_threads = args.number("insert-threads", 0); // 0: one per core
  // The insert rate over the build's last inserts, the floor for a server
  // fill's last chunk at the same size (0: not reported).
  const std::size_t tail_inserts = args.number("tail-inserts", 0);
  // Only the single-threaded build (and its tail): bounded runs of big sizes.
  const bool insert_only = args.number("insert-only", 0) != 0;
  // 0: skip the parallel search and the second (parallel) build, which at
  // 1M entries would double the run (bench/run-scale.sh).
  const bool parallel = args.number("parallel", 1) != 0;
  args.reject_unknown();
  if (p.dim == 0 || p.entries == 0 || p.clusters == 0 || queries == 0)
    cli_args::fail("--dim, --entries, --clusters and --queries must be positive");

  std::fprintf(stderr, "ferrocache-bench-inproc: seed %llu, dim %zu, entries %zu, clusters %zu, simd %s\n",
               static_cast<unsigned long long>(p.seed), p.dim, p.entries, p.clusters,
               inproc_index::simd_kernel());

  auto t_gen = bench_clock::now();
  synthetic_data data(p);
  std::vector<float> vectors(p.entries * p.dim);
  for (std::size_t i = 0; i < p.entries; ++i)
    data.entry_vector(i, &vectors[i * p.dim]);
  search_set hits, misses;
  for (std::size_t j = 0; j < queries; ++j) {
    auto q = data.make_hit_query(j);
    hits.targets.push_back(q.target);
    hits.vectors.push_back(std::move(q.vector));
    misses.vectors.push_back(data.make_miss_query(j));
  }
  std::fprintf(stderr, "generated the data in %.1f s\n", seconds_since(t_gen));

  auto base = [&] {
    json_line l;
    l.add("tool", "inproc").add("dim", static_cast<std::uint64_t>(p.dim));
    l.add("entries", static_cast<std::uint64_t>(p.entries)).add("seed", static_cast<std::uint64_t>(p.seed));
    l.add("simd", inproc_index::simd_kernel()).add("concurrency", 1);
    return l;
  };

  // Preallocated capacity: the floor leaves out the server's grow-by-doubling.
  inproc_index index(p.dim, p.entries, m, ef_construction, 100);
  std::vector<std::uint64_t> insert_ns;
  insert_ns.reserve(p.entries);
  auto t_ins = bench_clock::now();
  for (std::size_t i = 0; i < p.entries; ++i) {
    auto t0 = bench_clock::now();
    index.add(&vectors[i * p.dim], i);
    insert_ns.push_back(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(bench_clock::now() - t0).count()));
  }
  const double insert_s = seconds_since(t_ins);
  auto s = summarise(insert_ns);
  base()
      .add("mode", "insert")
      .add("requests", static_cast<std::uint64_t>(p.entries))
      .add("errors", 0)
      .add("wall_s", insert_s)
      .add("throughput_rps", static_cast<double>(p.entries) / insert_s)
      .add_latency(s)
      .add("loadavg_1m", load_average_1m())
      .print();
  if (tail_inserts > 0) {
    const std::size_t k = std::min(tail_inserts, p.entries);
    std::vector<std::uint64_t> tail(insert_ns.end() - static_cast<std::ptrdiff_t>(k), insert_ns.end());
    double tail_s = 0;
    for (auto ns : tail)
      tail_s += static_cast<double>(ns) * 1e-9;
    base()
        .add("mode", "insert-tail")
        .add("requests", static_cast<std::uint64_t>(k))
        .add("index_size_before", static_cast<std::uint64_t>(p.entries - k))
        .add("errors", 0)
        .add("wall_s", tail_s)
        .add("throughput_rps", tail_s > 0 ? static_cast<double>(k) / tail_s : 0.0)
        .add_latency(summarise(tail))
        .add("loadavg_1m", load_average_1m())
        .print();
  }
  if (insert_only)
    return 0;

  index.set_ef(ef_search);
  // Search rounds are cheap next to the build, so they are repeated to show
  // the run-to-run noise; rounds after the first skip the warm-up.
  for (std::size_t rep = 0; rep < repeats; ++rep) {
    const std::size_t w = rep == 0 ? warmup : 0;
    measure_searches(index, hits, true, threshold, w, "search-hit",
                     base().add("repeat", static_cast<std::uint64_t>(rep)));
    measure_searches(index, misses, false, threshold, w, "search-miss",
                     base().add("repeat", static_cast<std::uint64_t>(rep)));
  }
  if (!parallel)
    return 0;
  const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t threads = args_threads ? args_threads : cores;
  measure_parallel_searches(index, hits, threads, base());
  measure_parallel_build(vectors, p.entries, p.dim, m, ef_construction,
                         args_insert_threads ? args_insert_threads : cores, base());
  return 0;
}
