#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <caf/fwd.hpp>

#include "cluster/edges/cluster_board.hpp"
#include "cluster/edges/peer_link.hpp"
#include "cluster/edges/peer_messages.hpp"

namespace ferro::cluster {

/// Sends a query this node cannot answer from its own copy straight to the
/// first live peer in ring order, from the calling (I/O) thread, and hands
/// the reply to the caller from the transport's thread: the cluster actor
/// is not on the path. That peer is the one the actor would ask first; any
/// other outcome (it refuses, no reply in time, its connection drops) falls
/// back to the actor's route, which asks the candidates in turn and knows
/// when no copy may answer. Forwarded reads cost two thread hops fewer,
/// which on a loaded machine is most of what forwarding costs.
class read_forwarder {
public:
  using reply_fn = std::function<void(reply_msg)>;
  /// Routes a call through the cluster actor (the slow, complete path).
  using fallback_fn = std::function<void(call_msg, reply_fn)>;
  /// Runs a function after a delay on some thread of the transport.
  using timer_fn = std::function<void(std::chrono::milliseconds, std::function<void()>)>;

  read_forwarder(caf::actor_system& sys, std::shared_ptr<cluster_board> board, std::string self_id,
                 std::chrono::milliseconds timeout)
      : sys_(&sys), board_(std::move(board)), self_id_(std::move(self_id)), timeout_(timeout) {}

  /// Names the link, the timer and the fallback (the link exists only
  /// after the transport started); call before the first forward().
  void wire(peer_link* link, timer_fn after, fallback_fn fallback);

  /// Sends `call` (a query) to its first reader, or through the fallback
  /// when there is no live peer to ask or the link refuses the frame.
  /// `done` runs exactly once, on whichever thread has the answer.
  void forward(call_msg call, reply_fn done);

  /// True when `msg` (a decoded frame) is the reply to a forwarded read:
  /// it is consumed here, and stale ones (after a fallback) are dropped.
  bool try_complete(const caf::message& msg);

  /// The connection to `peer` broke: its reads fall back now rather than
  /// at their deadline.
  void peer_down(const std::string& peer);

  /// Reply ids of forwarded reads have this bit set; the actor's own calls
  /// count up from 1 and never reach it.
  static constexpr std::uint64_t rid_bit = std::uint64_t{1} << 63;

private:
  struct pending {
    std::string peer;
    call_msg call;
    reply_fn done;
  };
  bool take(std::uint64_t rid, pending& out);
  void fall_back(pending p);

  caf::actor_system* sys_;
  std::shared_ptr<cluster_board> board_;
  std::string self_id_;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> wired_{false}; ///< set once, after link_, after_ and fallback_
  peer_link* link_ = nullptr;
  timer_fn after_;
  fallback_fn fallback_;
  std::atomic<std::uint64_t> next_rid_{rid_bit | 1};
  std::mutex mtx_;
  std::unordered_map<std::uint64_t, pending> pending_;
};

} // namespace ferro::cluster
