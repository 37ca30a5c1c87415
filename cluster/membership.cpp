#include "cluster/membership.hpp"

#include <algorithm>
#include <utility>

namespace ferro::cluster {

namespace {

member_event event_of(member_event_kind kind, const member& m, member_status from) {
  return member_event{kind, m.node_id, from, m.status, m.generation, m.address, {}};
}

} // namespace

membership::membership(member self) : self_id_(self.node_id) {
  self.status = member_status::alive;
  members_.emplace(self_id_, std::move(self));
  publish();
}

const member& membership::self() const {
  return members_.find(self_id_)->second;
}

const member* membership::find(std::string_view node_id) const {
  auto it = members_.find(node_id);
  return it == members_.end() ? nullptr : &it->second;
}

const member& membership::beat() {
  auto& s = members_.find(self_id_)->second;
  ++s.heartbeat;
  return s;
}

void membership::leave() {
  auto& s = members_.find(self_id_)->second;
  s.status = member_status::left;
  ++s.heartbeat;
  publish();
}

std::vector<member_event> membership::merge(const std::vector<member>& gossip) {
  std::vector<member_event> events;
  for (const auto& m : gossip)
    if (auto e = merge_one(m))
      events.push_back(std::move(*e));
  // Also without events: a dead node's record can change address.
  publish();
  return events;
}

std::optional<member_event> membership::merge_one(const member& m) {
  if (m.node_id.empty())
    return std::nullopt;
  if (m.node_id == self_id_)
    return merge_self(m);
  auto it = members_.find(m.node_id);
  if (it == members_.end()) {
    members_.emplace(m.node_id, m);
    return event_of(member_event_kind::joined, m, m.status);
  }
  auto& known = it->second;
  if (!supersedes(m, known))
    return std::nullopt; // stale or repeated news
  if (m.address != known.address && is_live(known.status)) {
    // Two processes claim one id. Keeping the live one keeps placement
    // stable; the operator has to resolve the clash.
    auto e = event_of(member_event_kind::address_conflict, known, known.status);
    e.other_address = m.address;
    return e;
  }
  auto before = std::exchange(known, m);
  if (known.status != member_status::suspected)
    suspected_since_.erase(known.node_id);
  if (known.generation > before.generation)
    return event_of(member_event_kind::restarted, known, before.status);
  if (known.status != before.status)
    return event_of(member_event_kind::status_changed, known, before.status);
  return std::nullopt; // a newer heartbeat only
}

std::optional<member_event> membership::merge_self(const member& m) {
  auto& s = members_.find(self_id_)->second;
  if (m.address != s.address) {
    // A record of an earlier incarnation elsewhere is history; one at this
    // generation or later is another process using this node's id.
    if (m.generation < s.generation)
      return std::nullopt;
    auto e = event_of(member_event_kind::address_conflict, s, s.status);
    e.other_address = m.address;
    return e;
  }
  if (m.generation > s.generation ||
      (m.generation == s.generation && m.status == member_status::left && s.status != member_status::left)) {
    // Only a newer generation beats these records: a record of self from the
    // future (the generation source went backwards), or `left` while still
    // here. The caller must persist the new self().generation.
    auto rumour = m.status;
    s.generation = m.generation + 1;
    s.heartbeat = 0;
    return event_of(member_event_kind::refuted, s, rumour);
  }
  if (m.generation < s.generation || s.status == member_status::left)
    return std::nullopt;
  if (m.status != member_status::alive) {
    // A higher heartbeat at the same generation supersedes the rumour.
    s.heartbeat = std::max(s.heartbeat, m.heartbeat) + 1;
    return event_of(member_event_kind::refuted, s, m.status);
  }
  if (m.heartbeat > s.heartbeat)
    s.heartbeat = m.heartbeat + 1; // keep self's own record the newest
  return std::nullopt;
}

std::optional<member_event> membership::set_status(member& m, member_status to) {
  auto from = std::exchange(m.status, to);
  if (to != member_status::suspected)
    suspected_since_.erase(m.node_id);
  publish();
  return event_of(member_event_kind::status_changed, m, from);
}

std::optional<member_event> membership::suspect(std::string_view node_id, std::int64_t now_ms) {
  auto it = members_.find(node_id);
  if (it == members_.end() || it->first == self_id_ || it->second.status != member_status::alive)
    return std::nullopt;
  suspected_since_.insert_or_assign(it->first, now_ms);
  return set_status(it->second, member_status::suspected);
}

std::optional<member_event> membership::convict(std::string_view node_id) {
  auto it = members_.find(node_id);
  if (it == members_.end() || it->first == self_id_ || !is_live(it->second.status))
    return std::nullopt;
  return set_status(it->second, member_status::dead);
}

std::optional<member_event> membership::alive(std::string_view node_id) {
  auto it = members_.find(node_id);
  if (it == members_.end() || it->first == self_id_ || it->second.status != member_status::suspected)
    return std::nullopt;
  return set_status(it->second, member_status::alive);
}

std::optional<std::int64_t> membership::suspected_since(std::string_view node_id) const {
  auto it = suspected_since_.find(node_id);
  if (it == suspected_since_.end())
    return std::nullopt;
  return it->second;
}

std::vector<member> membership::gossip() const {
  std::vector<member> out;
  out.reserve(members_.size());
  for (const auto& [id, m] : members_)
    out.push_back(m);
  return out;
}

void membership::publish() {
  auto next = std::make_shared<cluster_view>();
  next->members.reserve(members_.size());
  for (const auto& [id, m] : members_)
    next->members.push_back({m.node_id, m.address, m.status, m.generation});
  next->view_epoch = view_ ? view_->view_epoch : 0;
  auto live = next->live_nodes();
  if (!view_ || live != live_) {
    ++next->view_epoch;
    live_ = std::move(live);
  }
  if (view_ && view_->view_epoch == next->view_epoch && view_->members == next->members)
    return;
  view_ = std::move(next);
}

} // namespace ferro::cluster
