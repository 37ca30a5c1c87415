// dump_synthetic: writes the seeded synthetic data set of bench/synthetic_data.hpp
// to flat files, so the Python side of the comparison (GPTCache, Redis, the
// FerroCache Python client) uses exactly the vectors that ferrocache-loadgen
// generates for the same parameters.
//
//   dump_synthetic OUT_DIR DIM ENTRIES QUERIES SEED RESPONSE_BYTES
//
// OUT_DIR/entries.f32     ENTRIES x DIM float32, row-major (entry i = loadgen's entry i)
// OUT_DIR/hit.f32         QUERIES x DIM: near-duplicate queries (loadgen query-hit j)
// OUT_DIR/hit_target.u32  QUERIES: the entry each hit query must return
// OUT_DIR/miss.f32        QUERIES x DIM: random directions (loadgen query-miss j)
// OUT_DIR/entries.tsv     ENTRIES lines "uuid<TAB>query_text<TAB>response"
//
// Built by bench/compare/run.sh with the system C++ compiler (header-only).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "synthetic_data.hpp"

using ferro::bench::synthetic_data;
using ferro::bench::synthetic_params;

namespace {

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

bool write_file(const std::string& path, const void* data, std::size_t bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f)
    return false;
  const bool ok = std::fwrite(data, 1, bytes, f) == bytes;
  return std::fclose(f) == 0 && ok;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s OUT_DIR DIM ENTRIES QUERIES SEED RESPONSE_BYTES\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  synthetic_params p;
  p.dim = std::strtoull(argv[2], nullptr, 10);
  p.entries = std::strtoull(argv[3], nullptr, 10);
  const std::size_t queries = std::strtoull(argv[4], nullptr, 10);
  p.seed = std::strtoull(argv[5], nullptr, 10);
  const std::size_t response_bytes = std::strtoull(argv[6], nullptr, 10);
  if (p.dim == 0 || p.entries == 0 || queries == 0) {
    std::fprintf(stderr, "DIM, ENTRIES and QUERIES must be positive\n");
    return 2;
  }
  const synthetic_data data(p);

  std::vector<float> entries(p.entries * p.dim);
  std::vector<std::string> lines(p.entries);
  parallel_for(p.entries, [&](std::size_t i) {
    data.entry_vector(i, &entries[i * p.dim]);
    lines[i] = synthetic_data::entry_uuid(i) + "\t" + data.entry_query_text(i) + "\t" +
               synthetic_data::entry_response(i, response_bytes) + "\n";
  });
  std::vector<float> hit(queries * p.dim), miss(queries * p.dim);
  std::vector<std::uint32_t> target(queries);
  parallel_for(queries, [&](std::size_t j) {
    auto q = data.make_hit_query(j);
    target[j] = static_cast<std::uint32_t>(q.target);
    std::copy(q.vector.begin(), q.vector.end(), hit.begin() + static_cast<std::ptrdiff_t>(j * p.dim));
    auto m = data.make_miss_query(j);
    std::copy(m.begin(), m.end(), miss.begin() + static_cast<std::ptrdiff_t>(j * p.dim));
  });

  std::string tsv;
  for (auto& l : lines)
    tsv += l;
  const bool ok = write_file(out + "/entries.f32", entries.data(), entries.size() * sizeof(float)) &&
                  write_file(out + "/hit.f32", hit.data(), hit.size() * sizeof(float)) &&
                  write_file(out + "/hit_target.u32", target.data(), target.size() * sizeof(std::uint32_t)) &&
                  write_file(out + "/miss.f32", miss.data(), miss.size() * sizeof(float)) &&
                  write_file(out + "/entries.tsv", tsv.data(), tsv.size());
  if (!ok) {
    std::fprintf(stderr, "dump_synthetic: cannot write to %s\n", out.c_str());
    return 1;
  }
  return 0;
}
