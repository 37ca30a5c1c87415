// The promises a node makes in elections, kept on disk: the newest epoch it
// granted per namespace (it refuses older ones from then on) and the newest
// copy set a leader published to it. Both must outlive a crash: a node that
// forgot them after kill -9 could grant an epoch it already refused, or let
// an election go around the holders of acknowledged writes (the simulator's
// --crashes found the second: docs/simulation.md).
//
// One small text file, rewritten whole (temp file, fsync, rename, fsync of
// the folder) before the grant or confirmation it records is answered.
// Elections and copy-set changes are rare, so the cost is a few
// milliseconds each, not per write.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "cluster/edges/cluster_state.hpp"

namespace ferro::cluster {

namespace {

constexpr const char* file_name = "cluster-elections";

std::filesystem::path state_path(cluster_pointer self) {
  return self->state.local->settings().data_dir / file_name;
}

void put_field(std::string& out, const std::string& s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

bool get_field(std::istream& in, std::string& out) {
  std::size_t n = 0;
  char colon = 0;
  if (!(in >> n) || !in.get(colon) || colon != ':' || n > (1u << 20))
    return false;
  out.resize(n);
  return static_cast<bool>(in.read(out.data(), static_cast<std::streamsize>(n)));
}

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

} // namespace

bool save_election_state(cluster_pointer self) {
  std::string out = "ferro-elections 1\n";
  for (const auto& [key, sp] : self->state.spaces) {
    if (sp.epoch == 0 && sp.holders_epoch == 0)
      continue;
    put_field(out, key.model_id);
    put_field(out, key.cache_scope);
    put_field(out, key.conversation_id);
    out += ' ' + std::to_string(sp.epoch) + ' ' + std::to_string(sp.holders_epoch) + ' ' +
           std::to_string(sp.holders_version) + ' ' + std::to_string(sp.holders.size());
    for (const auto& h : sp.holders) {
      out += ' ';
      put_field(out, h);
    }
    out += '\n';
  }
  auto path = state_path(self);
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write_all(fd, out) && ::fsync(fd) == 0;
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

void load_election_state(cluster_pointer self) {
  auto path = state_path(self);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return; // a fresh node, or one from before this file existed
  std::string header;
  std::getline(in, header);
  if (header != "ferro-elections 1") {
    spdlog::error("cluster: {} is not an election state file; ignored", path.string());
    return;
  }
  std::size_t loaded = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream row(line);
    namespace_key key;
    std::uint64_t epoch = 0, holders_epoch = 0, holders_version = 0;
    std::size_t count = 0;
    if (!get_field(row, key.model_id) || !get_field(row, key.cache_scope) ||
        !get_field(row, key.conversation_id) ||
        !(row >> epoch >> holders_epoch >> holders_version >> count) || count > 64) {
      spdlog::error("cluster: {}: a damaged line; the rest is ignored", path.string());
      return;
    }
    std::vector<std::string> holders(count);
    for (auto& h : holders) {
      row.get(); // the space before it
      if (!get_field(row, h)) {
        spdlog::error("cluster: {}: a damaged line; the rest is ignored", path.string());
        return;
      }
    }
    auto& sp = space(self, key);
    sp.epoch = std::max(sp.epoch, epoch);
    if (holders_epoch > sp.holders_epoch ||
        (holders_epoch == sp.holders_epoch && holders_version > sp.holders_version)) {
      sp.holders_epoch = holders_epoch;
      sp.holders_version = holders_version;
      sp.holders = std::move(holders);
    }
    ++loaded;
  }
  spdlog::info("cluster: election state of {} namespaces restored from {}", loaded, path.string());
}

} // namespace ferro::cluster
