#include "actors/recovery.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "common/defaults.hpp"
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

/// What replaying one namespace's log tail did.
struct replay_counts {
  std::uint64_t applied = 0; ///< records that took effect
  std::uint64_t inserts = 0; ///< of them, inserts
};

/// Applies r's log tail to `index` in log order. The newest inserts (up to
/// the backlog budget) wait in the index's backlog, searchable but not yet
/// in the graph: the namespace actor links them while the node serves.
/// Older ones, in a tail too long for the budget, go into the graph now, in
/// runs spread over `threads` threads. A removal ends a run, so every record
/// takes effect in log order either way.
replay_counts replay_tail(wal_store::recovered_namespace& r, namespace_index& index, std::size_t dim,
                          std::size_t threads, node_metrics& metrics, quality::feedback_counts& feedback) {
  replay_counts counts;
  auto corrupt = [&] { metrics.recovery_corrupt_records_total.fetch_add(1, std::memory_order_relaxed); };
  std::size_t tail_inserts = 0;
  for (const auto& rec : r.tail)
    tail_inserts += rec.op == wal_op::insert ? 1 : 0;
  auto backlog_cap = defaults::recovery_backlog_bytes / (dim * sizeof(float));
  std::size_t index_now = tail_inserts > backlog_cap ? tail_inserts - backlog_cap : 0;
  std::vector<cache_entry> run;
  std::vector<std::uint64_t> run_seqs;
  auto flush_run = [&] {
    if (run.empty())
      return;
    auto results =
        index_now > 0 ? index.upsert_many(std::move(run), threads) : index.upsert_unindexed(std::move(run));
    index_now -= std::min(index_now, results.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i]) {
        ++counts.applied;
        ++counts.inserts;
        continue;
      }
      spdlog::error("recovery: namespace {}: record {} not applied: {}", display_name(r.ns), run_seqs[i],
                    results[i].err().message);
      corrupt();
    }
    run.clear();
    run_seqs.clear();
  };
  for (auto& rec : r.tail) {
    if (rec.op == wal_op::feedback) {
      // Feedback changes only the quality model, never the index: no need
      // to end the run of inserts.
      if (rec.feedback.feature_class < quality::agreement_classes) {
        feedback.add(rec.feedback.similarity,
                     static_cast<quality::agreement_class>(rec.feedback.feature_class), rec.feedback.correct);
        ++counts.applied;
      } else {
        spdlog::error("recovery: namespace {}: feedback record {} has an unknown class {}; skipped",
                      display_name(r.ns), rec.ns_seq, unsigned{rec.feedback.feature_class});
        corrupt();
      }
      continue;
    }
    if (rec.op != wal_op::insert) {
      flush_run();
      index.remove(rec.uuid);
      ++counts.applied;
      continue;
    }
    if (rec.entry.embedding.size() != dim) {
      spdlog::error("recovery: namespace {}: record {} has {} dimensions, expected {}; skipped",
                    display_name(r.ns), rec.ns_seq, rec.entry.embedding.size(), dim);
      corrupt();
      continue;
    }
    run.push_back(std::move(rec.entry));
    run_seqs.push_back(rec.ns_seq);
    if (index_now > 0 && run.size() == index_now)
      flush_run(); // the rest goes to the backlog
  }
  flush_run();
  return counts;
}

} // namespace

result<std::vector<namespace_start>> recover_namespaces(wal_store& store, const hnsw_params& params,
                                                        node_metrics& metrics, std::size_t threads) {
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  };
  auto started = clock::now();
  auto report = store.recover();
  if (!report)
    return report.err();
  auto read_secs = seconds_since(started);
  for (auto& m : report->messages)
    spdlog::error("recovery: {}", m);
  metrics.recovery_corrupt_records_total.fetch_add(report->corrupt_records, std::memory_order_relaxed);
  std::vector<namespace_start> out;
  std::uint64_t replayed = 0, backlog = 0;
  double load_secs = 0, replay_secs = 0;
  for (auto& r : report->namespaces) {
    auto dim = dimension_of(r);
    if (dim == 0)
      continue; // nothing was ever inserted
    auto loading = clock::now();
    auto index = load_snapshot(r, dim, params);
    load_secs += seconds_since(loading);
    auto replaying = clock::now();
    quality::feedback_counts feedback;
    if (!r.quality_state.empty()) {
      auto restored = quality::feedback_counts::deserialize(r.quality_state);
      if (restored)
        feedback = std::move(restored.value());
      else // the manifest verified, so only a bug gets here
        spdlog::error("recovery: namespace {}: {}; feedback of the snapshot lost", display_name(r.ns),
                      restored.err().message);
    }
    auto counts = replay_tail(r, *index, dim, threads, metrics, feedback);
    replay_secs += seconds_since(replaying);
    replayed += counts.applied;
    backlog += index->backlog_size();
    // Resume after every sequence number the store has seen (void or
    // withheld records included), so the next snapshot drops them.
    std::uint64_t applied = r.snapshot_ns_seq;
    for (const auto& rec : r.tail)
      applied = std::max(applied, rec.ns_seq);
    applied = std::max(applied, r.last_ns_seq);
    out.push_back(namespace_start{r.ns, std::move(index), applied, counts.inserts, std::move(feedback)});
  }
  metrics.recovery_replayed_records_total.fetch_add(replayed, std::memory_order_relaxed);
  spdlog::info("recovery: {} namespaces, {} log records replayed, {} corrupt, {:.3f} s (reading the store "
               "{:.3f} s, loading snapshots {:.3f} s, replaying the log {:.3f} s); {} entries wait in "
               "backlogs for their graph nodes",
               out.size(), replayed, report->corrupt_records, seconds_since(started), read_secs, load_secs,
               replay_secs, backlog);
  return out;
}

} // namespace ferro
