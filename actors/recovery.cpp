#include "actors/recovery.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "actors/graph_prefetch.hpp"
#include "actors/heap_steps.hpp"
#include "common/defaults.hpp"
#include "index/log_apply.hpp"
#include "storage/wal_store.hpp"

namespace ferro {

namespace {

std::size_t dimension_of(const wal_store::recovered_namespace& r) {
  if (r.dimension)
    return r.dimension;
  for (auto& rec : r.tail)
    if (rec.op == log_op::insert && !rec.entry.embedding.empty())
      return rec.entry.embedding.size();
  return 0;
}

std::shared_ptr<namespace_index> load_snapshot(wal_store::recovered_namespace& r, std::size_t dim,
                                               const hnsw_params& params, graph_prefetch& graphs,
                                               restore_timings& timings) {
  if (r.graph_file) {
    // restore builds the slots and most tables before it asks for the graph,
    // so that work overlaps the graph thread's load. It only reads the
    // entries, so they are still whole for the rebuild below if the graph
    // does not fit them.
    auto take = [&] { return graphs.take(*r.graph_file); };
    restore_timings t;
    auto restored = namespace_index::restore(dim, params, take, r.snapshot_entries, &t);
    timings.before_graph += t.before_graph;
    timings.graph_wait += t.graph_wait;
    timings.after_graph += t.after_graph;
    if (restored) {
      r.snapshot_entries.clear(); // unmaps the entries file
      return std::shared_ptr<namespace_index>(std::move(restored.value()));
    }
    spdlog::warn("namespace {}: snapshot graph unusable ({}); rebuilding from its entries",
                 display_name(r.ns), restored.err().message);
  }
  if (!r.snapshot_entries.empty()) {
    auto entries = r.snapshot_entries.copy_all();
    r.snapshot_entries.clear();
    return std::shared_ptr<namespace_index>(namespace_index::rebuild(dim, params, std::move(entries)));
  }
  return std::make_shared<namespace_index>(dim, params);
}

/// Applies r's log tail to `index` (inserts, removals) and `feedback` (the
/// quality model) through apply_log, the same code live writes and
/// replicas use. Every insert waits in the index's backlog, searchable but
/// not yet in the graph: the namespace actor links them while the node
/// serves. Inserting them here held a 1M node back for 8.3 s after kill -9
/// (6,860 graph inserts beyond the old 64 MiB backlog cap; a tail of a
/// quarter of the namespace, which the snapshot policy allows, would have
/// taken minutes). A long backlog makes lookups slower until it is linked
/// (one dot product per backlog entry), not wrong.
apply_outcome replay_tail(wal_store::recovered_namespace& r, namespace_index& index, std::size_t threads,
                          node_metrics& metrics, quality::feedback_counts& feedback) {
  apply_options options;
  options.threads = threads;
  options.graph_inserts = 0;
  auto outcome = apply_log(index, r.tail, options, &feedback);
  for (std::size_t i = 0; i < r.tail.size(); ++i) {
    if (outcome.results[i])
      continue;
    spdlog::error("recovery: namespace {}: record {} not applied: {}", display_name(r.ns), r.tail[i].ns_seq,
                  outcome.results[i].err().message);
    metrics.recovery_corrupt_records_total.fetch_add(1, std::memory_order_relaxed);
  }
  return outcome;
}

} // namespace

result<std::vector<namespace_start>> recover_namespaces(wal_store& store, const hnsw_params& params,
                                                        node_metrics& metrics, std::size_t threads) {
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
  };
  auto started = clock::now();
  heap_steps steps(defaults::recovery_heap_step_bytes);
  // The graphs load on a second thread while this one reads the entries
  // files and the log; restore waits for both.
  graph_prefetch graphs(store.snapshot_graphs(), params);
  // A store behind a fault seam (the simulator's disks) also checks each
  // graph through it: the prefetch reads the real file, whose bytes the
  // seam may be pretending are damaged.
  auto report = store.recover(store.injects_faults());
  if (!report)
    return report.err();
  auto read_secs = seconds_since(started);
  for (auto& m : report->messages)
    spdlog::error("recovery: {}", m);
  metrics.recovery_corrupt_records_total.fetch_add(report->corrupt_records, std::memory_order_relaxed);
  std::vector<namespace_start> out;
  std::uint64_t replayed = 0, backlog = 0;
  double load_secs = 0, replay_secs = 0;
  restore_timings restores;
  for (auto& r : report->namespaces) {
    auto dim = dimension_of(r);
    if (dim == 0)
      continue; // nothing was ever inserted
    auto loading = clock::now();
    auto index = load_snapshot(r, dim, params, graphs, restores);
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
    auto counts = replay_tail(r, *index, threads, metrics, feedback);
    replay_secs += seconds_since(replaying);
    // Every removal counts as replayed, whether or not its entry was still
    // there (a snapshot taken after it may already lack the entry).
    replayed += counts.inserts + counts.feedback;
    for (const auto& rec : r.tail)
      replayed += rec.op == log_op::remove ? 1 : 0;
    backlog += index->backlog_size();
    // Resume after every sequence number the store has seen (void or
    // withheld records included), so the next snapshot drops them.
    auto applied = std::max({r.snapshot_ns_seq, counts.last_seq, r.last_ns_seq});
    namespace_start start{r.ns, std::move(index), applied, counts.inserts};
    start.feedback = std::move(feedback);
    // The epoch of the newest record is what a failover ranks copies by:
    // the snapshot's (format note F4; 0 before it), then the tail's.
    start.last_epoch = r.snapshot_epoch;
    for (const auto& rec : r.tail)
      start.last_epoch = std::max(start.last_epoch, rec.epoch);
    // A rebuild from an image that a crash interrupted: the reset dropped
    // the snapshot and no record of the image has an epoch yet (only its
    // last does). Or a snapshot that was taken mid-rebuild, or lost.
    bool epoch_in_tail =
        std::any_of(r.tail.begin(), r.tail.end(), [](const auto& rec) { return rec.epoch > 0; });
    start.lineage_from = r.snapshot_lineage_from;
    start.partial =
        r.snapshot_lost || !r.snapshot_whole || (r.snapshot_ns_seq == 0 && !r.tail.empty() && !epoch_in_tail);
    // A void placeholder (a batch whose fsync failed) may stand where the
    // primary's record belongs: the lineage of this copy is unknown.
    std::uint64_t newest_replayed = 0;
    for (const auto& rec : r.tail) {
      if (rec.op == log_op::void_)
        start.last_epoch = 0;
      newest_replayed = std::max(newest_replayed, rec.ns_seq);
    }
    if (r.last_ns_seq > std::max(newest_replayed, r.snapshot_ns_seq))
      start.last_epoch = 0; // sequence numbers past the last record: burnt or withheld
    // A log or snapshot that failed its checks (bytes the disk returned
    // bad, records missing) lost what it held: what is left is neither the
    // whole copy nor a point of any primary's log. Partial, so that no
    // election counts it as a holder of the writes it lost; of unknown
    // lineage (epoch 0), so that a primary rebuilds it by the image. With
    // its tail's epoch, a catch-up would find it equal to its primary at its
    // last record and take it in sync without the entries it lost, and its
    // next record would make it "whole" again.
    if (r.damaged || r.snapshot_lost) {
      start.partial = true;
      start.last_epoch = 0;
    }
    out.push_back(std::move(start));
  }
  metrics.recovery_replayed_records_total.fetch_add(replayed, std::memory_order_relaxed);
  spdlog::info("recovery: {} namespaces, {} log records replayed, {} corrupt, {:.3f} s (reading the store "
               "{:.3f} s, loading snapshots {:.3f} s, replaying the log {:.3f} s); {} entries wait in "
               "backlogs for their graph nodes; restore: {:.3f} s before the graph, {:.3f} s waiting for "
               "it, {:.3f} s after",
               out.size(), replayed, report->corrupt_records, seconds_since(started), read_secs, load_secs,
               replay_secs, backlog, restores.before_graph, restores.graph_wait, restores.after_graph);
  return out;
}

} // namespace ferro
