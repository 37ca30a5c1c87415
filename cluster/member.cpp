#include "cluster/member.hpp"

namespace ferro::cluster {

std::string_view to_string(member_status s) {
  switch (s) {
    case member_status::alive:
      return "alive";
    case member_status::suspected:
      return "suspected";
    case member_status::dead:
      return "dead";
  }
  return "unknown";
}

member_status status_for_phi(double phi, double phi_threshold) {
  if (phi >= 2 * phi_threshold)
    return member_status::dead;
  if (phi >= phi_threshold)
    return member_status::suspected;
  return member_status::alive;
}

} // namespace ferro::cluster
