#pragma once

// The file that keeps a node's election promises (docs/formats.md, "Cluster
// election state"): the file I/O alone, without an actor, so that appends,
// torn tails and rewrites are tested on their own (cluster_persist.cpp
// decides what goes in it).
//
// A save appends the lines that changed and syncs them before the grant
// they record is answered: its cost follows the changes, not the number of
// namespaces. Reading keeps the last line of each namespace and stops at a
// damaged one, so nothing may ever be appended after a torn line: the
// first save after opening, and the first after a failed append, rewrite
// the file whole (temp file, fsync, rename, fsync of the folder), as does
// a save once the appends outgrow the live lines.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

#include "cluster/edges/election_record.hpp"
#include "common/status.hpp"

namespace ferro::cluster {

class election_file {
public:
  /// Appends may grow the file to twice its live lines plus `slack_bytes`
  /// before it is rewritten.
  explicit election_file(std::filesystem::path path, std::size_t slack_bytes = 64 * 1024)
      : path_(std::move(path)), slack_bytes_(slack_bytes) {}

  /// Makes `changed` (whole lines, as encode_election_line gives them)
  /// durable. `live_bytes` is the size of every namespace's current line
  /// together; `whole` gives the complete text (header and every current
  /// line) when the file is rewritten. False when the disk refused.
  bool save(const std::string& changed, std::size_t live_bytes, const std::function<std::string()>& whole);

  /// The records kept, the last line of each namespace winning. No file:
  /// an empty set and `exists` false. `damaged`: a torn or corrupt line
  /// ended the reading (what came before it stands).
  result<election_records> load(bool& exists, bool& damaged) const;

  const std::filesystem::path& path() const { return path_; }
  std::size_t size() const { return file_bytes_; }

private:
  bool rewrite(const std::string& text);
  bool append(const std::string& lines);

  std::filesystem::path path_;
  std::size_t slack_bytes_;
  bool rewrite_next_ = true;
  bool saved_once_ = false; // read only by a planted bug (common/planted_bug.hpp)
  std::size_t file_bytes_ = 0;
};

} // namespace ferro::cluster
