// Shipping a primary's durable batches to its in-sync replicas, and
// bringing any copy up to date (catch-up): by the log after the copy's last
// record when the two logs agree there, else by a reset and the image of
// the live entries, then the log after it. Restarts, returns from a
// partition, empty disks and joins all take this one path.

#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "cluster/edges/cluster_state.hpp"

namespace ferro::cluster {

namespace {

struct sync_job {
  namespace_key ns;
  std::string target;
  std::uint64_t epoch = 0;
  std::function<void(result<ns_position>)> done;
  int busy_retries = 0;
  int rounds = 0;
  // What it shipped, for the catch-up metrics.
  std::int64_t started_ms = 0;
  bool image = false;
  std::uint64_t records = 0;
  std::uint64_t image_bytes = 0;
};
using job_ptr = std::shared_ptr<sync_job>;

void step(cluster_pointer self, job_ptr job);

void fail(const job_ptr& job, const error& e) {
  job->done(e);
}

template <class F>
void local_position(cluster_pointer self, const namespace_key& ns, F then,
                    std::function<void(error)> failed) {
  auto actor = self->state.local->namespace_for(ns);
  if (!actor) {
    failed(error{errc::unavailable, "the node is shutting down"});
    return;
  }
  self->request(actor, self->state.settings.request_timeout, position_atom::value)
      .then(std::move(then), [failed](caf::error& err) { failed(from_caf_error(err)); });
}

void send_records(cluster_pointer self, job_ptr job, log_batch batch, std::function<void()> next) {
  job->records += batch.records.size();
  call_msg m;
  m.op = call_op::follow;
  m.ns = job->ns;
  m.epoch = job->epoch;
  m.batch = std::move(batch);
  send_call(self, job->target, std::move(m), self->state.settings.request_timeout,
            [self, job, next = std::move(next)](const reply_msg& r) {
              spdlog::debug("cluster: catch-up of '{}' on {}: records answered: {}", display_name(job->ns),
                            job->target, r.ok() ? "ok" : r.message);
              if (r.ok()) {
                next();
              } else if (r.err().code == errc::stale_replica) {
                step(self, job); // the copy moved (a reset elsewhere): look again
              } else {
                fail(job, r.err());
              }
            });
}

void tail(cluster_pointer self, job_ptr job, std::uint64_t after);

// A reset, then the image in batches, then the log after it.
void full(cluster_pointer self, job_ptr job) {
  auto actor = self->state.local->namespace_for(job->ns);
  if (!actor) {
    fail(job, error{errc::unavailable, "the node is shutting down"});
    return;
  }
  self->request(actor, std::chrono::minutes(1), image_atom::value)
      .then(
          [self, job](log_batch& image) {
            std::uint64_t first = image.records.empty() ? 1 : image.records.front().ns_seq;
            std::uint64_t last = image.records.empty() ? 0 : image.records.back().ns_seq;
            call_msg reset;
            reset.op = call_op::reset;
            reset.ns = job->ns;
            reset.epoch = job->epoch;
            reset.seq = first;
            job->image = true;
            auto records = std::make_shared<std::vector<log_record>>(std::move(image.records));
            spdlog::info("cluster: full resync of '{}' on {} from {}: {} records from seq {}",
                         display_name(job->ns), job->target, self_id(self), records->size(), first);
            send_call(self, job->target, std::move(reset), self->state.settings.request_timeout,
                      [self, job, records, last](const reply_msg& r) {
                        spdlog::debug("cluster: catch-up of '{}' on {}: reset answered: {}",
                                      display_name(job->ns), job->target, r.ok() ? "ok" : r.message);
                        if (!r.ok()) {
                          if (r.err().code == errc::unavailable && ++job->busy_retries < 100) {
                            defer(self, std::chrono::milliseconds(50), [self, job] { full(self, job); });
                            return;
                          }
                          fail(job, r.err());
                          return;
                        }
                        // Ship the image in bounded batches, one at a time.
                        auto pos = std::make_shared<std::size_t>(0);
                        auto next = std::make_shared<std::function<void()>>();
                        *next = [self, job, records, pos, next, last] {
                          if (*pos >= records->size()) {
                            // Break the cycle through `next`, which destroys
                            // this lambda: keep what is needed on the stack.
                            auto keep_job = job;
                            auto keep_next = next;
                            auto done_with = std::move(*keep_next);
                            (void)done_with;
                            tail(self, keep_job, last);
                            return;
                          }
                          log_batch chunk;
                          std::size_t bytes = 0;
                          while (*pos < records->size() &&
                                 chunk.records.size() < defaults::cluster::catchup_batch_records &&
                                 bytes < defaults::cluster::catchup_batch_bytes) {
                            auto& rec = (*records)[(*pos)++];
                            bytes += rec.entry.embedding.size() * sizeof(float) + rec.entry.response.size() +
                                     rec.entry.query_text.size() + rec.feedback_table.size() + 64;
                            chunk.records.push_back(std::move(rec));
                          }
                          job->image_bytes += bytes;
                          send_records(self, job, std::move(chunk), [next] { (*next)(); });
                        };
                        (*next)();
                      });
          },
          [job](caf::error& err) { fail(job, from_caf_error(err)); });
}

// The log after `after`, batch by batch, until it is exhausted.
void tail(cluster_pointer self, job_ptr job, std::uint64_t after) {
  self->request(self->state.local->storage_handle(), self->state.settings.request_timeout,
                read_after_atom::value, job->ns, after,
                static_cast<std::uint64_t>(defaults::cluster::catchup_batch_records))
      .then(
          [self, job](log_batch& batch) {
            if (batch.records.empty()) {
              step(self, job);
              return;
            }
            auto last = batch.records.back().ns_seq;
            send_records(self, job, std::move(batch), [self, job, last] { tail(self, job, last); });
          },
          // Dropped by a snapshot here (or never logged): the image it is.
          // A round too (see step): a source whose log cannot follow its
          // own image would otherwise ship it again and again, never
          // comparing (3-node swarm seed 623, 969 images in 15 s).
          [self, job](caf::error&) {
            if (++job->rounds > 100) {
              fail(job, error{errc::unavailable, "catch-up does not converge"});
              return;
            }
            full(self, job);
          });
}

// Compares the two copies and picks the way to bring the target up.
void step(cluster_pointer self, job_ptr job) {
  // Each round ships everything logged so far; more than a few means the
  // two copies never compare equal (a bug, not load): stop and say so.
  if (++job->rounds > 100) {
    fail(job, error{errc::unavailable, "catch-up does not converge"});
    return;
  }
  call_msg ask;
  ask.op = call_op::position;
  ask.ns = job->ns;
  send_call(self, job->target, std::move(ask), self->state.settings.request_timeout,
            [self, job](const reply_msg& r) {
              if (!r.ok()) {
                fail(job, r.err());
                return;
              }
              auto theirs = r.pos;
              if (theirs.epoch > job->epoch) {
                fail(job, error{errc::fenced,
                                job->target + " is at a newer epoch of '" + display_name(job->ns) + "'"});
                return;
              }
              local_position(
                  self, job->ns,
                  [self, job, theirs](const ns_position& mine) {
                    spdlog::debug("cluster: catch-up of '{}' on {}: theirs {}@{} mine {}@{}",
                                  display_name(job->ns), job->target, theirs.last_seq, theirs.last_epoch,
                                  mine.last_seq, mine.last_epoch);
                    // Equal positions prove equal copies only when they name
                    // a known epoch. Two copies of unknown lineage at one
                    // sequence number may differ: a resigned leader holding
                    // records it acknowledged alone, and a replica whose
                    // fsync of those very numbers failed (void placeholders)
                    // both report N@0 (5-node swarm seed 198 at 60 s: taken
                    // for equal, the replica joined the set and a later
                    // election took its copy). Then only an image shipped by
                    // this job makes them equal.
                    const bool known = mine.last_epoch != 0 || mine.last_seq == 0 || job->image;
                    if (known && theirs.last_seq == mine.last_seq && theirs.last_epoch == mine.last_epoch &&
                        theirs.exists == mine.exists) {
                      job->done(theirs);
                      return;
                    }
                    // A copy of unknown lineage on either side (epoch 0: a failed
                    // append, a void record in a recovered log), or a target whose
                    // log ends before this leader's own lineage begins, cannot show
                    // where the two logs part: only the image brings the target to
                    // this one.
                    if (!theirs.exists || theirs.last_epoch == 0 || mine.last_epoch == 0 ||
                        theirs.last_seq < mine.lineage_from || theirs.last_seq > mine.last_seq) {
                      full(self, job);
                      return;
                    }
                    // Do the logs agree at the target's last record? Then only what
                    // follows it is missing.
                    self->request(self->state.local->storage_handle(), self->state.settings.request_timeout,
                                  read_after_atom::value, job->ns, theirs.last_seq - 1, std::uint64_t{1})
                        .then(
                            [self, job, theirs](const log_batch& b) {
                              if (!b.records.empty() && b.records.front().ns_seq == theirs.last_seq &&
                                  b.records.front().epoch == theirs.last_epoch)
                                tail(self, job, theirs.last_seq);
                              else
                                full(self, job);
                            },
                            [self, job](caf::error&) { full(self, job); });
                  },
                  [job](error e) { fail(job, e); });
            });
}

} // namespace

void sync_replica(cluster_pointer self, const namespace_key& ns, const std::string& target,
                  std::uint64_t epoch, std::function<void(result<ns_position>)> done) {
  auto job = std::make_shared<sync_job>();
  job->ns = ns;
  job->target = target;
  job->epoch = epoch;
  job->started_ms = now_ms(self);
  // Counted when it ends well: a failed one says nothing about a rate.
  job->done = [self, job_ref = std::weak_ptr<sync_job>(job), done = std::move(done)](result<ns_position> r) {
    if (auto job = job_ref.lock(); job && r) {
      auto& m = self->state.local->metrics();
      auto ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ms(self) - job->started_ms));
      if (job->image) {
        m.catchups_image_total.fetch_add(1, std::memory_order_relaxed);
        m.catchup_image_records_total.fetch_add(job->records, std::memory_order_relaxed);
        m.catchup_image_bytes_total.fetch_add(job->image_bytes, std::memory_order_relaxed);
        m.catchup_image_ms_total.fetch_add(ms, std::memory_order_relaxed);
      } else {
        m.catchups_log_total.fetch_add(1, std::memory_order_relaxed);
        m.catchup_log_records_total.fetch_add(job->records, std::memory_order_relaxed);
        m.catchup_log_ms_total.fetch_add(ms, std::memory_order_relaxed);
      }
    }
    done(std::move(r));
  };
  step(self, job);
}

namespace {

// A job that never reported back must not hold its slot for good: after
// this long it stops counting (a catch-up of a big image may legitimately
// run longer; it then merely runs beside one more).
constexpr std::int64_t stuck_catch_up_ms = 10 * 60 * 1000;

std::size_t catch_up_slots(cluster_pointer self) {
  return std::max<std::size_t>(1, self->state.settings.max_catch_ups);
}

// The gauges operators watch for the re-replication backlog.
void show_catch_ups(cluster_pointer self) {
  auto& st = self->state;
  auto& m = st.local->metrics();
  m.catchups_running.store(st.catch_ups_running.size(), std::memory_order_relaxed);
  m.catchups_waiting.store(st.catch_ups_queued.size(), std::memory_order_relaxed);
}

void start_queued_catch_ups(cluster_pointer self) {
  auto& st = self->state;
  // A catch-up that fails at once ends inside this loop and would call
  // back into it, as deep as the queue is long: the outer call goes on.
  if (st.starting_queued_catch_ups)
    return;
  st.starting_queued_catch_ups = true;
  for (auto& queue : st.catch_up_queue)
    while (!queue.empty() && st.catch_ups_running.size() < catch_up_slots(self)) {
      auto [ns, target] = std::move(queue.front());
      queue.pop_front();
      st.catch_ups_queued.erase({ns, target});
      // Checked again there: the namespace may have moved meanwhile.
      start_catch_up(self, ns, target);
    }
  st.starting_queued_catch_ups = false;
  show_catch_ups(self);
}

void end_catch_up(cluster_pointer self, std::uint64_t id) {
  self->state.catch_ups_running.erase(id);
  start_queued_catch_ups(self);
}

} // namespace

void start_catch_up(cluster_pointer self, const namespace_key& ns, const std::string& target,
                    catch_up_priority priority) {
  auto& st = self->state;
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::primary || sp.in_sync.count(target) || sp.syncing.count(target) ||
      !is_alive(self, target))
    return;
  if (st.catch_ups_running.size() >= catch_up_slots(self)) {
    auto queued = st.catch_ups_queued.emplace(ns, target);
    if (queued.second) {
      st.catch_up_queue[static_cast<std::size_t>(priority)].emplace_back(ns, target);
      spdlog::debug("cluster: catch-up of '{}' on {} waits: {} running, {} waiting", display_name(ns), target,
                    st.catch_ups_running.size(), st.catch_ups_queued.size());
      show_catch_ups(self);
    }
    return;
  }
  // A job of an older term may still be running (a step-down clears the
  // marks, not the jobs): when it ends it must not clear this one's mark,
  // or a second job of this term starts beside it, resets the copy the
  // first one is about to declare in sync, and the replica serves reads
  // from a copy being refilled (5-node swarm seed 249), or is taken in
  // sync with a copy the two crossing images left empty (3-node swarm
  // seed 4 with a join and a departure: acknowledged inserts lost).
  auto id = st.next_catch_up++;
  sp.syncing[target] = id;
  st.catch_ups_running[id] = now_ms(self);
  show_catch_ups(self);
  auto epoch = sp.epoch;
  sync_replica(self, ns, target, epoch, [self, ns, target, epoch, id](result<ns_position> r) {
    // The slot is freed (and a queued catch-up started) when this one
    // returns, whichever way it ends.
    struct free_slot {
      cluster_pointer self;
      std::uint64_t id;
      ~free_slot() { end_catch_up(self, id); }
    } slot{self, id};
    auto& sp = space(self, ns);
    if (auto mark = sp.syncing.find(target); mark != sp.syncing.end() && mark->second == id)
      sp.syncing.erase(mark);
    if (sp.mode != ns_mode::primary || sp.epoch != epoch)
      return;
    if (!r) {
      spdlog::info("cluster: catch-up of '{}' on {} stopped: {}", display_name(ns), target, r.err().message);
      if (r.err().code == errc::fenced)
        step_down(self, ns, epoch + 1);
      return; // replication_tick tries again
    }
    // Placement may have moved meanwhile: a node it no longer names is a
    // former replica, to be retired, never joined to the set (a retired,
    // emptied copy in the set would take the live stream mid-way and then
    // pass for a full copy: 5-node swarm seed 27).
    if (std::find(sp.replicas.begin(), sp.replicas.end(), target) == sp.replicas.end())
      return;
    if (r->last_seq < sp.shipped_seq) {
      start_catch_up(self, ns, target); // writes went on meanwhile
      return;
    }
    // Joins the set in the same step that checked it: every later batch
    // is shipped to it live.
    sp.in_sync.insert(target);
    // Elections may now use this copy when the leader is gone: say so,
    // and make sure this node still leads (writes wait until a majority
    // says it does: see join_version). The replica is told it is in sync,
    // and so serves reads, only once a majority said so too: a deposed
    // leader back from a partition, its lease lost, caught up a node that
    // had just joined (it knew of no newer term to refuse) and its notice
    // made that copy serve a stale image: a read missed an entry the real
    // leader had acknowledged (5-node swarm seed 152, a join).
    confirm_leadership(self, ns, epoch, [self, ns, epoch, target](bool leading) {
      auto& now = space(self, ns);
      if (!leading || now.mode != ns_mode::primary || now.epoch != epoch || !now.in_sync.count(target))
        return;
      tell_in_sync(self, target, ns, epoch, true);
    });
    sp.join_version = sp.publish_version;
    retire_former_replicas(self, ns);
    ready_if_in_sync(self, ns);
    publish_changes(self);
  });
}

void tell_in_sync(cluster_pointer self, const std::string& target, const namespace_key& ns,
                  std::uint64_t epoch, bool in_sync) {
  call_msg notice;
  notice.op = call_op::in_sync;
  notice.ns = ns;
  notice.epoch = epoch;
  notice.seq = in_sync ? 1 : 0; // the call's one flag
  send_call(self, target, std::move(notice), std::chrono::seconds(1), [](const reply_msg&) {});
}

void retire_former_replicas(cluster_pointer self, const namespace_key& ns) {
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::primary || sp.retiring.empty())
    return;
  for (const auto& r : sp.replicas)
    if (!sp.in_sync.count(r))
      return;
  // Every replica placement names is in sync: the copies on nodes it no
  // longer names are surplus. They are dropped only now, so that the
  // namespace never has fewer than R copies on the way, and only once a
  // majority knows the copy set without them: an election that heard only
  // a dropped copy would otherwise take it for a holder of every write.
  auto epoch = sp.epoch;
  std::set<std::string> leaving;
  for (const auto& old : sp.retiring) {
    sp.in_sync.erase(old);
    leaving.insert(old);
  }
  sp.retiring.clear();
  confirm_leadership(self, ns, epoch, [self, ns, epoch, leaving](bool leading) {
    auto& sp = space(self, ns);
    if (!leading || sp.mode != ns_mode::primary || sp.epoch != epoch)
      return;
    for (const auto& old : leaving) {
      if (!is_alive(self, old) || std::find(sp.replicas.begin(), sp.replicas.end(), old) != sp.replicas.end())
        continue;
      call_msg m;
      m.op = call_op::retire;
      m.ns = ns;
      m.epoch = epoch;
      send_call(self, old, std::move(m), self->state.settings.request_timeout, [](const reply_msg&) {});
    }
  });
}

// After a replica failed a batch, the primary may acknowledge without it
// only while it still leads: a majority confirms that no newer epoch exists
// (an election needs a majority too, so one of them would know).
void confirm_leadership(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch,
                        std::function<void(bool)> done) {
  std::string set = self_id(self);
  for (const auto& r : space(self, ns).in_sync)
    set += "," + r;
  struct count {
    std::size_t expected = 0, replies = 0, yes = 0;
    bool fenced = false;
    std::uint64_t newer = 0;
  };
  auto c = std::make_shared<count>();
  auto targets = alive_peers(self);
  targets.push_back(self_id(self));
  c->expected = targets.size();
  auto version = ++space(self, ns).publish_version;
  for (const auto& t : targets) {
    call_msg m;
    m.op = call_op::confirm;
    m.ns = ns;
    m.epoch = epoch;
    m.seq = version;
    m.text = set;
    send_call(self, t, std::move(m), self->state.settings.replication_timeout, [=](const reply_msg& r) {
      if (r.ok())
        ++c->yes;
      else if (r.err().code == errc::fenced) {
        c->fenced = true;
        c->newer = std::max(c->newer, r.pos.epoch);
      }
      if (++c->replies < c->expected)
        return;
      if (c->fenced) {
        step_down(self, ns, c->newer);
        done(false);
        return;
      }
      bool leading = c->yes * 2 > cluster_size(self);
      auto& sp = space(self, ns);
      if (leading && sp.mode == ns_mode::primary && sp.epoch == epoch)
        sp.confirmed_version = std::max(sp.confirmed_version, version);
      done(leading);
    });
  }
}

namespace {

void finish_ship(cluster_pointer self, std::uint64_t id) {
  auto it = self->state.ships.find(id);
  if (it == self->state.ships.end() || !it->second.waiting.empty())
    return;
  auto ship = std::move(it->second);
  self->state.ships.erase(it);
  if (!ship.lost_replica) {
    ship.promise.deliver(true);
    return;
  }
  auto promise = ship.promise;
  confirm_leadership(
      self, ship.ns, ship.epoch, [self, promise, ns = ship.ns, epoch = ship.epoch](bool leading) mutable {
        if (leading) {
          promise.deliver(true);
          return;
        }
        // The copy applies what it logged anyway (a removal too: its log
        // holds it), so it must stop serving first. A leader cut off from
        // everyone at once sees no peer to ask, fails this at once and
        // still held its read lease: it answered a miss for an entry whose
        // delete then died with its lead (3-node swarm seed 654).
        auto& sp = space(self, ns);
        if (sp.mode == ns_mode::primary && sp.epoch == epoch)
          step_down(self, ns, epoch);
        promise.deliver(to_caf_error(errc::unavailable, "lost the lead of namespace '" + display_name(ns) +
                                                            "' while replicating; retry"));
      });
}

} // namespace

caf::result<bool> ship(cluster_pointer self, log_batch& batch) {
  if (batch.records.empty())
    return true;
  auto ns = batch.records.front().ns;
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::primary)
    return to_caf_error(errc::fenced,
                        "node " + self_id(self) + " no longer leads '" + display_name(ns) + "'");
  for (const auto& r : batch.records)
    sp.shipped_seq = std::max(sp.shipped_seq, r.ns_seq);
  // Alone (no replica in sync; /cluster/status and the metric say so), a
  // leader acknowledges only once a majority confirms that it still leads:
  // it may have been paused or cut off while another node was elected.
  bool alone = sp.in_sync.empty();
  if (alone && self->state.settings.replication_factor <= 1)
    return true; // one copy by configuration: nothing to wait for
  // (No live replica is no excuse: a primary cut off from everyone sees
  // none, and must not acknowledge what a new leader will never have.)
  auto id = self->state.next_ship++;
  auto& entry = self->state.ships[id];
  entry.promise = self->make_response_promise<bool>();
  entry.ns = ns;
  entry.epoch = sp.epoch;
  entry.waiting = sp.in_sync;
  // A replica joined and no majority has confirmed this leader since:
  // confirm before acknowledging, as when a replica is lost.
  entry.lost_replica = alone || sp.confirmed_version < sp.join_version;
  entry.started_ms = now_ms(self);
  auto promise = entry.promise;
  if (alone) {
    finish_ship(self, id);
    return promise;
  }
  auto epoch = sp.epoch;
  auto targets = sp.in_sync; // callbacks may change the set
  for (const auto& target : targets) {
    call_msg m;
    m.op = call_op::follow;
    m.ns = ns;
    m.epoch = epoch;
    m.batch = batch;
    self->state.local->metrics().replication_writes_total.fetch_add(batch.records.size(),
                                                                    std::memory_order_relaxed);
    send_call(self, target, std::move(m), self->state.settings.replication_timeout, [=](const reply_msg& r) {
      auto it = self->state.ships.find(id);
      if (it == self->state.ships.end())
        return;
      auto& sp = space(self, ns);
      if (r.ok()) {
        it->second.waiting.erase(target);
      } else if (r.err().code == errc::fenced) {
        auto ship = std::move(it->second);
        self->state.ships.erase(it);
        step_down(self, ns, r.pos.epoch);
        ship.promise.deliver(to_caf_error(r.err()));
        return;
      } else {
        spdlog::warn("cluster: replica {} of '{}' leaves the in-sync set: {}", target, display_name(ns),
                     r.message);
        if (r.err().code == errc::timeout)
          self->state.board->replication_timeouts.fetch_add(1, std::memory_order_relaxed);
        self->state.local->metrics().replication_failures_total.fetch_add(1, std::memory_order_relaxed);
        sp.in_sync.erase(target);
        it->second.lost_replica = true;
        it->second.waiting.erase(target);
        tell_in_sync(self, target, ns, epoch, false);
      }
      finish_ship(self, id);
    });
  }
  return promise;
}

void ask_for_repair(cluster_pointer self, const namespace_key& ns) {
  auto& sp = space(self, ns);
  auto now = now_ms(self);
  if (sp.mode != ns_mode::follower || sp.primary.empty() || serves_reads(self, ns) ||
      (sp.repair_asked_ms >= 0 && now - sp.repair_asked_ms < 1000))
    return;
  sp.repair_asked_ms = now;
  call_msg m;
  m.op = call_op::repair;
  m.ns = ns;
  m.epoch = sp.epoch;
  send_call(self, sp.primary, std::move(m), std::chrono::seconds(1), [](const reply_msg&) {});
}

void repair_replica(cluster_pointer self, const namespace_key& ns, const std::string& from) {
  auto& sp = space(self, ns);
  if (sp.mode != ns_mode::primary || sp.syncing.count(from) ||
      std::find(sp.replicas.begin(), sp.replicas.end(), from) == sp.replicas.end())
    return;
  if (sp.in_sync.count(from)) {
    // It does not serve, yet every batch waits for it here: it lost the
    // notice, or its copy since. Either way it leaves the set (writes then
    // confirm this leader, as when a replica fails) and catches up anew.
    spdlog::info("cluster: replica {} of '{}' reports its copy behind: it leaves the in-sync set", from,
                 display_name(ns));
    sp.in_sync.erase(from);
    sp.join_version = std::max(sp.join_version, sp.publish_version + 1);
  }
  self->state.local->metrics().read_repairs_total.fetch_add(1, std::memory_order_relaxed);
  start_catch_up(self, ns, from);
}

void replication_tick(cluster_pointer self) {
  auto& st = self->state;
  auto now = now_ms(self);
  for (auto it = st.catch_ups_running.begin(); it != st.catch_ups_running.end();)
    if (now - it->second > stuck_catch_up_ms) {
      spdlog::warn("cluster: catch-up {} has run for {} s; it no longer holds a slot", it->first,
                   (now - it->second) / 1000);
      it = st.catch_ups_running.erase(it);
    } else {
      ++it;
    }
  start_queued_catch_ups(self);
  std::vector<namespace_key> led;
  for (auto& [key, sp] : self->state.spaces)
    if (sp.mode == ns_mode::primary)
      led.push_back(key);
  for (const auto& key : led) {
    auto& sp = space(self, key);
    for (const auto& r : std::vector<std::string>(sp.replicas))
      if (!sp.in_sync.count(r) && !sp.syncing.count(r))
        start_catch_up(self, key, r);
    retire_former_replicas(self, key);
  }
}

} // namespace ferro::cluster
