#include "cluster/edges/peer_reads.hpp"

#include <caf/message.hpp>

#include "actors/node.hpp"
#include "cluster/edges/peer_codec.hpp"
#include "cluster/edges/peer_messages.hpp"

namespace ferro::cluster {

bool peer_reads::try_answer(const std::string& from, const caf::message& msg) {
  if (!msg.match_elements<call_msg>())
    return false;
  const auto& call = msg.get_as<call_msg>(0);
  if (call.op != call_op::query || call.rid == 0)
    return false;
  auto* local = local_.load();
  auto* link = link_.load();
  if (local == nullptr || link == nullptr || !board_->servable(call.qry.ns))
    return false;
  auto* sys = sys_;
  local->query(call.qry, [link, sys, from, rid = call.rid](result<query_reply> r) {
    auto reply = r ? reply_msg{} : reply_msg::failure(rid, r.err());
    reply.rid = rid;
    if (r)
      reply.qry_reply = std::move(r.value());
    send_reply(*sys, *link, from, std::move(reply));
  });
  return true;
}

} // namespace ferro::cluster
