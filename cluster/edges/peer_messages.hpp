#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/wire_types.hpp"

/// What nodes say to each other (docs/cluster.md, "Protocol"). Three message
/// shapes travel in peer frames (cluster/edges/peer_codec): a heartbeat, a
/// call (a request with an id, one of `call_op`) and the reply to a call.
/// A call carries only the fields its op uses; the rest stay empty.
namespace ferro::cluster {

/// Sent every cluster.heartbeat_interval_ms to every connected peer: feeds
/// the receiver's phi detector and spreads membership (peers dial the
/// addresses they learn here).
struct heartbeat_msg {
  std::string from;
  std::uint64_t incarnation = 0;
  std::vector<std::string> members;   ///< "node_id@host:port" of every member the sender knows
  std::vector<std::string> convicted; ///< ids the sender holds dead
  std::uint64_t seq = 0;              ///< the sender's heartbeat counter
  /// "node_id:seq": the newest heartbeat the sender received from each
  /// peer. A node learns from the echo of its own heartbeat that the peer
  /// heard it then (by its own clock): that, not the arrival of a frame
  /// that may have waited in a buffer, is what renews its read lease.
  std::vector<std::string> echoes;
  /// New terms the sender learned of lately: `term_ns[i]` has a leader at
  /// `term_epochs[i]`, which published its copy set to a majority. A leader
  /// or in-sync replica of an older epoch that hears of one stops serving
  /// that namespace before it takes the echoes of the same heartbeat as a
  /// renewal of its read lease (see take_term_notices).
  std::vector<namespace_key> term_ns;
  std::vector<std::uint64_t> term_epochs;

  friend bool operator==(const heartbeat_msg&, const heartbeat_msg&) = default;
};

enum class call_op : std::uint8_t {
  insert = 1,      ///< ins -> ins_reply (at the namespace's primary)
  query = 2,       ///< qry -> qry_reply (at a node holding an in-sync copy)
  invalidate = 3,  ///< inv -> inv_reply (at the primary)
  feedback = 4,    ///< fb (at the primary)
  locate = 5,      ///< text = uuid -> keys: namespaces whose copy here holds it
  remove = 6,      ///< ns, text = uuid -> deleted (at the primary)
  prepare = 7,     ///< ns, epoch -> pos, message = newest published copy set "epoch.version|a,b"; the
                   ///< receiver refuses older epochs from now on
  follow = 8,      ///< ns, epoch, batch -> pos (a replica logs and applies the records)
  reset = 9,       ///< ns, epoch, seq = next sequence number -> pos (a replica drops its copy)
  position = 10,   ///< ns -> pos
  push = 11,       ///< ns, epoch, text = target: bring target up to this copy -> pos of target
  in_sync = 12,    ///< ns, epoch, seq = 1|0: the primary says the receiver is (not) in sync; no reply
  owner_hint = 13, ///< ns: the receiver should be this namespace's primary now; no reply
  confirm = 14,    ///< ns, epoch, seq = version, text = copy set -> pos: is `epoch` still the newest
                   ///< one the receiver knows? (the receiver keeps the newest (epoch, version) set)
  retire = 15,     ///< ns, epoch: placement no longer names the receiver; drop its copy -> pos
  repair = 16,     ///< ns: a read found the sender's copy behind; its leader catches it up now; no reply
  recall = 17,     ///< -> message = the receiver's election state (docs/formats.md; cluster_recall.cpp)
};

struct call_msg {
  std::uint64_t rid = 0; ///< 0: no reply expected
  std::string from;
  call_op op = call_op::position;
  namespace_key ns;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  std::string text;
  log_batch batch;
  insert_request ins;
  query_request qry;
  invalidate_request inv;
  feedback_request fb;

  friend bool operator==(const call_msg&, const call_msg&) = default;
};

struct reply_msg {
  std::uint64_t rid = 0;
  std::uint16_t code = 0; ///< 0: success; else the wire number of an errc
  std::string message;
  ns_position pos;
  insert_reply ins_reply;
  query_reply qry_reply;
  invalidate_reply inv_reply;
  bool deleted = false;
  std::vector<namespace_key> keys;

  bool ok() const { return code == 0; }
  error err() const;
  static reply_msg failure(std::uint64_t rid, const error& e);

  friend bool operator==(const reply_msg&, const reply_msg&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, heartbeat_msg& x) {
  return f(caf::meta::type_name("ferro.heartbeat"), x.from, x.incarnation, x.members, x.convicted, x.seq,
           x.echoes, x.term_ns, x.term_epochs);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, call_msg& x) {
  return f(caf::meta::type_name("ferro.call"), x.rid, x.from, x.op, x.ns, x.epoch, x.seq, x.text, x.batch,
           x.ins, x.qry, x.inv, x.fb);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reply_msg& x) {
  return f(caf::meta::type_name("ferro.reply"), x.rid, x.code, x.message, x.pos, x.ins_reply, x.qry_reply,
           x.inv_reply, x.deleted, x.keys);
}

/// Registers the peer messages (on top of register_wire_types).
void register_peer_types(caf::actor_system_config& cfg);

/// Round-trips a sample of each peer message through the codec; run at
/// start-up of a clustered node.
status peer_self_test(caf::actor_system& sys);

} // namespace ferro::cluster
