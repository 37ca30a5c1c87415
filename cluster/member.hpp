#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/defaults.hpp"

namespace ferro::cluster {

/// Ordered by severity: at equal (generation, heartbeat) the later one wins.
enum class member_status : std::uint8_t { alive, suspected, dead, left };

std::string_view to_string(member_status s);

/// Alive or suspected: still a holder of data (placement counts it).
constexpr bool is_live(member_status s) {
  return s == member_status::alive || s == member_status::suspected;
}

/// One node's record as gossiped between nodes.
struct member {
  std::string node_id;
  std::string address;          ///< host:port of its cluster port
  std::uint64_t generation = 0; ///< incarnation: grows on every restart
  std::uint64_t heartbeat = 0;  ///< bumped by its owner
  member_status status = member_status::alive;

  friend bool operator==(const member&, const member&) = default;
};

/// True when `a` is newer news than `b` about one node. The order, from the
/// most significant: higher generation; at one generation `left` (final for
/// that generation); higher heartbeat; more severe status.
bool supersedes(const member& a, const member& b);

/// The local detector's verdict for a phi value: dead at 2 x threshold or
/// more, suspected at threshold or more, alive below.
member_status status_for_phi(double phi, double phi_threshold = defaults::cluster::phi_threshold);

} // namespace ferro::cluster
