#include "actors/storage_actor.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"

namespace ferro {

namespace {

using seq_promise = caf::typed_response_promise<std::vector<std::uint64_t>>;

struct pending_append {
  std::size_t count = 0;
  seq_promise promise;
};

struct storage_state {
  std::shared_ptr<wal_store> store;
  storage_actor_settings settings;
  std::vector<log_record> records; // everything waiting for the next commit
  std::vector<pending_append> waiting;
  bool flush_scheduled = false;
  static inline const char* name = "ferro.storage";
};

using storage_pointer = storage_actor::stateful_pointer<storage_state>;

// Commits every pending record in one transaction (one fsync), then answers
// each caller with the sequence numbers of its own records.
void flush(storage_pointer self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.records.empty())
    return;
  auto started = std::chrono::steady_clock::now();
  const auto bytes_before = st.store->appended_record_bytes();
  auto status = st.store->append(st.records);
  auto* metrics = st.settings.metrics;
  if (metrics) {
    metrics->wal_commit_duration.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  if (!status) {
    if (metrics)
      metrics->wal_write_errors_total.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("write-ahead log: batch of {} records failed: {}", st.records.size(), status.err().message);
    auto err = to_caf_error(errc::unavailable, "write-ahead log failed: " + status.err().message);
    for (auto& w : st.waiting)
      w.promise.deliver(err);
  } else {
    if (metrics) {
      metrics->wal_batches_total.fetch_add(1, std::memory_order_relaxed);
      metrics->wal_records_total.fetch_add(st.records.size(), std::memory_order_relaxed);
      metrics->wal_record_bytes_total.fetch_add(st.store->appended_record_bytes() - bytes_before,
                                                std::memory_order_relaxed);
    }
    std::size_t pos = 0;
    for (auto& w : st.waiting) {
      std::vector<std::uint64_t> seqs;
      seqs.reserve(w.count);
      for (std::size_t i = 0; i < w.count; ++i)
        seqs.push_back(st.records[pos + i].ns_seq);
      pos += w.count;
      w.promise.deliver(std::move(seqs));
    }
  }
  st.records.clear();
  st.waiting.clear();
}

storage_actor::behavior_type storage_behavior(storage_pointer self, std::shared_ptr<wal_store> store,
                                              storage_actor_settings settings) {
  self->state.store = std::move(store);
  self->state.settings = settings;
  return {
      [=](append_atom, log_batch& batch) -> caf::result<std::vector<std::uint64_t>> {
        auto& st = self->state;
        auto promise = self->make_response_promise<std::vector<std::uint64_t>>();
        st.waiting.push_back(pending_append{batch.records.size(), promise});
        for (auto& r : batch.records)
          st.records.push_back(std::move(r));
        if (st.records.size() >= st.settings.batch_size) {
          flush(self);
        } else if (!st.flush_scheduled) {
          // Group commit: wait up to the batch timeout for more records. A
          // zero timeout still batches whatever is already in the mailbox.
          st.flush_scheduled = true;
          if (st.settings.batch_timeout.count() == 0)
            self->send(self, flush_atom::value);
          else
            self->delayed_send(self, st.settings.batch_timeout, flush_atom::value);
        }
        return promise;
      },
      [=](flush_atom) { flush(self); },
      [=](snap_begin_atom, const namespace_key& ns) -> caf::result<std::string> {
        auto dir = self->state.store->begin_snapshot(ns);
        if (!dir)
          return to_caf_error(dir.err());
        return dir->string();
      },
      [=](snap_publish_atom, const prepared_snapshot& snap) -> caf::result<std::uint64_t> {
        // Only the rename and one LMDB transaction: the files were written
        // and fsynced by the snapshot writer, off this thread. Pending
        // appends go first so the log stays ordered around the snapshot.
        flush(self);
        auto st = self->state.store->publish_snapshot(snap);
        if (!st)
          return to_caf_error(st.err());
        if (auto* metrics = self->state.settings.metrics)
          metrics->snapshot_bytes_total.fetch_add(snap.entries.bytes + (snap.graph ? snap.graph->bytes : 0),
                                                  std::memory_order_relaxed);
        return snap.entry_count;
      },
      [=](snap_abandon_atom, const std::string& tmp_dir) {
        if (auto st = self->state.store->abandon_snapshot(tmp_dir); !st)
          spdlog::warn("snapshot temp dir {} not removed: {}", tmp_dir, st.err().message);
      },
      [=](wal_seq_atom) -> std::uint64_t {
        flush(self);
        return self->state.store->wal_sequence();
      },
      [=](last_seq_atom, const namespace_key& ns) -> std::uint64_t {
        flush(self);
        return self->state.store->last_ns_seq(ns);
      },
      [=](read_after_atom, const namespace_key& ns, std::uint64_t after,
          std::uint64_t max) -> caf::result<log_batch> {
        // Pending appends first: a reader must see everything acknowledged.
        flush(self);
        auto records = self->state.store->read_after(ns, after, max);
        if (!records)
          return to_caf_error(records.err());
        return log_batch{std::move(records.value())};
      },
      [=](drop_atom, const namespace_key& ns) -> caf::result<bool> {
        flush(self);
        if (auto st = self->state.store->drop_namespace(ns); !st)
          return to_caf_error(st.err());
        return true;
      },
  };
}

} // namespace

storage_actor spawn_storage_actor(caf::actor_system& sys, std::shared_ptr<wal_store> store,
                                  storage_actor_settings settings) {
  if (settings.detached)
    return sys.spawn<caf::detached>(storage_behavior, std::move(store), settings);
  return sys.spawn(storage_behavior, std::move(store), settings);
}

} // namespace ferro
