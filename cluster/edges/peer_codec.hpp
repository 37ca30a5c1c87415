#pragma once

#include <string>
#include <string_view>

#include <caf/fwd.hpp>

#include "cluster/edges/peer_link.hpp"
#include "cluster/edges/peer_messages.hpp"
#include "common/status.hpp"

namespace ferro::cluster {

/// The payload of one peer frame: a CAF message serialised with CAF's binary
/// serialiser (the inspect() overloads of actors/wire_types.hpp), so peer
/// messages are the same typed values the actors exchange locally.
std::string encode_peer_message(caf::actor_system& sys, const caf::message& msg);

/// The message in a frame from a peer. Anything else is refused with
/// errc::bad_request and a reason fit for a log line: bytes that do not
/// decode, a type this node has not registered, trailing bytes, an empty
/// message. Never throws, whatever the bytes.
result<caf::message> decode_peer_message(caf::actor_system& sys, std::string_view frame);

/// Sends `reply` to peer `to`. One that cannot be sent (no connection, a
/// full queue) is dropped and logged at debug: its caller times out.
void send_reply(caf::actor_system& sys, peer_link& link, const std::string& to, reply_msg reply);

} // namespace ferro::cluster
