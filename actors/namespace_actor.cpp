#include "actors/namespace_actor.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <iterator>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "actors/namespace_directory.hpp"
#include "index/log_apply.hpp"
#include "common/planted_bug.hpp"
#include "storage/replica_stream.hpp"
#include "storage/snapshot_policy.hpp"
#include "common/uuid.hpp"
#include "quality/text_features.hpp"

namespace ferro {

namespace {

/// Durable records waiting for the index, with what to do once they are
/// applied: one insert request's record, or one removal batch's records.
struct pending_apply {
  std::vector<log_record> records;
  std::function<void(apply_outcome&, std::size_t first)> done; ///< outcome of records[0] at `first`
  /// Set for a primary's removals: they wait (and everything queued behind
  /// them) until the replicas in sync hold them too (see log_write).
  std::shared_ptr<const bool> committed;
};

struct namespace_state {
  namespace_key key;
  namespace_role role = namespace_role::standalone;
  namespace_settings settings;
  storage_actor storage;
  snapshot_writer_actor writer;
  namespace_directory* directory = nullptr;
  std::shared_ptr<namespace_index> index;
  /// Fixed by the first accepted insert, before it is durable, so that a
  /// second insert of another dimension is refused even while the first is
  /// still on its way to the log.
  std::size_t dimension = 0;
  std::uint64_t applied_ns_seq = 0;
  /// Highest ns_seq sent to the log (durable or on its way); a replica
  /// takes its primary's records only in this order.
  std::uint64_t logged_ns_seq = 0;
  /// Highest ns_seq the log has made durable here; a replica acknowledges
  /// (and reports) only up to it.
  std::uint64_t durable_ns_seq = 0;
  /// A primary numbers its writes itself, and ships them while its own log
  /// writes them, only while it knows where its stream stands in the store:
  /// not for a new namespace (the store picks its first number), and not
  /// after a failed append (the store may have burnt its numbers).
  bool stream_known = false;
  /// Appends numbered by the store still on their way (see log_write).
  std::size_t store_numbered = 0;
  /// Records waiting to be shipped as one batch (see replicate), with what
  /// each write does once the replicas answer.
  std::vector<log_record> to_ship;
  std::vector<std::function<void(status)>> ship_waiters;
  /// Retransmissions waiting for records still on their way to the log.
  std::vector<std::pair<std::uint64_t, caf::typed_response_promise<ns_position>>> durable_waiters;
  /// A replica whose log can no longer follow its primary's stream (a
  /// failed append, a recovered log of unknown lineage): it refuses records
  /// until a reset rebuilds it from the primary's image.
  bool needs_reset = false;
  /// Reset for a rebuild and not yet holding its primary's image whole (see
  /// ns_position::partial): from the reset until a record with an epoch
  /// (the image's last carries one) is durable here.
  bool partial = false;
  /// The first sequence number of this copy's own lineage, when it took the
  /// lead with a log of unknown lineage (see adopt_epoch); 0: none. Its
  /// first record from there on makes its lineage known again.
  std::uint64_t lineage_from = 0;
  /// Cluster: the highest epoch this copy accepted, and the epoch of its
  /// newest logged record. A primary stamps its records with `epoch`.
  std::uint64_t epoch = 0;
  std::uint64_t last_epoch = 0;
  std::uint64_t applied_epoch = 0; ///< epoch of the newest applied record
  bool expiry_scheduled = false;
  std::uint64_t inserts_since_snapshot = 0;
  std::size_t inserts_in_flight = 0;
  bool eviction_in_flight = false;
  /// Durable mutations waiting to be applied, in log order (see apply_next).
  std::deque<pending_apply> apply_queue;
  bool apply_scheduled = false;
  bool snapshot_in_flight = false;
  /// Snapshots asked for while one was in flight; one more snapshot, taken
  /// when it ends, answers them all (it sees everything they could want).
  std::vector<std::function<void(result<std::uint64_t>)>> snapshot_waiters;
  std::unique_ptr<uuid_generator> ids;
  /// When linking the recovered backlog began (for the log line at its end).
  std::chrono::steady_clock::time_point backlog_started;
  std::size_t backlog = 0; ///< as last reported to the backlog gauge
  /// Applied feedback (docs/quality.md) and the read view of its fit that
  /// the I/O threads decide max_error_rate queries with.
  quality::feedback_counts feedback;
  std::shared_ptr<quality::model_view> quality_view;
  static inline const char* name = "ferro.namespace";
};

using ns_pointer = namespace_actor::stateful_pointer<namespace_state>;

void count(node_metrics* m, std::atomic<std::uint64_t> node_metrics::*field, std::uint64_t n = 1) {
  if (m && n)
    (m->*field).fetch_add(n, std::memory_order_relaxed);
}

std::atomic<std::uint64_t> node_metrics::*counter_for(removal_reason r) {
  switch (r) {
    case removal_reason::deleted:
      return &node_metrics::deletions_total;
    case removal_reason::invalidated:
      return &node_metrics::invalidations_total;
    case removal_reason::expired:
      return &node_metrics::expirations_total;
    case removal_reason::evicted:
      return &node_metrics::evictions_total;
  }
  return &node_metrics::deletions_total;
}

// Refits the namespace's quality model from its counts and publishes it (and
// the counts, for a model_id pool when feedback is pooled).
void publish_model(namespace_state& st) {
  st.quality_view->publish(st.feedback.fit(st.settings.quality));
  st.directory->publish_feedback(st.key, st.feedback, st.settings.quality);
}

void ensure_index(ns_pointer self) {
  auto& st = self->state;
  if (st.index)
    return;
  st.index = std::make_shared<namespace_index>(st.dimension, st.settings.hnsw);
  st.directory->publish_index(st.key, st.index);
}

void enforce_cap(ns_pointer self);
void maybe_auto_compact(ns_pointer self);

/// A client's answer waits for two things: its records applied here, and
/// (in primary role) the replicas in sync holding them. Whichever comes
/// second delivers.
template <class T>
struct reply_gate {
  std::function<void(result<T>)> deliver;
  bool applied = false;
  bool replicated = false;
  T value{};
  std::optional<error> failure; ///< the first error of either side

  void try_finish() {
    if (!applied || !replicated)
      return;
    if (failure)
      deliver(*failure);
    else
      deliver(std::move(value));
  }
  void set_value(T v) {
    value = std::move(v);
    applied = true;
    try_finish();
  }
  void fail_local(const error& e) {
    if (!failure)
      failure = e;
    applied = true;
    try_finish();
  }
  void set_replicated(const status& s) {
    if (!s && !failure)
      failure = s.err();
    replicated = true;
    try_finish();
  }
};

void note_logged(namespace_state& st, const std::vector<log_record>& records) {
  for (const auto& r : records) {
    st.logged_ns_seq = std::max(st.logged_ns_seq, r.ns_seq);
    st.durable_ns_seq = std::max(st.durable_ns_seq, r.ns_seq);
    st.last_epoch = std::max(st.last_epoch, r.epoch);
  }
}

// Ships records to the replicas when this copy is a cluster's primary;
// calls `done` at once otherwise. Records of writes that arrive together
// (the requests already in the mailbox) leave as one batch: one call per
// replica, one append there, instead of one each (ship_batch).
void replicate(ns_pointer self, const std::vector<log_record>& records, std::function<void(status)> done) {
  auto& st = self->state;
  if (!st.settings.replicator || st.role == namespace_role::standalone) {
    done({}); // a single node: nothing to ship
    return;
  }
  if (st.role != namespace_role::primary) {
    // Stepped down while the records were on their way to the log: they
    // are not the cluster's (a newer leader may never have them).
    done(error{errc::fenced,
               "namespace '" + display_name(st.key) + "' lost its lead during the write; retry"});
    return;
  }
  if (planted(planted_bug::ack_before_replication)) {
    self->request(st.settings.replicator, caf::infinite, ship_atom::value, log_batch{records})
        .then([](bool) {}, [](caf::error&) {});
    done({});
    return;
  }
  if (st.to_ship.empty())
    self->send(self, ship_now_atom::value);
  st.to_ship.insert(st.to_ship.end(), records.begin(), records.end());
  st.ship_waiters.push_back(std::move(done));
}

void ship_batch(ns_pointer self) {
  auto& st = self->state;
  auto records = std::exchange(st.to_ship, {});
  auto waiters = std::exchange(st.ship_waiters, {});
  if (records.empty())
    return;
  auto finish = [waiters = std::move(waiters)](const status& s) {
    for (const auto& w : waiters)
      w(s);
  };
  if (st.role != namespace_role::primary) {
    finish(error{errc::fenced,
                 "namespace '" + display_name(st.key) + "' lost its lead during the write; retry"});
    return;
  }
  self->request(st.settings.replicator, caf::infinite, ship_atom::value, log_batch{std::move(records)})
      .then([finish](bool) { finish({}); }, [finish](caf::error& err) { finish(from_caf_error(err)); });
}

ns_position position_of(const namespace_state& st) {
  ns_position p;
  p.exists = st.index != nullptr || st.logged_ns_seq > 0 || st.applied_ns_seq > 0;
  p.last_seq = std::max(st.durable_ns_seq, st.applied_ns_seq);
  // Epoch 0 ("unknown") makes a primary's catch-up rebuild this copy.
  p.last_epoch = st.needs_reset ? 0 : st.last_epoch;
  p.epoch = st.epoch;
  p.entries = st.index ? st.index->size() : 0;
  p.partial = st.partial;
  p.lineage_from = st.lineage_from;
  return p;
}

// Durable mutations are applied a little at a time, one step per message,
// with the next step queued behind whatever arrived meanwhile: new requests
// reach the log while the index works, so the log's fsync and the HNSW
// inserts overlap instead of taking turns (a convoy that left a core idle
// under concurrent inserts). The queue keeps log order, so the index sees
// mutations in ns_seq order.
void schedule_apply(ns_pointer self) {
  auto& st = self->state;
  if (!st.apply_scheduled && !st.apply_queue.empty()) {
    st.apply_scheduled = true;
    self->send(self, apply_atom::value);
  }
}

void enqueue_apply(ns_pointer self, pending_apply item) {
  self->state.apply_queue.push_back(std::move(item));
  schedule_apply(self);
}

// Applies the records of the queue's first few mutations in one apply_log
// call: a run of consecutive inserts goes into the graph as one
// upsert_many, spread over the namespace's insert threads (an HNSW insert is
// the most expensive thing a write does, and one thread would leave the
// other cores to the little work HTTP and the log need).
void apply_next(ns_pointer self) {
  auto& st = self->state;
  st.apply_scheduled = false;
  if (st.apply_queue.empty())
    return;
  std::vector<pending_apply> taken;
  std::vector<log_record> records;
  auto limit = std::max<std::size_t>(1, st.settings.apply_batch_inserts);
  auto ready = [](const pending_apply& p) { return !p.committed || *p.committed; };
  while (!st.apply_queue.empty() && ready(st.apply_queue.front()) &&
         (records.empty() || records.size() + st.apply_queue.front().records.size() <= limit)) {
    auto& next = st.apply_queue.front();
    std::move(next.records.begin(), next.records.end(), std::back_inserter(records));
    taken.push_back(std::move(next));
    st.apply_queue.pop_front();
  }
  if (!st.apply_queue.empty() && ready(st.apply_queue.front())) {
    st.apply_scheduled = true;
    self->send(self, apply_atom::value);
  }
  if (taken.empty())
    return; // the front waits for its replicas; their answer schedules the next step
  std::size_t inserts = 0;
  for (const auto& rec : records)
    inserts += rec.op == log_op::insert ? 1 : 0;
  // Counted until applied: the dimension must stay fixed while a durable
  // insert waits in the apply queue.
  st.inserts_in_flight -= inserts;
  if (inserts > 0)
    ensure_index(self);
  apply_options options;
  options.threads = st.settings.insert_threads;
  auto outcome = st.index ? apply_log(*st.index, records, options, &st.feedback) : apply_outcome{};
  if (!st.index) {
    // Removals in a namespace that never had an entry: nothing to apply
    // (feedback names an entry, so it is only logged once the index exists).
    // An image of a namespace whose entries are all gone may still carry
    // its feedback table.
    outcome.results.resize(records.size());
    outcome.removed.resize(records.size(), false);
    for (std::size_t i = 0; i < records.size(); ++i) {
      outcome.last_seq = std::max(outcome.last_seq, records[i].ns_seq);
      if (records[i].op == log_op::feedback_table) {
        outcome.results[i] = apply_feedback_table(records[i], &st.feedback);
        outcome.feedback_tables += outcome.results[i] ? 1 : 0;
      }
    }
  }
  st.applied_ns_seq = std::max(st.applied_ns_seq, outcome.last_seq);
  for (const auto& rec : records)
    st.applied_epoch = std::max(st.applied_epoch, rec.epoch);
  st.inserts_since_snapshot += outcome.inserts;
  count(st.settings.metrics, &node_metrics::inserts_total, outcome.inserts);
  for (auto reason : {removal_reason::deleted, removal_reason::invalidated, removal_reason::expired,
                      removal_reason::evicted})
    count(st.settings.metrics, counter_for(reason), outcome.removals[static_cast<std::size_t>(reason) - 1]);
  if (outcome.feedback > 0 || outcome.feedback_tables > 0) {
    // One refit per applied batch, before the feedback requests are answered.
    publish_model(st);
    count(st.settings.metrics, &node_metrics::feedback_total, outcome.feedback);
    count(st.settings.metrics, &node_metrics::feedback_wrong_total, outcome.feedback_wrong);
  }
  std::size_t first = 0;
  for (auto& p : taken) {
    p.done(outcome, first);
    first += p.records.size();
  }
  if (inserts > 0) {
    enforce_cap(self);
    maybe_auto_compact(self);
  }
}

// After a failed append the store may have burnt sequence numbers (void
// records of a batch whose fsync failed): ask where the namespace's log
// ends, after every append sent before. Those numbers are durable, so the
// copy's position counts them: a catch-up that ships them to a replica
// would otherwise leave it ahead of this copy for good (5-node swarm seed
// 108). When nothing else is on its way to the log or the index, every
// record up to there is applied or void: the copy is at that point, and
// knows its stream again.
void learn_stream(ns_pointer self) {
  self->request(self->state.storage, caf::infinite, last_seq_atom::value, self->state.key)
      .then(
          [self](std::uint64_t last) {
            auto& st = self->state;
            st.durable_ns_seq = std::max(st.durable_ns_seq, last);
            if (st.store_numbered == 0 && st.apply_queue.empty() && st.inserts_in_flight == 0 &&
                st.logged_ns_seq <= st.applied_ns_seq && last > 0) {
              st.applied_ns_seq = std::max(st.applied_ns_seq, last);
              st.logged_ns_seq = std::max(st.logged_ns_seq, last);
              st.stream_known = true;
            }
          },
          [](caf::error&) {});
}

// A primary that led with a log of unknown lineage knows it again once its
// first record of its own lineage is durable (see adopt_epoch).
void took_lineage(namespace_state& st, const std::vector<log_record>& records) {
  if (!st.needs_reset || st.lineage_from == 0 || st.role != namespace_role::primary)
    return;
  for (const auto& r : records)
    if (r.ns_seq >= st.lineage_from && r.epoch == st.epoch && r.epoch > 0) {
      st.needs_reset = false;
      return;
    }
}

// A batch shipped before it was durable here did not reach this log: the
// replicas may hold records this copy never will, under sequence numbers
// of this epoch. So this copy stops taking writes at once, reports no
// epoch (needs_reset: the election prefers any copy that knows its
// lineage, and a catch-up from it rebuilds this one), and tells the
// cluster it no longer leads; the next leader starts a new epoch, so no
// number of this one is ever given to a second record.
void resign_after_log_failure(ns_pointer self, std::uint64_t first) {
  auto& st = self->state;
  st.logged_ns_seq = std::min(st.logged_ns_seq, first - 1);
  if (st.role != namespace_role::primary || planted(planted_bug::keep_lead_after_failed_append))
    return; // resigned already (or deposed meanwhile)
  spdlog::error("namespace {}: records from {} were shipped but not logged here; resigning epoch {}",
                display_name(st.key), first, st.epoch);
  st.needs_reset = true;
  st.role = namespace_role::replica;
  self->send(st.settings.replicator, resign_atom::value, st.key, st.epoch);
}

// A write's way to durability: its records are logged here and, in primary
// role, shipped to the replicas in sync; `gate` opens once both hold them,
// and `applied` runs once they are applied here. A primary that knows where
// its stream stands numbers the records itself and ships them while its own
// fsync runs, so a write waits for the slower of the two fsyncs rather than
// for both in turn. Otherwise (a single node, a new namespace, the first
// write after a failed append) the store numbers them and they are shipped
// once durable here. `not_logged` undoes what the caller reserved.
template <class T>
void log_write(ns_pointer self, std::vector<log_record> records, std::shared_ptr<reply_gate<T>> gate,
               std::function<void(apply_outcome&, std::size_t first)> applied,
               std::function<void(const error&)> not_logged = {}) {
  auto& st = self->state;
  const bool early = st.role == namespace_role::primary && st.settings.replicator && st.stream_known &&
                     st.store_numbered == 0 && st.logged_ns_seq > 0;
  // A removal is visible only once it is the cluster's: a read that found
  // an entry gone must not find it again because the removal died with
  // this copy before a replica had it (the simulator's read checker).
  std::shared_ptr<bool> committed;
  if (st.role == namespace_role::primary && st.settings.replicator &&
      std::any_of(records.begin(), records.end(), [](const log_record& r) { return r.op == log_op::remove; }))
    committed = std::make_shared<bool>(false);
  auto shipped = [self, gate, committed](const status& s) {
    gate->set_replicated(s);
    if (committed) {
      // Failed too (deposed, say): the log here holds the records, so the
      // index takes them, but this copy serves no reads as a leader now.
      *committed = true;
      schedule_apply(self);
    }
  };
  std::uint64_t first = 0;
  if (early) {
    for (auto& r : records) {
      r.ns_seq = ++st.logged_ns_seq;
      st.last_epoch = std::max(st.last_epoch, r.epoch);
    }
    first = records.front().ns_seq;
    replicate(self, records, shipped);
  } else {
    ++st.store_numbered;
  }
  // The storage actor gets a copy; this actor keeps the records to apply.
  self->request(st.storage, caf::infinite, append_atom::value, log_batch{records})
      .then(
          [=, records = std::move(records)](const std::vector<std::uint64_t>& seqs) mutable {
            auto& st = self->state;
            if (early) {
              for (const auto& r : records)
                st.durable_ns_seq = std::max(st.durable_ns_seq, r.ns_seq);
              took_lineage(st, records);
            } else {
              for (std::size_t i = 0; i < seqs.size() && i < records.size(); ++i)
                records[i].ns_seq = seqs[i];
              note_logged(st, records);
              took_lineage(st, records);
              if (--st.store_numbered == 0)
                st.stream_known = true;
              replicate(self, records, shipped);
            }
            pending_apply p;
            p.records = std::move(records);
            p.done = std::move(applied);
            p.committed = committed;
            enqueue_apply(self, std::move(p));
          },
          [=](caf::error& err) mutable {
            auto& st = self->state;
            st.stream_known = false;
            learn_stream(self);
            if (early) {
              resign_after_log_failure(self, first);
            } else {
              --st.store_numbered;
              gate->set_replicated({}); // nothing was shipped
            }
            auto e = from_caf_error(err);
            if (not_logged)
              not_logged(e);
            gate->fail_local(e);
          });
}

// Logs the removal of `uuids`, then drops them from memory: durable (in a
// cluster: on every copy in sync) before visible, so a removal that a read
// has seen can never be undone by a crash. `done` receives the uuids that
// were actually removed.
void remove_durably(ns_pointer self, std::vector<std::string> uuids, removal_reason reason,
                    std::function<void(result<std::vector<std::string>>)> done) {
  if (uuids.empty()) {
    done(std::vector<std::string>{});
    return;
  }
  if (planted(planted_bug::apply_removal_before_durable) && self->state.index)
    for (const auto& u : uuids)
      self->state.index->remove(u);
  std::vector<log_record> records;
  records.reserve(uuids.size());
  for (const auto& u : uuids) {
    log_record r;
    r.op = log_op::remove;
    r.ns = self->state.key;
    r.uuid = u;
    r.reason = reason;
    r.epoch = self->state.epoch;
    records.push_back(std::move(r));
  }
  auto gate = std::make_shared<reply_gate<std::vector<std::string>>>();
  gate->deliver = std::move(done);
  auto key = self->state.key;
  log_write(
      self, std::move(records), gate,
      [uuids = std::move(uuids), gate](apply_outcome& out, std::size_t first) {
        std::vector<std::string> removed;
        for (std::size_t i = 0; i < uuids.size(); ++i)
          if (out.removed[first + i])
            removed.push_back(uuids[i]);
        gate->set_value(std::move(removed));
      },
      [key](const error& e) {
        spdlog::warn("namespace {}: removal not logged: {}", display_name(key), e.message);
      });
}

// Keeps the namespace within its LRU cap; one eviction batch at a time.
void enforce_cap(ns_pointer self) {
  auto& st = self->state;
  if (!decides_writes(st.role) || !st.settings.max_entries || !st.index || st.eviction_in_flight)
    return;
  auto victims = st.index->lru_victims(*st.settings.max_entries);
  if (victims.empty())
    return;
  st.eviction_in_flight = true;
  remove_durably(self, std::move(victims), removal_reason::evicted, [=](const auto&) {
    self->state.eviction_in_flight = false;
    enforce_cap(self); // inserts may have landed meanwhile
  });
}

using snapshot_done = std::function<void(result<std::uint64_t>)>;

void snapshot(ns_pointer self, snapshot_done done);

// Ends the snapshot in flight; snapshots asked for meanwhile get a fresh one.
void snapshot_finished(ns_pointer self, const snapshot_done& done, result<std::uint64_t> r) {
  auto& st = self->state;
  st.snapshot_in_flight = false;
  done(std::move(r));
  if (st.snapshot_waiters.empty())
    return;
  snapshot(self, [self, waiters = std::exchange(st.snapshot_waiters, {})](result<std::uint64_t> r) {
    for (auto& w : waiters)
      w(r);
  });
}

// Three steps, and only the first two run here, both short: a temp dir from
// the storage actor, then an image of the index (a copy under the shared
// lock, with the covered sequence number taken in the same handler so both
// describe the same state). The snapshot writer writes and fsyncs the files
// on its own thread while inserts go on being applied; the storage
// actor then only publishes (rename, one LMDB transaction).
void snapshot(ns_pointer self, snapshot_done done) {
  auto& st = self->state;
  if (!st.index) {
    done(std::uint64_t{0});
    return;
  }
  if (st.snapshot_in_flight) {
    st.snapshot_waiters.push_back(std::move(done));
    return;
  }
  st.snapshot_in_flight = true;
  self->request(st.storage, caf::infinite, snap_begin_atom::value, st.key)
      .then(
          [=](const std::string& tmp) {
            auto& st = self->state;
            auto started = std::chrono::steady_clock::now();
            auto image = st.index->snapshot_image();
            // The only part of a snapshot this actor waits for: keep an eye on it.
            spdlog::debug(
                "namespace {}: snapshot image of {} entries taken in {:.1f} ms", display_name(st.key),
                image ? image->entries.size() : 0,
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                    .count());
            if (!image) {
              self->send(st.storage, snap_abandon_atom::value, tmp);
              snapshot_finished(self, done, image.err());
              return;
            }
            snapshot_job job{st.key, tmp, st.applied_ns_seq,
                             std::make_shared<namespace_image>(std::move(image.value())),
                             st.feedback.total() > 0 ? st.feedback.serialize() : std::string{},
                             // What position_of would report after a restart from it.
                             st.needs_reset ? 0 : st.applied_epoch, !st.partial, st.lineage_from};
            st.inserts_since_snapshot = 0;
            self->request(st.writer, caf::infinite, snap_write_atom::value, std::move(job))
                .then(
                    [=](prepared_snapshot& written) {
                      self->request(self->state.storage, caf::infinite, snap_publish_atom::value,
                                    std::move(written))
                          .then([=](std::uint64_t n) { snapshot_finished(self, done, n); },
                                [=](caf::error& err) { snapshot_finished(self, done, from_caf_error(err)); });
                    },
                    [=](caf::error& err) {
                      // The files are incomplete: the temp dir is abandoned.
                      self->send(self->state.storage, snap_abandon_atom::value, tmp);
                      snapshot_finished(self, done, from_caf_error(err));
                    });
          },
          [=](caf::error& err) { snapshot_finished(self, done, from_caf_error(err)); });
}

void maybe_auto_compact(ns_pointer self) {
  auto& st = self->state;
  if (st.snapshot_in_flight || !st.index)
    return;
  const snapshot_policy policy{st.settings.compact_interval_inserts, st.settings.compact_tail_fraction};
  if (!policy.due(st.inserts_since_snapshot, st.index->size()))
    return;
  snapshot(self, [=](result<std::uint64_t> r) {
    if (!r)
      spdlog::warn("namespace {}: automatic snapshot failed: {}", display_name(self->state.key),
                   r.err().message);
    else
      count(self->state.settings.metrics, &node_metrics::compactions);
  });
}

// After a restart the newest recovered entries wait in the index's backlog
// (searchable, but scanned one by one). They are linked into the graph a
// step at a time, each step queued behind whatever requests arrived
// meanwhile, so the node serves while it catches up.
void link_backlog(ns_pointer self) {
  auto& st = self->state;
  if (!st.index)
    return;
  auto left = st.index->index_backlog(st.settings.backlog_step_entries, st.settings.insert_threads);
  // Removals shrink the backlog too: report the difference, whatever made it.
  auto now_left = st.index->backlog_size();
  if (st.settings.metrics)
    st.settings.metrics->backlog_entries.fetch_sub(st.backlog - now_left, std::memory_order_relaxed);
  st.backlog = now_left;
  if (!left) {
    // Only memory exhaustion gets here; the entries stay searchable.
    spdlog::error("namespace {}: cannot link recovered entries into the graph: {}; retrying in 1 s",
                  display_name(st.key), left.err().message);
    self->delayed_send(self, std::chrono::seconds(1), backlog_atom::value);
    return;
  }
  if (*left > 0) {
    self->send(self, backlog_atom::value);
    return;
  }
  spdlog::info("namespace {}: recovered entries linked into the graph in {:.2f} s", display_name(st.key),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - st.backlog_started).count());
}

caf::error refuse_write(const namespace_state& st) {
  return to_caf_error(errc::not_owner, "this node holds a replica of namespace '" + display_name(st.key) +
                                           "'; writes go to its primary");
}

// Feedback is a mutation like any other: logged, then applied in log order.
// The feature class is computed now, from the entry's text as it is, and
// logged with the record, so that a replay rebuilds the same model even if
// the entry changes or goes away later.
caf::result<feedback_reply> record_feedback(ns_pointer self, feedback_request req) {
  auto& st = self->state;
  if (!decides_writes(st.role))
    return refuse_write(st);
  auto entry = st.index ? st.index->get(req.id) : std::nullopt;
  if (!entry)
    return to_caf_error(errc::not_found,
                        "no entry with id '" + req.id + "' in namespace '" + display_name(st.key) + "'");
  auto cls = quality::classify(quality::compare(quality::extract_features(req.query_text),
                                                quality::extract_features(entry->query_text)));
  log_record rec;
  rec.op = log_op::feedback;
  rec.ns = st.key;
  rec.uuid = req.id;
  rec.feedback = feedback_fields{req.similarity, req.correct, static_cast<std::uint8_t>(cls), req.query_text};
  rec.epoch = st.epoch;
  auto promise = self->make_response_promise<feedback_reply>();
  auto gate = std::make_shared<reply_gate<feedback_reply>>();
  gate->deliver = [promise](result<feedback_reply> r) mutable {
    if (r)
      promise.deliver(r.value());
    else
      promise.deliver(to_caf_error(r.err()));
  };
  // apply_next applies it to st.feedback (apply_log) and publishes the
  // refitted model before this answers.
  log_write(self, {std::move(rec)}, gate, [self, gate](apply_outcome& out, std::size_t at) {
    if (out.results[at]) {
      gate->set_value(feedback_reply{});
      return;
    }
    spdlog::error("namespace {}: logged feedback not applied: {}", display_name(self->state.key),
                  out.results[at].err().message);
    gate->fail_local(out.results[at].err());
  });
  return promise;
}

// ---- cluster roles (cluster/edges drives these; docs/cluster.md)

void schedule_expiry(ns_pointer self) {
  auto& st = self->state;
  if (st.expiry_scheduled || !decides_writes(st.role))
    return;
  st.expiry_scheduled = true;
  self->delayed_send(self, st.settings.expire_interval, expire_atom::value);
}

caf::error fenced_error(const namespace_state& st, std::uint64_t epoch) {
  return to_caf_error(errc::fenced, "namespace '" + display_name(st.key) + "' is at epoch " +
                                        std::to_string(st.epoch) + "; epoch " + std::to_string(epoch) +
                                        " is over");
}

// Takes the role the cluster gives this copy at `epoch` (the same epoch or
// a newer one); an older epoch is refused: its leader was deposed.
caf::error adopt_epoch(ns_pointer self, std::uint64_t epoch, namespace_role role) {
  auto& st = self->state;
  if (epoch < st.epoch && !planted(planted_bug::no_epoch_fencing))
    return fenced_error(st, epoch);
  // A copy that holds records of a newer epoch cannot lead an older one:
  // its own records (expiries, say) would follow them under the older
  // epoch, the position would still report the newer one, and a catch-up
  // would take the copy for a prefix of the newer leader's log and skip
  // the records in between (3-node swarm seed 130: a node brought up to
  // epoch 9 by a copy while electing itself at epoch 8 expired entries as
  // its leader, then missed two acknowledged inserts of epoch 9).
  if (role == namespace_role::primary && st.last_epoch > epoch)
    return to_caf_error(errc::fenced, "namespace '" + display_name(st.key) + "' holds records of epoch " +
                                          std::to_string(st.last_epoch) + "; epoch " + std::to_string(epoch) +
                                          " is over");
  if (role == namespace_role::primary && st.needs_reset && st.lineage_from <= st.logged_ns_seq) {
    // A copy of unknown lineage (a failed append, a recovered log with a
    // void record) leads: from its next record on, the cluster's history
    // is its own. A replica whose log ends before that record may differ
    // from it anywhere before, so its catch-up goes by the image.
    st.lineage_from = st.logged_ns_seq + 1;
  }
  // An election makes a copy primary only once the most advanced copy it
  // heard has been pushed to it: whatever it was rebuilt from, it is whole
  // now. A push from a copy of unknown lineage ends in records of epoch 0,
  // which never cleared the flag, and the next election after this
  // leader's crash found no whole copy of its set and waited for good
  // (3-node swarm --crashes seed 83).
  if (role == namespace_role::primary)
    st.partial = false;
  st.epoch = epoch;
  st.role = role;
  schedule_expiry(self);
  return caf::none;
}

void release_durable_waiters(ns_pointer self) {
  auto& st = self->state;
  auto pos = position_of(st);
  std::erase_if(st.durable_waiters, [&](auto& w) {
    if (w.first > st.durable_ns_seq)
      return false;
    w.second.deliver(pos);
    return true;
  });
}

void fail_durable_waiters(ns_pointer self, const caf::error& err) {
  for (auto& w : std::exchange(self->state.durable_waiters, {}))
    w.second.deliver(err);
}

// A replica logs its primary's records at the primary's sequence numbers,
// then applies them like its own: the same apply_log, in the same order.
caf::result<ns_position> follow(ns_pointer self, std::uint64_t epoch, log_batch& batch) {
  auto& st = self->state;
  if (auto err = adopt_epoch(self, epoch, namespace_role::replica))
    return err;
  if (st.needs_reset)
    return to_caf_error(errc::stale_replica, "namespace '" + display_name(st.key) +
                                                 "' must be rebuilt from its primary's image first");
  // Judged whole before anything changes: a refused batch leaves no trace
  // (storage/replica_stream.hpp). An empty copy starts wherever its
  // primary's stream does (a new namespace's first sequence number is not
  // 1: see wal_store::append).
  bool empty = !position_of(st).exists;
  auto admission = admit_batch(replica_cursor{st.key, empty, st.logged_ns_seq, st.last_epoch, st.dimension},
                               std::move(batch.records));
  auto refusal = [&](errc code) {
    return to_caf_error(code, "namespace '" + display_name(st.key) + "' " + admission.why);
  };
  switch (admission.verdict) {
    case batch_verdict::take:
      break;
    case batch_verdict::diverged:
      // Refuses the rest of the stream too (a later batch would follow the
      // wrong record) and reports no epoch: a catch-up rebuilds it.
      st.needs_reset = true;
      return refusal(errc::stale_replica);
    case batch_verdict::gap:
      return refusal(errc::stale_replica);
    case batch_verdict::dimension:
      return refusal(errc::internal);
  }
  auto base = admission.base;
  auto newest = admission.newest;
  auto dimension = admission.dimension;
  auto& fresh = admission.fresh;
  if (empty) {
    st.logged_ns_seq = st.applied_ns_seq = st.durable_ns_seq = base;
    st.stream_known = true; // the store starts the namespace where this record does
  }
  st.dimension = dimension;
  auto promise = self->make_response_promise<ns_position>();
  if (fresh.empty()) {
    // Retransmitted records count only once durable here.
    if (newest <= st.durable_ns_seq)
      promise.deliver(position_of(st));
    else
      st.durable_waiters.emplace_back(newest, promise);
    return promise;
  }
  for (const auto& r : fresh) {
    st.logged_ns_seq = std::max(st.logged_ns_seq, r.ns_seq);
    st.last_epoch = std::max(st.last_epoch, r.epoch);
  }
  std::size_t inserts = 0;
  for (const auto& r : fresh)
    inserts += r.op == log_op::insert ? 1 : 0;
  st.inserts_in_flight += inserts;
  auto first = fresh.front().ns_seq;
  auto last = fresh.back().ns_seq;
  const bool whole_from_here =
      std::any_of(fresh.begin(), fresh.end(), [](const log_record& r) { return r.epoch > 0; });
  self->request(st.storage, caf::infinite, append_atom::value, log_batch{fresh})
      .then(
          [=, fresh = std::move(fresh)](const std::vector<std::uint64_t>&) mutable {
            auto& st = self->state;
            st.durable_ns_seq = std::max(st.durable_ns_seq, last);
            if (whole_from_here)
              st.partial = false;
            release_durable_waiters(self);
            pending_apply p;
            p.records = std::move(fresh);
            p.done = [self, promise](apply_outcome&, std::size_t) mutable {
              promise.deliver(position_of(self->state));
            };
            enqueue_apply(self, std::move(p));
          },
          [=](caf::error& err) mutable {
            auto& st = self->state;
            st.inserts_in_flight -= inserts;
            // The store burns the sequence numbers of a batch whose fsync
            // failed (void placeholders), and later batches may already be
            // on their way: the log here can no longer take the primary's
            // stream as is. Only a rebuild from the image (reset) repairs it.
            st.logged_ns_seq = std::min(st.logged_ns_seq, first - 1);
            st.needs_reset = true;
            st.stream_known = false;
            learn_stream(self);
            spdlog::error(
                "namespace {}: replicated records {}..{} not logged ({}); the copy waits for a rebuild",
                display_name(st.key), first, last, from_caf_error(err).message);
            fail_durable_waiters(self, err);
            promise.deliver(err);
          });
  return promise;
}

// Drops this copy (memory, log, snapshot) so that the primary's image can
// be shipped into it, numbered from `next_seq` (0: dropped for good, until a
// primary rebuilds it with a reset of its own). Refused while records are
// on their way to the log or the index: the caller retries.
caf::result<ns_position> reset_copy(ns_pointer self, std::uint64_t epoch, std::uint64_t next_seq) {
  auto& st = self->state;
  if (auto err = adopt_epoch(self, epoch, namespace_role::replica))
    return err;
  if (!st.apply_queue.empty() || st.inserts_in_flight > 0 || st.logged_ns_seq > st.applied_ns_seq)
    return to_caf_error(errc::unavailable,
                        "namespace '" + display_name(st.key) + "' is busy; retry the reset");
  auto promise = self->make_response_promise<ns_position>();
  self->request(st.storage, caf::infinite, drop_atom::value, st.key)
      .then(
          [=](bool) mutable {
            auto& st = self->state;
            st.index = nullptr;
            st.directory->publish_index(st.key, nullptr);
            st.dimension = 0;
            st.applied_ns_seq = st.logged_ns_seq = st.durable_ns_seq = next_seq > 0 ? next_seq - 1 : 0;
            // next_seq 0: the copy is dropped, not rebuilt (a retired
            // replica). It must not take a live stream as a fresh copy
            // would (from wherever the stream is): that would leave it
            // holding only the tail while its position says it is whole.
            st.needs_reset = next_seq == 0;
            st.stream_known = next_seq > 0; // the store starts it afresh at next_seq
            st.partial = next_seq > 0;
            st.lineage_from = 0; // its history is its primary's now
            st.last_epoch = st.applied_epoch = 0;
            st.inserts_since_snapshot = 0;
            st.feedback = quality::feedback_counts{};
            publish_model(st);
            promise.deliver(position_of(st));
          },
          [=](caf::error& err) mutable {
            // The store may have dropped the namespace (the drop committed,
            // then its fsync failed: wal_store::drop_namespace) or not:
            // either way the log no longer vouches for this copy. It waits
            // for a rebuild, and no election counts it whole. (3-node swarm
            // seed 623: a copy whose reset failed so went on reporting a
            // whole 30@0 with no log behind it; elected as the newest set's
            // copy, every push from it shipped the image and then found no
            // log to follow it with, for good.)
            auto& st = self->state;
            st.needs_reset = true;
            st.partial = true;
            promise.deliver(err);
          });
  return promise;
}

// The live entries as insert records whose sequence numbers end at the
// applied one, so that a reset replica that applies them and then the log
// after that number holds exactly this copy's state.
log_batch image_records(namespace_state& st) {
  log_batch out;
  std::vector<cache_entry> entries;
  if (st.index) {
    auto image = st.index->snapshot_image();
    if (image) {
      entries.reserve(image->entries.size());
      for (std::size_t i = 0; i < image->entries.size(); ++i) {
        auto e = image->entries[i].entry;
        auto v = image->embedding(i);
        e.embedding.assign(v.begin(), v.end());
        entries.push_back(std::move(e));
      }
    }
  }
  // The epoch the copy built from this image will report: this copy's own,
  // or 0 when its lineage is unknown (needs_reset), as position_of says;
  // otherwise the two never compare equal and catch-up goes round forever
  // (3-node swarm --crashes seed 150).
  auto image_epoch = st.needs_reset ? 0 : st.applied_epoch;
  // The quality model's counts go first, as one record: the feedback
  // records that built them are not in the image (format note F5).
  std::string table = st.feedback.total() > 0 ? st.feedback.serialize() : std::string{};
  auto count = entries.size() + (table.empty() ? 0 : 1);
  auto last = st.applied_ns_seq;
  if (count > last) // cannot happen: every entry and every feedback took a record
    last = count;
  auto seq = last - count;
  if (!table.empty()) {
    log_record t;
    t.op = log_op::feedback_table;
    t.ns = st.key;
    t.ns_seq = ++seq;
    t.epoch = entries.empty() ? image_epoch : 0; // the image's last record, or not
    t.feedback_table = std::move(table);
    out.records.push_back(std::move(t));
  } else if (entries.empty() && last > 0) {
    log_record v;
    v.op = log_op::void_;
    v.ns = st.key;
    v.ns_seq = last;
    v.epoch = image_epoch;
    out.records.push_back(std::move(v));
  }
  for (auto& e : entries) {
    log_record r;
    r.op = log_op::insert;
    r.ns = st.key;
    r.ns_seq = ++seq;
    // Only the image's last record stands for a real point of the log: the
    // copy built from it holds this copy's state at (last, applied_epoch),
    // so it carries that epoch and compares equal to this copy. The records
    // before it are renumbered entries, not the log's history at those
    // sequence numbers (a removal there is just an absent entry): epoch 0
    // says "unknown lineage", so catch-up never treats them as a point
    // where two logs agree (5-node swarm seed 19: a copy that agreed with
    // such a record at its own last sequence number skipped a delete).
    r.epoch = &e == &entries.back() ? image_epoch : 0;
    r.entry = std::move(e);
    out.records.push_back(std::move(r));
  }
  return out;
}

std::int64_t expiry_for(const namespace_state& st, const insert_request& req, std::int64_t now) {
  std::int64_t ttl = 0;
  if (req.ttl_seconds)
    ttl = *req.ttl_seconds;
  else if (st.key.has_conversation() && st.settings.conversation_ttl_seconds)
    ttl = *st.settings.conversation_ttl_seconds;
  return ttl > 0 ? now + ttl * 1000 : 0;
}

namespace_actor::behavior_type namespace_behavior(ns_pointer self, namespace_start start,
                                                  namespace_settings settings, storage_actor storage,
                                                  snapshot_writer_actor writer,
                                                  namespace_directory* directory) {
  auto& st = self->state;
  st.key = std::move(start.key);
  st.role = start.role;
  st.settings = std::move(settings);
  st.storage = std::move(storage);
  st.writer = std::move(writer);
  st.directory = directory;
  st.index = std::move(start.index);
  st.dimension = st.index ? st.index->dimension() : 0;
  st.applied_ns_seq = start.applied_ns_seq;
  st.logged_ns_seq = st.durable_ns_seq = start.applied_ns_seq;
  st.stream_known = start.applied_ns_seq > 0; // recovery resumes after every number the store has seen
  // A recovered copy whose log does not say which epoch wrote its newest
  // record (a snapshot dropped the tail, or a void placeholder ends it)
  // cannot prove it agrees with a primary: as a replica it is rebuilt.
  st.needs_reset = start.applied_ns_seq > 0 && start.last_epoch == 0;
  st.partial = start.partial;
  st.lineage_from = start.lineage_from;
  st.epoch = st.last_epoch = st.applied_epoch = start.last_epoch;
  st.inserts_since_snapshot = start.replayed_inserts;
  st.ids = std::make_unique<uuid_generator>(st.settings.seed ^ namespace_key_hash{}(st.key));
  st.feedback = std::move(start.feedback);
  st.quality_view = std::make_shared<quality::model_view>(st.feedback.fit(st.settings.quality));
  st.directory->publish_quality(st.key, st.quality_view);
  st.directory->publish_feedback(st.key, st.feedback, st.settings.quality);
  schedule_expiry(self);
  if (st.index && st.index->backlog_size() > 0) {
    st.backlog_started = std::chrono::steady_clock::now();
    st.backlog = st.index->backlog_size();
    count(st.settings.metrics, &node_metrics::backlog_entries, st.backlog);
    self->send(self, backlog_atom::value);
  }
  return {
      [=](insert_atom, insert_request& req) -> caf::result<insert_reply> {
        auto& st = self->state;
        if (!decides_writes(st.role))
          return refuse_write(st);
        if (st.dimension != 0 && req.embedding.size() != st.dimension)
          return to_caf_error(errc::bad_request, "embedding has " + std::to_string(req.embedding.size()) +
                                                     " dimensions but namespace '" + display_name(st.key) +
                                                     "' has " + std::to_string(st.dimension));
        if (!normalize(req.embedding))
          return to_caf_error(errc::bad_request, "embedding must be finite and not all zero");
        if (st.dimension == 0)
          st.dimension = req.embedding.size();
        auto now = st.settings.clock();
        cache_entry e;
        e.uuid = req.uuid.empty() ? st.ids->next() : std::move(req.uuid);
        e.embedding = std::move(req.embedding);
        e.response = std::move(req.response);
        e.query_text = std::move(req.query_text);
        e.created_at_ms = now;
        e.expires_at_ms = expiry_for(st, req, now);
        log_record rec;
        rec.op = log_op::insert;
        rec.ns = st.key;
        rec.entry = std::move(e);
        rec.epoch = st.epoch;
        auto promise = self->make_response_promise<insert_reply>();
        ++st.inserts_in_flight;
        auto gate = std::make_shared<reply_gate<insert_reply>>();
        gate->deliver = [promise](result<insert_reply> r) mutable {
          if (r)
            promise.deliver(std::move(r.value()));
          else
            promise.deliver(to_caf_error(r.err()));
        };
        auto id = rec.entry.uuid;
        log_write(
            self, {std::move(rec)}, gate,
            [self, gate, id](apply_outcome& out, std::size_t at) {
              if (out.results[at]) {
                gate->set_value(insert_reply{id});
                return;
              }
              // Durable but not applied: only a bug or memory exhaustion
              // gets here; recovery applies the record on the next start.
              spdlog::error("namespace {}: logged insert {} not applied: {}", display_name(self->state.key),
                            id, out.results[at].err().message);
              gate->fail_local(out.results[at].err());
            },
            [self](const error&) {
              auto& st = self->state;
              --st.inserts_in_flight;
              // Nothing of this namespace is durable yet: free the dimension.
              if (!st.index && st.inserts_in_flight == 0)
                st.dimension = 0;
            });
        return promise;
      },
      [=](delete_atom, const std::string& uuid) -> caf::result<bool> {
        auto& st = self->state;
        if (!decides_writes(st.role))
          return refuse_write(st);
        if (!st.index || !st.index->contains(uuid))
          return false;
        auto promise = self->make_response_promise<bool>();
        remove_durably(self, {uuid}, removal_reason::deleted,
                       [=](result<std::vector<std::string>> r) mutable {
                         if (!r)
                           promise.deliver(to_caf_error(r.err()));
                         else
                           promise.deliver(true);
                       });
        return promise;
      },
      [=](invalidate_atom, const invalidate_request& req) -> caf::result<invalidate_reply> {
        auto& st = self->state;
        if (!decides_writes(st.role))
          return refuse_write(st);
        if (!st.index)
          return invalidate_reply{};
        if (req.embedding.size() != st.dimension)
          return to_caf_error(errc::bad_request, "embedding has " + std::to_string(req.embedding.size()) +
                                                     " dimensions but namespace '" + display_name(st.key) +
                                                     "' has " + std::to_string(st.dimension));
        auto probe = req.embedding;
        if (!normalize(probe))
          return to_caf_error(errc::bad_request, "embedding must be finite and not all zero");
        auto victims = st.index->within_radius(probe, req.threshold, st.settings.clock());
        auto promise = self->make_response_promise<invalidate_reply>();
        remove_durably(self, std::move(victims), removal_reason::invalidated,
                       [=](result<std::vector<std::string>> r) mutable {
                         if (!r)
                           promise.deliver(to_caf_error(r.err()));
                         else
                           promise.deliver(invalidate_reply{std::move(r.value())});
                       });
        return promise;
      },
      [=](feedback_atom, feedback_request& req) -> caf::result<feedback_reply> {
        return record_feedback(self, std::move(req));
      },
      [=](compact_atom) -> caf::result<std::uint64_t> {
        auto promise = self->make_response_promise<std::uint64_t>();
        snapshot(self, [=](result<std::uint64_t> r) mutable {
          if (!r)
            promise.deliver(to_caf_error(r.err()));
          else
            promise.deliver(r.value());
        });
        return promise;
      },
      [=](apply_atom) { apply_next(self); },
      [=](backlog_atom) { link_backlog(self); },
      [=](ship_now_atom) { ship_batch(self); },
      [=](role_atom, namespace_role role, std::uint64_t epoch) -> caf::result<ns_position> {
        if (epoch == 0)
          return position_of(self->state);
        if (auto err = adopt_epoch(self, epoch, role))
          return err;
        return position_of(self->state);
      },
      [=](position_atom) -> ns_position { return position_of(self->state); },
      [=](follow_atom, std::uint64_t epoch, log_batch& batch) -> caf::result<ns_position> {
        return follow(self, epoch, batch);
      },
      [=](reset_atom, std::uint64_t epoch, std::uint64_t next_seq) -> caf::result<ns_position> {
        return reset_copy(self, epoch, next_seq);
      },
      [=](image_atom) -> log_batch { return image_records(self->state); },
      [=](expire_atom) {
        auto& st = self->state;
        st.expiry_scheduled = false;
        // Only the copy that decides writes expires entries; a replica
        // receives its primary's expiry records instead.
        if (!decides_writes(st.role))
          return;
        schedule_expiry(self);
        if (!st.index)
          return;
        auto expired = st.index->expired(st.settings.clock());
        remove_durably(self, std::move(expired), removal_reason::expired, [](const auto&) {});
      },
  };
}

} // namespace

namespace_actor spawn_namespace_actor(caf::actor_system& sys, namespace_start start,
                                      const namespace_settings& settings, storage_actor storage,
                                      snapshot_writer_actor writer, namespace_directory* directory) {
  return sys.spawn(namespace_behavior, std::move(start), settings, std::move(storage), std::move(writer),
                   directory);
}

} // namespace ferro
