#include "cluster/member.hpp"

#include <tuple>

namespace ferro::cluster {

std::string_view to_string(member_status s) {
  switch (s) {
    case member_status::alive:
      return "alive";
    case member_status::suspected:
      return "suspected";
    case member_status::dead:
      return "dead";
    case member_status::left:
      return "left";
  }
  return "unknown";
}

namespace {

auto order_key(const member& m) {
  return std::tuple{m.generation, m.status == member_status::left, m.heartbeat, static_cast<int>(m.status)};
}

} // namespace

bool supersedes(const member& a, const member& b) {
  return order_key(a) > order_key(b);
}

member_status status_for_phi(double phi, double phi_threshold) {
  if (phi >= 2 * phi_threshold)
    return member_status::dead;
  if (phi >= phi_threshold)
    return member_status::suspected;
  return member_status::alive;
}

} // namespace ferro::cluster
