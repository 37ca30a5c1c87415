#include "actors/recovery.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "storage/wal_store.hpp"

namespace ferro {

namespace {

std::size_t dimension_of(const wal_store::recovered_namespace& r) {
  if (r.dimension)
    return r.dimension;
  for (auto& rec : r.tail)
    if (rec.op == wal_op::insert && !rec.entry.embedding.empty())
      return rec.entry.embedding.size();
  return 0;
}

std::shared_ptr<namespace_index> load_snapshot(wal_store::recovered_namespace& r, std::size_t dim,
                                               const hnsw_params& params) {
  if (r.graph_file) {
    auto restored = namespace_index::restore(dim, params, *r.graph_file, r.snapshot_entries);
    if (restored)
      return std::shared_ptr<namespace_index>(std::move(restored.value()));
    spdlog::warn("namespace {}: snapshot graph unusable ({}); rebuilding from its entries",
                 display_name(r.ns), restored.err().message);
  }
  if (!r.snapshot_entries.empty())
    return std::shared_ptr<namespace_index>(
        namespace_index::rebuild(dim, params, std::move(r.snapshot_entries)));
  return std::make_shared<namespace_index>(dim, params);
}

} // namespace

result<std::vector<namespace_start>> recover_namespaces(wal_store& store, const hnsw_params& params,
                                                        node_metrics& metrics) {
  auto started = std::chrono::steady_clock::now();
  auto report = store.recover();
  if (!report)
    return report.err();
  for (auto& m : report->messages)
    spdlog::error("recovery: {}", m);
  metrics.recovery_corrupt_records_total.fetch_add(report->corrupt_records, std::memory_order_relaxed);
  std::vector<namespace_start> out;
  std::uint64_t replayed = 0;
  for (auto& r : report->namespaces) {
    auto dim = dimension_of(r);
    if (dim == 0)
      continue; // nothing was ever inserted
    auto index = load_snapshot(r, dim, params);
    std::uint64_t applied = r.snapshot_ns_seq;
    for (auto& rec : r.tail) {
      applied = std::max(applied, rec.ns_seq);
      if (rec.op == wal_op::insert) {
        if (rec.entry.embedding.size() != dim) {
          spdlog::error("recovery: namespace {}: record {} has {} dimensions, expected {}; skipped",
                        display_name(r.ns), rec.ns_seq, rec.entry.embedding.size(), dim);
          metrics.recovery_corrupt_records_total.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (auto applied = index->upsert(std::move(rec.entry)); !applied) {
          spdlog::error("recovery: namespace {}: record {} not applied: {}", display_name(r.ns), rec.ns_seq,
                        applied.err().message);
          metrics.recovery_corrupt_records_total.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
      } else {
        index->remove(rec.uuid);
      }
      ++replayed;
    }
    // Resume after every sequence number the store has seen (void or
    // withheld records included), so the next snapshot drops them.
    applied = std::max(applied, r.last_ns_seq);
    out.push_back(namespace_start{r.ns, std::move(index), applied});
  }
  metrics.recovery_replayed_records_total.fetch_add(replayed, std::memory_order_relaxed);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("recovery: {} namespaces, {} log records replayed, {} corrupt, {:.3f} s", out.size(), replayed,
               report->corrupt_records, secs);
  return out;
}

} // namespace ferro
