#pragma once

#include <string>
#include <string_view>

#include "common/planted_bug.hpp"

/// `--break NAME`: switches on one planted bug for this process.
namespace ferro::sim {

/// False for an unknown name.
bool plant_bug(std::string_view name);
/// Switches every planted bug off again (tests that plant one).
void unplant_bugs();
/// "ack-before-replication, no-epoch-fencing, ..." for usage messages.
std::string planted_bug_names();

} // namespace ferro::sim
