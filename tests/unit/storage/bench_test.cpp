#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>

#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;

namespace {

// Append throughput: batches of 256 inserts of 384-dim entries with a
// 512-byte response, one namespace per 16 records. Not run by default:
// `unit_storage_tests "[.bench]"`.
void run_append_bench(sync_mode mode, const char* label) {
  temp_dir tmp;
  auto opts = options_for(tmp.path());
  opts.sync = mode;
  opts.map_size_bytes = std::size_t{1} << 30;
  auto store = open_store(opts);
  constexpr int batches = 200;
  constexpr int batch_size = 256;
  const std::string response(512, 'r');
  std::vector<std::vector<log_record>> prepared(batches);
  for (int b = 0; b < batches; ++b)
    for (int i = 0; i < batch_size; ++i) {
      namespace_key ns{"bench::384", numbered("tenant-", i % 16), ""};
      prepared[b].push_back(insert_of(ns, numbered("u", b * batch_size + i), 384, 0.5f, response));
    }
  auto before = store->stats();
  auto t0 = std::chrono::steady_clock::now();
  for (auto& batch : prepared)
    REQUIRE(store->append(batch).ok());
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto syncs = store->stats().syncs - before.syncs;
  // In ordered mode LMDB also fdatasyncs the data pages inside each commit.
  auto fsyncs = mode == sync_mode::ordered ? syncs * 2 : syncs;
  std::printf("%-8s %d batches x %d records (384-dim): %.0f records/s, %.0f batches/s, "
              "%.0f fsyncs/s, %.2f ms/batch\n",
              label, batches, batch_size, batches * batch_size / secs, batches / secs,
              static_cast<double>(fsyncs) / secs, 1000.0 * secs / batches);
}

} // namespace

TEST_CASE("append throughput of 256-record batches", "[.bench]") {
  run_append_bench(sync_mode::ordered, "ordered");
  run_append_bench(sync_mode::single, "single");
}
