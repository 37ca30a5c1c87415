// A node that starts without its election state (`cluster-elections`: a
// replaced or wiped disk, or a node that never had one) does not know which
// epochs it granted or which copy sets it was told before. Granting again
// could hand one epoch to two leaders (an election that counted this node's
// old grant, and one that counts its new one), and confirming a leader
// could vouch for one deposed by an election it forgot. So until it has
// recalled that state from its peers it grants nothing and confirms
// nothing ("recalling"; docs/cluster.md, "Elections").
//
// Recalled when both hold:
// - it has the election state of N - floor(N/2) other members (N: members,
//   this node included; 2 of the others in a 3-node cluster, 3 of 4 in a
//   5-node one). An epoch that won had grants from a majority, so from at
//   least floor(N/2) other nodes, each of which kept its grant on disk
//   before answering; any N - floor(N/2) of the N - 1 others include one of
//   them. (Two disks lost at once are beyond this: their grants are gone
//   with them.)
// - an election timeout has passed since it started, so that every
//   election that was under way when it lost its state has concluded: a
//   grant that a peer writes after answering the recall belongs to an
//   election that could not have counted it in time.
// A brand-new cluster needs neither wait: when every other member answers
// that it knows nothing (no epoch, no copy set), no node remembers a grant,
// and a grant is on disk before it is answered: none was ever given that
// could be given twice.

#include <spdlog/spdlog.h>

#include "cluster/edges/cluster_state.hpp"
#include "cluster/edges/election_record.hpp"

namespace ferro::cluster {

namespace {

void finish(cluster_pointer self, const char* how) {
  auto& rc = self->state.recall;
  rc.active = false;
  spdlog::info("cluster: {} recalled its election state from {} peers ({}); it grants again", self_id(self),
               rc.answered.size(), how);
  // On disk before anything relies on it (and so that a crash now does not
  // start the recall over from nothing).
  persist_then(self, [](bool) {});
  // Requests that waited for an election (new namespaces) get one now.
  election_tick(self);
}

void check_done(cluster_pointer self) {
  auto& st = self->state;
  auto& rc = st.recall;
  if (!rc.active || !st.settled)
    return;
  // Members seen so far, and at least the configured seeds: a node back
  // with an empty disk may not have heard of a member that is down.
  const auto n = std::max(cluster_size(self), st.seed_addresses.size() + 1);
  const auto others = n - 1;
  if (others == 0 || (rc.answered.size() == others && rc.fresh_answers == others)) {
    finish(self, "a new cluster");
    return;
  }
  if (rc.answered.size() >= n - n / 2 && now_ms(self) >= rc.not_before_ms)
    finish(self, "a quorum of them, after an election timeout");
}

} // namespace

void begin_recall(cluster_pointer self) {
  auto& rc = self->state.recall;
  rc.active = true;
  rc.not_before_ms = now_ms(self) + self->state.settings.replication_timeout.count();
  // Not only a missing file: a damaged or unreadable one is logged as such
  // by load_election_state before this.
  spdlog::info("cluster: {} has no whole election state on disk; it grants nothing until it recalls it "
               "from its peers",
               self_id(self));
}

bool recalling(cluster_pointer self) {
  return self->state.recall.active;
}

void recall_tick(cluster_pointer self) {
  auto& rc = self->state.recall;
  if (!rc.active || !self->state.settled)
    return;
  check_done(self);
  if (!rc.active)
    return;
  for (const auto& peer : alive_peers(self)) {
    if (rc.answered.count(peer) || rc.asking.count(peer))
      continue;
    rc.asking.insert(peer);
    call_msg ask;
    ask.op = call_op::recall;
    // A short deadline: a peer whose cluster actor has not started yet
    // drops the frame, and the question is asked again at the next tick
    // rather than after a whole request timeout (10 s).
    send_call(self, peer, std::move(ask), 2 * self->state.settings.heartbeat_interval,
              [self, peer](const reply_msg& r) {
                auto& rc = self->state.recall;
                rc.asking.erase(peer);
                if (!rc.active || !r.ok() || rc.answered.count(peer))
                  return; // asked again at the next tick
                bool damaged = false;
                auto records = decode_election_records(r.message, damaged);
                if (!records || damaged) {
                  spdlog::warn("cluster: {} got damaged election state from {}", self_id(self), peer);
                  return;
                }
                bool fresh = records->empty();
                merge_election_records(self, std::move(records.value()));
                rc.answered.insert(peer);
                rc.fresh_answers += fresh ? 1 : 0;
                check_done(self);
              });
  }
}

void answer_recall(cluster_pointer self, std::function<void(reply_msg)> reply) {
  reply_msg m;
  m.message = encode_election_records(current_election_records(self));
  reply(std::move(m));
}

} // namespace ferro::cluster
