#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <functional>

#include <caf/actor.hpp>

#include "cluster/edges/peer_link.hpp"

/// The simulated network the cluster actors of a simulation talk through:
/// every frame, dial and lost connection is an event at a virtual time,
/// chosen by one seeded generator. Single-threaded: everything runs inside
/// the simulation loop (CAF's test coordinator).
namespace ferro::sim {

struct net_faults {
  double loss = 0;      ///< probability a frame is dropped (the connection then breaks: TCP semantics)
  int min_delay_ms = 1; ///< one-way delay, uniform in [min, max]
  int max_delay_ms = 5;
};

class sim_network {
public:
  explicit sim_network(std::uint64_t seed) : rng_(seed) {}

  void add_node(const std::string& id, const std::string& address, caf::actor cluster_actor,
                std::uint64_t incarnation);
  /// A link for node `id` (the cluster actor's peer_link).
  std::unique_ptr<cluster::peer_link> link_for(const std::string& id);

  void set_faults(net_faults f) { faults_ = f; }
  /// Cuts (or restores) both directions between two nodes: open connections
  /// break, dials fail.
  void cut(const std::string& a, const std::string& b, bool cut_off);
  /// Cuts (or restores) one direction: `from` can neither dial `to` nor use
  /// the connection it dialed to it (it breaks), while `to` still dials and
  /// uses its own connection to `from`. The transport sends only on
  /// connections it dialed, so each direction is its own connection.
  void cut_one_way(const std::string& from, const std::string& to, bool cut_off);
  /// A node stopped (SIGSTOP) or resumed. While stopped, nothing reaches it
  /// (frames and connection events wait, in order, as in a socket buffer)
  /// and nothing it does reaches the network (its sends, dials and hang-ups
  /// wait too). On resume all of it happens, in order; frames of a
  /// connection the peer gave up on meanwhile are lost with it.
  void set_paused(const std::string& id, bool paused);
  bool paused(const std::string& id) const { return paused_.count(id) > 0; }
  void heal_all();
  /// A crashed node (true) or one back (false): while down, every
  /// connection to or from it is broken and dials to it fail.
  void set_down(const std::string& id, bool down);

  /// Delivers every event due at or before `now_ms` to the actors.
  void deliver_due(std::int64_t now_ms);
  void set_now(std::int64_t now_ms) { now_ = now_ms; }

  std::uint64_t trace_hash() const { return trace_; }
  std::uint64_t frames_delivered() const { return delivered_; }
  std::uint64_t frames_dropped() const { return dropped_; }

  // Called by the links.
  void connect(const std::string& from, const std::string& address);
  bool send(const std::string& from, const std::string& to, std::string frame);
  void disconnect(const std::string& from, const std::string& to);

private:
  enum class kind : std::uint8_t { frame, up, down };
  struct event {
    std::int64_t at = 0;
    std::uint64_t order = 0; ///< ties broken by scheduling order: deterministic
    kind what = kind::frame;
    std::string to, from, payload; ///< payload: frame bytes, or the address for up/down
    std::uint64_t incarnation = 0;
    std::uint64_t generation = 0; ///< frames of a connection that broke meanwhile are lost
    bool operator>(const event& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  struct node_entry {
    std::string address;
    caf::actor actor;
    std::uint64_t incarnation = 0;
  };

  /// `from` can reach `to`: no cut either way, no one-way cut from -> to, both up.
  bool reachable(const std::string& from, const std::string& to) const;
  std::int64_t delay();
  void schedule(event e);
  void break_connection(const std::string& a, const std::string& b);
  void mix(std::uint64_t v);

  std::mt19937_64 rng_;
  net_faults faults_;
  std::int64_t now_ = 0;
  std::uint64_t order_ = 0;
  std::map<std::string, node_entry> nodes_;
  std::set<std::pair<std::string, std::string>> cuts_;    ///< unordered pairs, stored sorted
  std::set<std::pair<std::string, std::string>> one_way_; ///< (from, to) cut
  std::set<std::string> down_;                            ///< crashed nodes
  std::set<std::string> paused_;                          ///< stopped nodes
  /// What reached a stopped node, and what it did, in order, until it resumes.
  std::map<std::string, std::vector<event>> held_in_;
  std::map<std::string, std::vector<std::function<void()>>> held_out_;
  std::set<std::pair<std::string, std::string>> connections_;           ///< (dialer, dialed) that are up
  std::map<std::pair<std::string, std::string>, std::int64_t> last_at_; ///< FIFO per direction
  std::map<std::pair<std::string, std::string>, std::uint64_t> generation_;
  std::map<std::pair<std::string, std::string>, std::int64_t> control_at_; ///< (node, peer address): FIFO
  std::priority_queue<event, std::vector<event>, std::greater<event>> queue_;
  std::uint64_t trace_ = 1469598103934665603ull;
  std::uint64_t delivered_ = 0;
  std::uint64_t dropped_ = 0;
};

} // namespace ferro::sim
