// The promises a node makes in elections, kept on disk: the newest epoch it
// granted per namespace (it refuses older ones from then on) and the newest
// copy set a leader published to it. Both must outlive a crash: a node that
// forgot them after kill -9 could grant an epoch it already refused, or let
// an election go around the holders of acknowledged writes (the simulator's
// --crashes found the second: docs/simulation.md).
//
// One small text file, rewritten whole (temp file, fsync, rename, fsync of
// the folder) before the grant or confirmation it records is answered.
// Writes are grouped: a change asks for a write by a message to the actor
// itself, so every grant and copy set that is already in the mailbox (a
// failover elects the leaders of all of a dead node's namespaces at once)
// joins the same write, and all of them are answered after it.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cluster/edges/cluster_state.hpp"
#include "cluster/edges/election_record.hpp"
#include "common/write_fully.hpp"

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

// The file's text: what current_election_records would encode, with each
// namespace's line re-encoded only when its record changed.
std::string election_file_text(cluster_pointer self) {
  auto out = election_file_header();
  for (auto& [key, sp] : self->state.spaces) {
    if (sp.epoch == 0 && sp.holders_epoch == 0)
      continue;
    auto& saved = sp.saved_election;
    if (saved.line.empty() || saved.rec.epoch != sp.epoch || saved.rec.holders_epoch != sp.holders_epoch ||
        saved.rec.holders_version != sp.holders_version || saved.rec.holders != sp.holders) {
      saved.rec = election_record{sp.epoch, sp.holders_epoch, sp.holders_version, sp.holders};
      saved.line = encode_election_line(key, saved.rec);
    }
    out += saved.line;
  }
  return out;
}

bool save_election_state(cluster_pointer self) {
  auto out = election_file_text(self);
  auto path = state_path(self);
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write_fully(fd, out) && ::fsync(fd) == 0;
  if (fd >= 0)
    ok = ::close(fd) == 0 && ok;
  if (ok)
    ok = std::rename(tmp.c_str(), path.c_str()) == 0;
  if (ok) {
    int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ok = dir >= 0 && ::fsync(dir) == 0;
    if (dir >= 0)
      ::close(dir);
  }
  if (!ok)
    spdlog::error("cluster: cannot keep election state in {}: {}", path.string(), std::strerror(errno));
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
  auto path = state_path(self);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false; // a new node, a replaced disk, or one from before this file existed
  std::stringstream text;
  text << in.rdbuf();
  bool damaged = false;
  auto records = decode_election_records(text.str(), damaged);
  if (!records) {
    spdlog::error("cluster: {}: {}; ignored", path.string(), records.err().message);
    return false;
  }
  if (damaged)
    spdlog::error("cluster: {}: a damaged line; the lines after it are ignored", path.string());
  const auto count = records.value().size();
  merge_election_records(self, std::move(records.value()));
  spdlog::info("cluster: election state of {} namespaces restored from {}", count, path.string());
  return !damaged;
}

} // namespace ferro::cluster
