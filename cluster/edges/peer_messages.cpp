#include "cluster/edges/peer_messages.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>

#include "cluster/edges/peer_codec.hpp"

namespace ferro::cluster {

error reply_msg::err() const {
  // A code beyond one byte (a newer peer) is unknown, not its low byte.
  return error{code <= 0xff ? errc_from_wire(static_cast<std::uint8_t>(code)) : errc::internal, message};
}

reply_msg reply_msg::failure(std::uint64_t rid, const error& e) {
  reply_msg r;
  r.rid = rid;
  r.code = static_cast<std::uint16_t>(wire_code(e.code));
  r.message = e.message;
  return r;
}

void register_peer_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<heartbeat_msg>("ferro.heartbeat");
  cfg.add_message_type<call_msg>("ferro.call");
  cfg.add_message_type<reply_msg>("ferro.reply");
  cfg.add_message_type<std::vector<namespace_key>>("ferro.namespace_keys");
}

namespace {

template <class T>
status round_trip(caf::actor_system& sys, const char* name, const T& sample) {
  auto frame = encode_peer_message(sys, caf::make_message(sample));
  auto back = decode_peer_message(sys, frame);
  if (!back)
    return error{errc::internal, std::string("peer message self-test: ") + name + ": " + back.err().message};
  if (!back->template match_elements<T>() || !(back->template get_as<T>(0) == sample))
    return error{errc::internal,
                 std::string("peer message self-test: ") + name + " does not survive the wire"};
  return {};
}

} // namespace

status peer_self_test(caf::actor_system& sys) {
  namespace_key key{"model::3", "tenant", "conv"};
  heartbeat_msg hb{"n1", 77, {"n1@h1:4000", "n2@h2:4000"}, {"n3"}, 12, {"n2:11"}, {key}, {5}};
  call_msg call;
  call.rid = 9;
  call.from = "n2";
  call.op = call_op::follow;
  call.ns = key;
  call.epoch = 4;
  call.seq = 12;
  call.text = "uuid-1";
  log_record rec;
  rec.op = log_op::remove;
  rec.ns = key;
  rec.ns_seq = 12;
  rec.epoch = 4;
  rec.uuid = "uuid-1";
  rec.reason = removal_reason::deleted;
  call.batch.records.push_back(rec);
  call.ins.ns = key;
  call.ins.embedding = {0.5f, 0.25f};
  call.ins.ttl_seconds = 60;
  call.qry.max_error_rate = 0.05;
  reply_msg reply;
  reply.rid = 9;
  reply.code = 3;
  reply.message = "why";
  reply.pos = ns_position{true, 12, 4, 4, 3};
  reply.ins_reply.id = "x";
  reply.qry_reply.hit = true;
  reply.inv_reply.uuids = {"a"};
  reply.deleted = true;
  reply.keys = {key};
  for (auto st :
       {round_trip(sys, "heartbeat", hb), round_trip(sys, "call", call), round_trip(sys, "reply", reply)})
    if (!st)
      return st;
  return {};
}

} // namespace ferro::cluster
