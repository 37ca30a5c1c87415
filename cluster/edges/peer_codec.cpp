#include "cluster/edges/peer_codec.hpp"

#include <exception>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <spdlog/spdlog.h>

namespace ferro::cluster {

std::string encode_peer_message(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  // Only registered wire types reach here (the start-up self-test checked
  // them), so serialising cannot fail short of a bug: it would yield an
  // empty frame, which the receiver refuses.
  if (sink(const_cast<caf::message&>(msg)))
    return {};
  return std::string(buf.begin(), buf.end());
}

result<caf::message> decode_peer_message(caf::actor_system& sys, std::string_view frame) {
  if (frame.empty())
    return error{errc::bad_request, "empty peer frame"};
  caf::message msg;
  try {
    caf::binary_deserializer source{sys, frame.data(), frame.size()};
    if (auto err = source(msg))
      return error{errc::bad_request, "peer frame does not decode: " + sys.render(err)};
    if (source.remaining() != 0)
      return error{errc::bad_request,
                   "peer frame has " + std::to_string(source.remaining()) + " bytes after its message"};
  } catch (const std::exception& e) {
    // CAF's deserialiser may throw (an unknown type's factory, a huge
    // length): a peer's bytes never take the node down.
    return error{errc::bad_request, std::string("peer frame does not decode: ") + e.what()};
  }
  if (msg.empty())
    return error{errc::bad_request, "peer frame holds an empty message"};
  return msg;
}

void send_reply(caf::actor_system& sys, peer_link& link, const std::string& to, reply_msg reply) {
  auto rid = reply.rid;
  if (!link.send(to, encode_peer_message(sys, caf::make_message(std::move(reply)))))
    spdlog::debug("cluster: reply {} to {} lost: no connection (the caller times out)", rid, to);
}

} // namespace ferro::cluster
