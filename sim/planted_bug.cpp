#include "sim/planted_bug.hpp"

namespace ferro {

planted_bug active_planted_bug = planted_bug::none;

} // namespace ferro

namespace ferro::sim {

namespace {

struct named_bug {
  std::string_view name;
  planted_bug bug;
};

constexpr named_bug bugs[] = {
    {"ack-before-replication", planted_bug::ack_before_replication},
    {"no-epoch-fencing", planted_bug::no_epoch_fencing},
    {"apply-removal-before-durable", planted_bug::apply_removal_before_durable},
    {"ignore-scope", planted_bug::ignore_scope},
    {"keep-lead-after-failed-append", planted_bug::keep_lead_after_failed_append},
    {"append-after-torn-line", planted_bug::append_after_torn_line},
    {"leak-answered-calls", planted_bug::leak_answered_calls},
};

} // namespace

bool plant_bug(std::string_view name) {
  for (const auto& b : bugs)
    if (b.name == name) {
      active_planted_bug = b.bug;
      return true;
    }
  return false;
}

void unplant_bugs() {
  active_planted_bug = planted_bug::none;
}

std::string planted_bug_names() {
  std::string out;
  for (const auto& b : bugs) {
    if (!out.empty())
      out += ", ";
    out += b.name;
  }
  return out;
}

} // namespace ferro::sim
