#pragma once

// The cluster actor's state and the functions over it, shared by the files
// that implement its parts: cluster_membership.cpp (who is alive),
// cluster_election.cpp (who leads a namespace), cluster_replication.cpp
// (shipping and catch-up) and cluster_calls.cpp (requests between nodes).
// Everything here runs in the actor's context, one message at a time.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/typed_response_promise.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/actors.hpp"
#include "actors/node.hpp"
#include "cluster/edges/cluster_actor.hpp"
#include "cluster/edges/election_file.hpp"
#include "cluster/edges/election_record.hpp"
#include "cluster/member.hpp"
#include "cluster/phi_detector.hpp"
#include "cluster/placement.hpp"
#include "cluster/edges/peer_link.hpp"

namespace ferro::cluster {

using defer_atom = caf::atom_constant<caf::atom("defer")>;
using persist_atom = caf::atom_constant<caf::atom("persist")>;

/// A continuation run later on the actor (a retry after a pause).
struct deferred {
  std::function<void()> fn;
};

struct peer_member {
  std::string id;
  std::string address;
  std::uint64_t incarnation = 0;
  bool connected = false; ///< our outgoing connection is up
  member_status status = member_status::dead;
  std::int64_t next_dial_ms = 0;
  std::int64_t dial_backoff_ms = 0;
  std::int64_t last_heard_ms = 0; ///< newest heartbeat from it (arrival)
  std::uint64_t last_seq = 0;     ///< its newest heartbeat's counter (echoed back to it)
  std::int64_t echo_sent_ms = 0;  ///< when we sent the newest heartbeat it echoed
  bool convicts_us = false;       ///< its last heartbeat held this node dead
};

enum class ns_mode : std::uint8_t { none, follower, electing, primary };

/// This node's part in one namespace.
struct ns_state {
  ns_mode mode = ns_mode::none;
  std::uint64_t epoch = 0; ///< highest epoch granted or seen here
  // As primary:
  bool ready = false; ///< elected and past the first catch-up wait
  std::int64_t ready_deadline_ms = 0;
  /// Not ready before: the read lease a former leader may hold through
  /// echoes sent before the majority knew of this term has run out by
  /// then (INT64_MAX until the term's copy set is published).
  std::int64_t lease_out_ms = 0;
  std::vector<std::string> replicas; ///< placement's replicas, without this node
  std::set<std::string> in_sync;     ///< replicas every write waits for
  /// Replicas a catch-up is running for, with that catch-up's id: a job
  /// that ends clears only its own mark, not that of a newer job for the
  /// same replica (see start_catch_up).
  std::map<std::string, std::uint64_t> syncing;
  std::set<std::string> retiring; ///< former replicas to drop their copy once the new set is in sync
  std::uint64_t shipped_seq = 0;  ///< newest sequence number shipped live
  /// Requests held until ready, each until its deadline (the caller has
  /// given up by then: it must not take effect afterwards).
  std::deque<std::pair<std::int64_t, std::function<void(bool)>>> waiting;
  std::int64_t next_election_ms = 0;
  // As replica:
  std::string primary;               ///< who last sent records at our epoch
  bool local_in_sync = false;        ///< the primary declared this copy in sync
  bool holds_copy = false;           ///< this node has a copy (logged or recovered)
  bool hinted = false;               ///< a peer said placement makes this node the leader
  std::int64_t repair_asked_ms = -1; ///< when a read last asked the leader to catch this copy up
  /// The newest copy set a leader published here (itself and its in-sync
  /// replicas, at its epoch): every acknowledged write is on each of them,
  /// so an election must hear at least one (docs/cluster.md, "Elections").
  std::vector<std::string> holders;
  std::uint64_t holders_epoch = 0;
  std::uint64_t holders_version = 0; ///< orders the sets one leader publishes within its epoch
  encoded_election_record
      saved_election;                ///< its line of the election file, as last encoded (cluster_persist.cpp)
  std::uint64_t publish_version = 0; ///< as primary: the version of the newest set it published
  /// As primary: the version published when a replica last joined the
  /// in-sync set, and the newest version a majority confirmed. Until the
  /// join is confirmed, writes wait for a confirmation of their own: a
  /// deposed leader that does not know it yet could otherwise acknowledge
  /// writes with a replica that has not heard of the new epoch either.
  std::uint64_t join_version = 0;
  std::uint64_t confirmed_version = 0;
  bool published = false; ///< as primary: a majority knows this node's copy set
  /// As electing: the push that brings this copy up to the most advanced
  /// one (its source, call id, and the latest its deadline may move to).
  std::string push_source;
  std::uint64_t push_rid = 0;
  std::int64_t push_limit_ms = 0;
};

struct pending_call {
  std::string peer;
  std::int64_t deadline_ms = 0;
  std::function<void(const reply_msg&)> done;
};

/// A live batch waiting for the in-sync replicas.
struct pending_ship {
  caf::typed_response_promise<bool> promise;
  namespace_key ns;
  std::uint64_t epoch = 0;
  std::set<std::string> waiting;
  bool lost_replica = false; ///< a replica failed: confirm leadership before acking
  std::int64_t started_ms = 0;
};

/// A node without its election state on disk, recalling it from its peers
/// (cluster_recall.cpp).
struct recall_state {
  bool active = false;
  std::int64_t not_before_ms = 0; ///< an election timeout after the start
  std::set<std::string> answered; ///< peers whose state was merged
  std::set<std::string> asking;   ///< peers asked, no answer yet
  std::size_t fresh_answers = 0;  ///< of them: knowing nothing (no epoch, no copy set)
};

struct cluster_state {
  cluster_settings settings;
  node* local = nullptr;
  peer_link* link = nullptr;
  std::shared_ptr<cluster_board> board;
  std::int64_t started_ms = 0;
  bool settled = false;                       ///< past the start-up wait for seeds
  bool leased = false;                        ///< held a read lease at the last tick (see recheck_leadership)
  std::map<std::string, peer_member> members; ///< every peer ever seen (not this node)
  std::set<std::string> seed_addresses;       ///< without our own
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> seed_dials; ///< next dial, backoff
  phi_detector phi;
  std::int64_t last_tick_ms = 0; ///< the membership tick before this one (stall detection)
  std::uint64_t view_epoch = 0;
  std::uint64_t heartbeat_seq = 0;
  std::map<std::uint64_t, std::int64_t> heartbeat_sent_ms; ///< recent heartbeats by counter
  /// New terms (a leader's first published copy set) learned lately, with
  /// when: every heartbeat carries them (see heartbeat_msg::term_ns).
  std::map<namespace_key, std::pair<std::uint64_t, std::int64_t>> recent_terms;
  std::set<std::string> last_alive;
  std::map<namespace_key, ns_state> spaces;
  /// Namespaces reached through space() since the board last showed them:
  /// publish_changes shows those alone, so an event costs the lines it
  /// touched, not one per namespace (cluster_publish.cpp).
  std::set<namespace_key> unpublished;
  /// A flush_atom is queued (see space()): at most one at a time.
  bool flush_queued = false;
  std::map<std::uint64_t, pending_call> calls;
  std::uint64_t next_rid = 1;
  std::map<std::uint64_t, pending_ship> ships;
  std::uint64_t next_ship = 1;
  std::uint64_t next_catch_up = 1; ///< ids of catch-up jobs (ns_state::syncing)
  /// Catch-up jobs running, by id, with when each began: at most
  /// settings.max_catch_ups at once (cluster_replication.cpp).
  std::map<std::uint64_t, std::int64_t> catch_ups_running;
  /// Catch-ups waiting for a free slot, oldest first: [0] the replicas of a
  /// new term (writes wait for them up to replication_timeout), [1] the
  /// rest (re-replication after a node died, joins, repairs). A pair is
  /// queued once (catch_ups_queued).
  std::deque<std::pair<namespace_key, std::string>> catch_up_queue[2];
  std::set<std::pair<namespace_key, std::string>> catch_ups_queued;
  bool starting_queued_catch_ups = false;
  std::minstd_rand jitter{1}; ///< election back-off; seeded from settings.seed
  // Election state waiting for its grouped write (cluster_persist.cpp).
  bool persist_scheduled = false;
  std::vector<std::function<void(bool)>> persist_waiting;
  std::uint64_t persist_writes = 0;
  /// The election file (opened at start) and the size of every
  /// namespace's line in it as last encoded (ns_state::saved_election).
  std::optional<election_file> elections;
  std::size_t election_live_bytes = 0;
  recall_state recall;
  /// The ring of the members last asked about (ring_order): building one
  /// hashes every virtual node, and routing asks on every request.
  std::vector<std::string> ring_nodes;
  std::shared_ptr<const hash_ring> ring;
  static inline const char* name = "ferro.cluster";
};

using cluster_pointer = caf::stateful_actor<cluster_state>*;

/// The actor system's clock in milliseconds: steady time in production,
/// virtual time under CAF's test coordinator (deterministic runs).
std::int64_t now_ms(cluster_pointer self);
/// How long an election waits for the copy pushing to it while no records
/// come from that copy.
inline std::chrono::milliseconds push_idle(cluster_pointer self) {
  return 5 * self->state.settings.request_timeout;
}
const std::string& self_id(cluster_pointer self);

// ---- cluster_membership.cpp
void on_heartbeat(cluster_pointer self, const heartbeat_msg& hb);
void on_peer_up(cluster_pointer self, const std::string& id, std::uint64_t incarnation,
                const std::string& address);
void on_peer_down(cluster_pointer self, const std::string& id, const std::string& address);
void membership_tick(cluster_pointer self);
bool is_alive(cluster_pointer self, const std::string& id);
std::vector<std::string> alive_peers(cluster_pointer self);
/// Members the cluster is known to have, this node included (dead ones too):
/// the electorate majorities are counted in.
std::size_t cluster_size(cluster_pointer self);
/// The live nodes that should hold `ns`, its primary first.
std::vector<std::string> placement_of(cluster_pointer self, const namespace_key& ns);
/// Every live node in ring order for `ns` (placement first, then the rest).
std::vector<std::string> ring_order(cluster_pointer self, const namespace_key& ns);
/// Whether this node answers queries of `ns` from its own copy.
bool serves_reads(cluster_pointer self, const namespace_key& ns);
/// Whether its role lets this copy answer reads, the read lease aside (the
/// board judges the lease when it is read).
bool serves_by_role(cluster_pointer self, const ns_state& sp);
/// Until when (steady ms) this node may trust its own copies for reads: a
/// majority of the cluster was heard from within the lease (a few
/// heartbeat intervals, well under the time peers take to convict it). A
/// node that was paused or cut off wakes up without one.
std::int64_t read_lease_until(cluster_pointer self);
/// How long an echo renews a read lease: a few heartbeat intervals.
std::int64_t read_lease_ms(cluster_pointer self);
/// Records a new term of `ns` for the heartbeats to carry.
void note_new_term(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch);
/// The ring of every member this node knows, itself included (rebuilt
/// only when they change).
const std::shared_ptr<const hash_ring>& current_ring(cluster_pointer self);

// ---- cluster_publish.cpp
/// Publishes everything on the board: the members, the lease and every
/// namespace's line (at start, and when who is alive or placement changes).
void publish_board(cluster_pointer self);
/// Publishes the node-wide part (members, phi, lag, the backlog gauges),
/// the lease and the changed lines: on ticks. A line depends only on its namespace's state,
/// who is alive and placement, so a tick need not rebuild the others.
void publish_tick(cluster_pointer self);
/// Publishes the lease and the lines of the namespaces changed since the
/// board last showed them (cluster_state::unpublished): after every
/// message, and wherever a change must reach the I/O threads at once.
void publish_changes(cluster_pointer self);

// ---- cluster_persist.cpp
/// Writes every namespace's granted epoch and newest published copy set to
/// the data folder, durably; false (logged) when the disk refused.
bool save_election_state(cluster_pointer self);
/// Every namespace's granted epoch and newest published copy set, as kept.
election_records current_election_records(cluster_pointer self);
/// Takes the newer epoch and the newer copy set of each record.
void merge_election_records(cluster_pointer self, election_records records);
/// Reads them back at start; false when the file does not exist.
bool load_election_state(cluster_pointer self);
/// Runs `then(kept)` once the election state as it is now is on disk:
/// changes already queued in the mailbox share the write (persist_now runs
/// on the persist_atom this sends). Answer grants and copy sets only there.
void persist_then(cluster_pointer self, std::function<void(bool)> then);
void persist_now(cluster_pointer self);

// ---- cluster_recall.cpp
/// Starts recalling the election state from the peers (none on disk).
void begin_recall(cluster_pointer self);
/// Whether this node still recalls it: it grants and confirms nothing.
bool recalling(cluster_pointer self);
/// Asks the live peers not asked yet; ends the recall when it may.
void recall_tick(cluster_pointer self);
/// A peer asks for this node's election state (call_op::recall).
void answer_recall(cluster_pointer self, std::function<void(reply_msg)> reply);

// ---- cluster_calls.cpp
/// Returns the call's id (see keep_call_alive).
std::uint64_t send_call(cluster_pointer self, const std::string& peer, call_msg msg,
                        std::chrono::milliseconds timeout, std::function<void(const reply_msg&)> done);
/// Moves a pending call's deadline to `deadline_ms` if that is later: the
/// caller has seen the callee work on it.
void keep_call_alive(cluster_pointer self, std::uint64_t rid, std::int64_t deadline_ms);
void on_reply(cluster_pointer self, const reply_msg& reply);
void on_call(cluster_pointer self, call_msg msg);
void route(cluster_pointer self, routed_call rc);
void fail_calls_to(cluster_pointer self, const std::string& peer, const std::string& why);
void expire_calls(cluster_pointer self);
void defer(cluster_pointer self, std::chrono::milliseconds delay, std::function<void()> fn);

// ---- cluster_election.cpp
ns_state& space(cluster_pointer self, const namespace_key& ns);
/// Runs `fn(true)` once this node leads `ns` and is ready, electing it if
/// placement says it should lead; `fn(false)` when it must not.
void with_leadership(cluster_pointer self, const namespace_key& ns, std::function<void(bool)> fn);
void evaluate_placement(cluster_pointer self);
void step_down(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch);
/// The namespace's copy here could not log a batch it had shipped as
/// primary at `epoch` (its replicas may hold more than it does): it steps
/// down, and the next election, at a newer epoch, prefers a copy that
/// knows its lineage.
void resign(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch);
void election_tick(cluster_pointer self);
/// A prepare from another node: grant (fence this copy at `epoch`) or refuse.
void on_prepare(cluster_pointer self, const call_msg& msg, std::function<void(reply_msg)> reply);

// ---- cluster_replication.cpp
caf::result<bool> ship(cluster_pointer self, log_batch& batch);
/// Brings `target`'s copy of `ns` up to this node's, at `epoch`; `done`
/// gets the target's final position or the error that stopped it.
void sync_replica(cluster_pointer self, const namespace_key& ns, const std::string& target,
                  std::uint64_t epoch, std::function<void(result<ns_position>)> done);
/// Which queue a catch-up waits in when every slot is taken.
enum class catch_up_priority : std::uint8_t { new_term = 0, background = 1 };
/// Starts bringing `target` (a replica placement names) in sync with this
/// node's copy of `ns`, which it leads; or queues it when
/// settings.max_catch_ups are running. Nothing when one runs already.
void start_catch_up(cluster_pointer self, const namespace_key& ns, const std::string& target,
                    catch_up_priority priority = catch_up_priority::background);
/// Tells replica `target` whether its copy of `ns` is in sync at `epoch`
/// (in sync: it serves reads; not: it stops, and asks for repair on a
/// read). Fire and forget: a lost notice is made good by the next one, or
/// by the replica's own checks (primary alive, term notices).
void tell_in_sync(cluster_pointer self, const std::string& target, const namespace_key& ns,
                  std::uint64_t epoch, bool in_sync);
/// A new leader serves once a majority knows its copy set and every
/// replica placement names is in sync (or, on the election tick, once
/// cluster.replication_timeout_ms passed): called when either happens, so
/// that a new namespace's first write does not wait for the next tick.
void ready_if_in_sync(cluster_pointer self, const namespace_key& ns);
/// What a leader does with a majority's answer about its epoch (after an
/// election, or after regaining its read lease): step down when a newer one
/// exists, else its copy set is published and it serves once in sync.
void take_confirmation(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch, bool leading);
/// Read repair, follower side: a read found this copy behind; ask its
/// leader (at most once a second per namespace) to catch it up now.
void ask_for_repair(cluster_pointer self, const namespace_key& ns);
/// Read repair, leader side: `from` says its copy does not serve.
void repair_replica(cluster_pointer self, const namespace_key& ns, const std::string& from);
/// Tells former replicas to drop their copies once every current one is in sync.
void retire_former_replicas(cluster_pointer self, const namespace_key& ns);
/// Publishes this leader's copy set to every live node and asks whether its
/// epoch is still the newest; `done(true)` when a majority says yes.
void confirm_leadership(cluster_pointer self, const namespace_key& ns, std::uint64_t epoch,
                        std::function<void(bool)> done);
void replication_tick(cluster_pointer self);

} // namespace ferro::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::cluster::deferred)
