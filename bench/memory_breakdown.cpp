// ferrocache-bench-memory: where one namespace's memory goes (issue 13).
//
//   ferrocache-bench-memory [--dim 384] [--entries 200000] [--seed 42]
//                           [--response-bytes 256] [--run 8] [--threads 2]
//                           [--vector-type float32|float16|int8]
//
// Fills a namespace_index in-process with the load generator's synthetic
// entries, in runs of --run upserts on --threads threads as the namespace
// actor applies durable inserts, then prints the index's own account
// (namespace_index::memory(), bytes as allocated per component), the
// process's RSS growth, glibc's malloc statistics, and the raw data the
// entries carry (vectors + responses + query texts). RSS growth minus the
// index's account is allocator overhead; the server's RSS growth over the
// same fill minus this process's is what lies outside the index (HTTP,
// actors, log, LMDB pages). One JSON line on stdout, a table on stderr.

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli_args.hpp"
#include "index/namespace_index.hpp"
#include "latency_stats.hpp"
#include "synthetic_data.hpp"

namespace {

using namespace ferro::bench;

/// A field of /proc/self/status in KiB (VmRSS, RssAnon, ...), or -1.
long status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = -1;
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::stol(line.substr(field.size() + 1));
  return value;
}

} // namespace

int main(int argc, char** argv) {
  cli_args args(argc, argv, 1);
  synthetic_params p;
  p.dim = args.number("dim", 384);
  p.entries = args.number("entries", 200000);
  p.seed = args.number("seed", p.seed);
  const std::size_t response_bytes = args.number("response-bytes", 256);
  const std::size_t run = std::max<std::size_t>(1, args.number("run", 8));
  const std::size_t threads = std::max<std::size_t>(1, args.number("threads", 2));
  const auto type_name = args.text("vector-type", "float32");
  const auto type = ferro::parse_vector_type(type_name);
  if (!type)
    cli_args::fail("--vector-type must be float32, float16 or int8");
  args.reject_unknown();

  synthetic_data data(p);
  const long rss0 = status_kib("VmRSS");
  const auto mi0 = mallinfo2();
  ferro::hnsw_params hp; // the server's defaults (common/defaults.hpp)
  hp.stored_type = *type;
  auto index = std::make_shared<ferro::namespace_index>(p.dim, hp);
  std::size_t raw_bytes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t first = 0; first < p.entries; first += run) {
    std::vector<ferro::cache_entry> batch;
    for (std::size_t i = first; i < std::min(p.entries, first + run); ++i) {
      ferro::cache_entry e;
      e.uuid = synthetic_data::entry_uuid(i);
      e.embedding = data.entry_vector(i);
      e.response = synthetic_data::entry_response(i, response_bytes);
      e.query_text = data.entry_query_text(i);
      e.created_at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(i);
      raw_bytes += e.embedding.size() * sizeof(float) + e.response.size() + e.query_text.size();
      batch.push_back(std::move(e));
    }
    for (auto& st : index->upsert_many(std::move(batch), threads))
      if (!st) {
        std::fprintf(stderr, "upsert failed: %s\n", st.err().message.c_str());
        return 1;
      }
  }
  const double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long rss1 = status_kib("VmRSS");
  const auto mi1 = mallinfo2();
  const auto m = index->memory();
  malloc_trim(0);
  const long rss_trimmed = status_kib("VmRSS");

  const double n = static_cast<double>(p.entries);
  const double growth = static_cast<double>(rss1 - rss0) * 1024.0;
  const double heap_in_use = static_cast<double>((mi1.uordblks + mi1.hblkhd) - (mi0.uordblks + mi0.hblkhd));
  const double heap_system = static_cast<double>((mi1.arena + mi1.hblkhd) - (mi0.arena + mi0.hblkhd));
  struct row {
    const char* name;
    std::size_t bytes;
  };
  const row rows[] = {
      {"graph: vectors (as stored: --vector-type)", m.graph_vectors},
      {"graph: level-0 links + labels", m.graph_level0},
      {"graph: free slots (capacity doubling)", m.graph_free_slots},
      {"graph: upper-level links", m.graph_upper_links},
      {"graph: per-node tables", m.graph_node_tables},
      {"entries: slots", m.entry_slots},
      {"entries: texts on the heap", m.entry_texts},
      {"entries: uuid/node/backlog tables", m.entry_index},
      {"exact-text map", m.exact_map},
      {"created/expiry orders", m.time_orders},
      {"backlog vectors", m.backlog_vectors},
  };
  json_line l;
  l.add("tool", "memory").add("dim", static_cast<std::uint64_t>(p.dim)).add("vector_type", type_name);
  l.add("entries", static_cast<std::uint64_t>(p.entries))
      .add("response_bytes", static_cast<std::uint64_t>(response_bytes));
  l.add("fill_s", fill_s).add("raw_bytes", static_cast<std::uint64_t>(raw_bytes));
  l.add("rss_growth_bytes", growth)
      .add("rss_after_trim_growth_bytes", static_cast<double>(rss_trimmed - rss0) * 1024.0);
  l.add("heap_in_use_bytes", heap_in_use).add("heap_system_bytes", heap_system);
  l.add("accounted_bytes", static_cast<std::uint64_t>(m.total()));
  for (const auto& r : rows)
    l.add(r.name, static_cast<std::uint64_t>(r.bytes));
  l.print();

  std::fprintf(stderr, "%zu entries x %zu dims (%s), %zu-byte responses; filled in %.1f s\n", p.entries,
               p.dim, type_name.c_str(), response_bytes, fill_s);
  std::fprintf(stderr, "| component | bytes per entry | MiB |\n|---|---|---|\n");
  for (const auto& r : rows)
    std::fprintf(stderr, "| %s | %.0f | %.1f |\n", r.name, static_cast<double>(r.bytes) / n,
                 static_cast<double>(r.bytes) / 1048576.0);
  std::fprintf(stderr, "| **index total (as allocated)** | %.0f | %.1f |\n",
               static_cast<double>(m.total()) / n, static_cast<double>(m.total()) / 1048576.0);
  std::fprintf(stderr, "| raw data (vectors + responses + query texts) | %.0f | %.1f |\n",
               static_cast<double>(raw_bytes) / n, static_cast<double>(raw_bytes) / 1048576.0);
  std::fprintf(stderr, "| malloc: in use / from the system | %.0f / %.0f | %.1f / %.1f |\n", heap_in_use / n,
               heap_system / n, heap_in_use / 1048576.0, heap_system / 1048576.0);
  std::fprintf(stderr, "| RSS growth (after malloc_trim) | %.0f (%.0f) | %.1f (%.1f) |\n", growth / n,
               static_cast<double>(rss_trimmed - rss0) * 1024.0 / n, growth / 1048576.0,
               static_cast<double>(rss_trimmed - rss0) / 1024.0);
  return 0;
}
