#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_view.hpp"
#include "cluster/member.hpp"

namespace ferro::cluster {

enum class member_event_kind {
  joined,           ///< first record of a node
  status_changed,   ///< same generation, another status
  restarted,        ///< a newer generation replaced the record
  address_conflict, ///< a claim on a live node's id from another address, rejected
  refuted,          ///< a rumour about self was answered by bumping self
};

struct member_event {
  member_event_kind kind = member_event_kind::joined;
  std::string node_id;
  member_status from = member_status::alive; ///< status before (joined: as `to`)
  member_status to = member_status::alive;   ///< status after
  std::uint64_t generation = 0;              ///< generation held after the event
  std::string address;                       ///< address held after the event
  std::string other_address;                 ///< address_conflict: the rejected claim's

  friend bool operator==(const member_event&, const member_event&) = default;
};

/// The member table of one node: itself plus every node it has heard of.
/// Pure: no clocks, no I/O. Not thread-safe; readers on other threads use
/// the published `view()`.
class membership {
public:
  /// `self.generation` must grow on every restart of the node (the caller
  /// persists or derives it); self starts alive.
  explicit membership(member self);

  const member& self() const;
  /// A node's record, or nullptr.
  const member* find(std::string_view node_id) const;

  /// Owner's heartbeat: bumps self's heartbeat; returns the new record.
  const member& beat();
  /// Owner leaves gracefully: self becomes `left` (final for its generation).
  void leave();

  /// Merges gossip records one by one. Per node the record that supersedes
  /// (see `supersedes`) wins, so for records that agree on each node's
  /// address the result does not depend on order or repetition. Records
  /// about self never overwrite self: a suspected/dead/left rumour at self's
  /// generation, or a record of self at a newer generation from self's
  /// address, is refuted by bumping self. A superseding record for a live node from another address
  /// is rejected as an address_conflict (first come, first kept); so is one
  /// for self at self's generation or newer.
  std::vector<member_event> merge(const std::vector<member>& gossip);

  /// Local detector verdicts (see `status_for_phi`); none applies to self or
  /// unknown nodes. suspect: alive -> suspected. convict: alive or suspected
  /// -> dead. alive: suspected -> alive; a dead node comes back only through
  /// a newer record. Each returns the event, or nothing if nothing changed.
  std::optional<member_event> suspect(std::string_view node_id, std::int64_t now_ms);
  std::optional<member_event> convict(std::string_view node_id);
  std::optional<member_event> alive(std::string_view node_id);

  /// When this node started suspecting `node_id` (`suspect`'s now_ms), while
  /// the node is still suspected.
  std::optional<std::int64_t> suspected_since(std::string_view node_id) const;

  /// Every record, self included, sorted by node_id: what to gossip.
  std::vector<member> gossip() const;

  /// The current view; a new object after every change that shows in it.
  std::shared_ptr<const cluster_view> view() const { return view_; }

private:
  std::optional<member_event> merge_one(const member& m);
  std::optional<member_event> merge_self(const member& m);
  std::optional<member_event> set_status(member& m, member_status to);
  void publish();

  std::string self_id_;
  std::map<std::string, member, std::less<>> members_; // self included
  std::map<std::string, std::int64_t, std::less<>> suspected_since_;
  std::vector<std::string> live_;
  std::shared_ptr<const cluster_view> view_;
};

} // namespace ferro::cluster
