#pragma once

#include <cstdint>
#include <string_view>

#include "common/defaults.hpp"

namespace ferro::cluster {

/// What this node believes of a peer. Ordered by severity.
enum class member_status : std::uint8_t { alive, suspected, dead };

std::string_view to_string(member_status s);

/// Alive or suspected: still a holder of data (placement counts it).
constexpr bool is_live(member_status s) {
  return s == member_status::alive || s == member_status::suspected;
}

/// The local detector's verdict for a phi value: dead at 2 x threshold or
/// more, suspected at threshold or more, alive below.
member_status status_for_phi(double phi, double phi_threshold = defaults::cluster::phi_threshold);

} // namespace ferro::cluster
