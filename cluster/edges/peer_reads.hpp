#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <caf/fwd.hpp>

#include "cluster/edges/cluster_board.hpp"
#include "cluster/edges/peer_link.hpp"

namespace ferro {
class node;
} // namespace ferro

namespace ferro::cluster {

/// Answers a peer's forwarded query on the thread that received its frame,
/// when this node serves reads of the namespace (the rule the board
/// publishes: leader, or in-sync replica, under a live read lease). This is
/// the peer's side of the I/O-thread fast path a local query takes: without
/// it a forwarded query crossed the cluster actor twice more (in and out),
/// and the actor answered it inline anyway, so the search cost lands on one
/// thread either way. Everything else, refusals included, stays with the
/// actor, which knows why a copy does not serve.
class peer_reads {
public:
  peer_reads(caf::actor_system& sys, std::shared_ptr<cluster_board> board)
      : sys_(&sys), board_(std::move(board)) {}

  /// The link replies go out on (it wraps the transport whose thread calls
  /// try_answer, so it comes second), and the started node. Until both are
  /// named (and after detach) nothing is answered here.
  void set_link(peer_link* link) { link_.store(link); }
  void attach(node* local) { local_.store(local); }
  void detach() { local_.store(nullptr); }

  /// True when `msg` (a decoded frame from peer `from`) was a query this
  /// node answered; false leaves it to the cluster actor.
  bool try_answer(const std::string& from, const caf::message& msg);

private:
  caf::actor_system* sys_;
  std::shared_ptr<cluster_board> board_;
  std::atomic<peer_link*> link_{nullptr};
  std::atomic<node*> local_{nullptr};
};

} // namespace ferro::cluster
