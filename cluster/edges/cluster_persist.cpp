// The promises a node makes in elections, kept on disk: the newest epoch it
// granted per namespace (it refuses older ones from then on) and the newest
// copy set a leader published to it. Both must outlive a crash: a node that
// forgot them after kill -9 could grant an epoch it already refused, or let
// an election go around the holders of acknowledged writes (the simulator's
// --crashes found the second: docs/simulation.md).
//
// The file (election_file.hpp) holds a line per namespace; a save appends
// the lines that changed and syncs them before the grant or confirmation
// they record is answered, so its cost follows the changes, not the number
// of namespaces (rewriting 4,000 lines per grant was the cluster actor's
// largest cost while namespaces were created).
//
// Writes are grouped: a change asks for a write by a message to the actor
// itself, so every grant and copy set that is already in the mailbox (a
// failover elects the leaders of all of a dead node's namespaces at once)
// joins the same write, and all of them are answered after it.

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "cluster/edges/cluster_state.hpp"
#include "cluster/edges/election_record.hpp"

namespace ferro::cluster {

namespace {

constexpr const char* file_name = "cluster-elections";

std::filesystem::path state_path(cluster_pointer self) {
  return self->state.local->settings().data_dir / file_name;
}

} // namespace

election_records current_election_records(cluster_pointer self) {
  election_records records;
  for (const auto& [key, sp] : self->state.spaces)
    if (sp.epoch != 0 || sp.holders_epoch != 0)
      records[key] = election_record{sp.epoch, sp.holders_epoch, sp.holders_version, sp.holders};
  return records;
}

void merge_election_records(cluster_pointer self, election_records records) {
  for (auto& [key, rec] : records) {
    auto& sp = space(self, key);
    sp.epoch = std::max(sp.epoch, rec.epoch);
    if (rec.holders_epoch > sp.holders_epoch ||
        (rec.holders_epoch == sp.holders_epoch && rec.holders_version > sp.holders_version)) {
      sp.holders_epoch = rec.holders_epoch;
      sp.holders_version = rec.holders_version;
      sp.holders = std::move(rec.holders);
    }
  }
}

namespace {

// Whether `sp`'s line as last written still says what it holds now.
bool line_current(const ns_state& sp) {
  const auto& saved = sp.saved_election;
  return !saved.line.empty() && saved.rec.epoch == sp.epoch && saved.rec.holders_epoch == sp.holders_epoch &&
         saved.rec.holders_version == sp.holders_version && saved.rec.holders == sp.holders;
}

// Re-encodes the lines whose record changed since the last save; returns
// them, in namespace order.
std::string changed_lines(cluster_pointer self) {
  auto& st = self->state;
  std::string out;
  for (auto& [key, sp] : st.spaces) {
    if ((sp.epoch == 0 && sp.holders_epoch == 0) || line_current(sp))
      continue;
    auto& saved = sp.saved_election;
    st.election_live_bytes -= saved.line.size();
    saved.rec = election_record{sp.epoch, sp.holders_epoch, sp.holders_version, sp.holders};
    saved.line = encode_election_line(key, saved.rec);
    st.election_live_bytes += saved.line.size();
    out += saved.line;
  }
  return out;
}

// The whole file: every namespace's line as it is now.
std::string election_file_text(cluster_pointer self) {
  auto out = election_file_header();
  out.reserve(out.size() + self->state.election_live_bytes);
  for (auto& [key, sp] : self->state.spaces)
    if (sp.epoch != 0 || sp.holders_epoch != 0)
      out += sp.saved_election.line;
  return out;
}

election_file& the_file(cluster_pointer self) {
  auto& st = self->state;
  if (!st.elections)
    st.elections.emplace(state_path(self));
  return *st.elections;
}

} // namespace

bool save_election_state(cluster_pointer self) {
  auto lines = changed_lines(self);
  auto& file = the_file(self);
  bool ok = file.save(lines, self->state.election_live_bytes, [self] { return election_file_text(self); });
  if (!ok)
    spdlog::error("cluster: cannot keep election state in {}: {}", file.path().string(),
                  std::strerror(errno));
  return ok;
}

void persist_then(cluster_pointer self, std::function<void(bool)> then) {
  auto& st = self->state;
  st.persist_waiting.push_back(std::move(then));
  if (!st.persist_scheduled) {
    st.persist_scheduled = true;
    self->send(self, persist_atom::value);
  }
}

void persist_now(cluster_pointer self) {
  auto& st = self->state;
  st.persist_scheduled = false;
  auto waiting = std::move(st.persist_waiting);
  st.persist_waiting.clear();
  if (waiting.empty())
    return;
  bool kept = save_election_state(self);
  ++st.persist_writes;
  for (auto& fn : waiting)
    fn(kept);
}

bool load_election_state(cluster_pointer self) {
  auto& file = the_file(self);
  bool exists = false, damaged = false;
  auto records = file.load(exists, damaged);
  if (!exists)
    return false; // a new node, a replaced disk, or one from before this file existed
  if (!records) {
    spdlog::error("cluster: {}: {}; ignored", file.path().string(), records.err().message);
    return false;
  }
  if (damaged)
    spdlog::error("cluster: {}: a damaged line; the lines after it are ignored", file.path().string());
  const auto count = records.value().size();
  merge_election_records(self, std::move(records.value()));
  spdlog::info("cluster: election state of {} namespaces restored from {}", count, file.path().string());
  return !damaged;
}

} // namespace ferro::cluster
