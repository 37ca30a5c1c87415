#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/status.hpp"

namespace ferro {

/// Seam for disk-fault tests, in the spirit of LevelDB's fault-injection Env.
/// The store calls a hook right before each step that changes what is on
/// disk; a hook that returns an error makes the store behave exactly as if
/// that step had failed (nothing of the step happens). The default does
/// nothing. A test that wants to simulate a crash fails one step and every
/// step after it, then reopens the store.
class io_faults {
public:
  virtual ~io_faults() = default;

  /// Before each LMDB write transaction commits (append, snapshot manifest,
  /// drop_namespace, open-time initialisation).
  virtual status before_commit() { return {}; }

  /// Before each fsync of the LMDB environment; in the default sync mode this
  /// is the fsync that makes a committed transaction durable.
  virtual status before_sync() { return {}; }

  /// Before a snapshot file (entries file, graph file) is written or fsynced.
  virtual status on_snapshot_file_write(const std::filesystem::path& /*file*/) { return {}; }

  /// Before a finished temp dir is renamed to its published name.
  virtual status before_snapshot_publish(const std::filesystem::path& /*from*/,
                                         const std::filesystem::path& /*to*/) {
    return {};
  }

  /// Before a snapshot or temp dir is removed (replaced, orphaned, abandoned).
  virtual status before_remove(const std::filesystem::path& /*dir*/) { return {}; }

  /// After a log record or a snapshot file was read from disk and before the
  /// store checks it: `bytes` is the store's own copy of what was read, and a
  /// hook may damage it, as a disk that returns bad data would. `what` names
  /// the item ("wal <namespace id>/<sequence number>", or the file's path).
  /// The store's checksums must catch the damage; nothing read this way may
  /// be applied or shipped unverified. Only called when a seam is set (the
  /// copy costs a read).
  virtual void after_read(std::string_view /*what*/, std::string& /*bytes*/) {}
};

} // namespace ferro
