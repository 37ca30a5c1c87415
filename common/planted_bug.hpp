#pragma once

// Bugs planted on purpose, to prove that the simulator's checkers catch
// what they claim to (docs/simulation.md, "Proof that the checkers bite").
//
// Only the simulator's own copy of the node and cluster code is compiled
// with FERRO_PLANTED_BUGS (CMakeLists.txt: the *_sim libraries), and only
// `ferrocache-sim --break NAME` switches one on. In the server, planted()
// is a constant false: the branches it guards are compiled away.

#include <string_view>

namespace ferro {

enum class planted_bug {
  none,
  ack_before_replication,        ///< a primary answers before its replicas hold the write
  no_epoch_fencing,              ///< replicas take records from deposed leaders
  apply_removal_before_durable,  ///< a removal leaves the index before it is durable (logged, and held by the
                                 ///< replicas in sync)
  ignore_scope,                  ///< tenants (cache_scope) of one model share one namespace
  keep_lead_after_failed_append, ///< a primary whose log failed a batch it had shipped keeps leading
  append_after_torn_line,        ///< the election file's first save after a start appends (after a torn line)
  leak_answered_calls,           ///< a call to a peer stays in the pending table after its answer
};

#ifdef FERRO_PLANTED_BUGS
/// The bug switched on for this process (defined in sim/planted_bug.cpp).
extern planted_bug active_planted_bug;
inline bool planted(planted_bug b) {
  return active_planted_bug == b;
}
#else
constexpr bool planted(planted_bug) {
  return false;
}
#endif

} // namespace ferro
