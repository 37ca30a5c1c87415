#pragma once

#include <functional>
#include <memory>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include "cluster/edges/cluster_board.hpp"
#include "cluster/edges/cluster_settings.hpp"
#include "cluster/edges/peer_link.hpp"
#include "cluster/edges/peer_messages.hpp"

namespace ferro {
class node;
} // namespace ferro

namespace ferro::cluster {

using frame_atom = caf::atom_constant<caf::atom("frame")>;
using peer_up_atom = caf::atom_constant<caf::atom("peerup")>;
using peer_down_atom = caf::atom_constant<caf::atom("peerdown")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using route_atom = caf::atom_constant<caf::atom("route")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
/// Shows the I/O threads the namespaces changed since the last message
/// (queued by space(); cluster_publish.cpp).
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// A read found this node's copy of a namespace behind (read repair).
using repair_atom = caf::atom_constant<caf::atom("repair")>;

/// Sent once the local node has started: the actor begins dialing,
/// heartbeating and electing.
struct cluster_start {
  node* local = nullptr;
};

/// A request from this node's HTTP layer, routed by the cluster actor; `done`
/// runs exactly once, on whatever thread produced the answer.
struct routed_call {
  call_msg call;
  std::function<void(reply_msg)> done;
};

/// A frame from peer `from` that the transport's thread already decoded
/// (the raw bytes arrive as frame_atom, from the simulator and when
/// decoding failed, so that the actor logs the refusal).
struct peer_frame {
  std::string from;
  caf::message msg;
};

/// Spawns the node's cluster actor: membership (heartbeats, phi accrual),
/// placement, elections of namespace primaries, replication to the replicas
/// and their catch-up, and the routing of requests between nodes
/// (docs/cluster.md). It is spawned before the node (whose primaries ship
/// to it) and idles until `cluster_start` names the started node. `link`
/// and the node must outlive it.
caf::actor spawn_cluster_actor(caf::actor_system& sys, cluster_settings settings, peer_link* link,
                               std::shared_ptr<cluster_board> board);

} // namespace ferro::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::cluster::routed_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::cluster::cluster_start)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ferro::cluster::peer_frame)
