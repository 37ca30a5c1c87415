#pragma once

// Shared helpers of the storage tests. Include after <catch2/catch.hpp>.

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "storage/wal_store.hpp"

namespace ferro::test {

namespace fs = std::filesystem;

/// A unique empty directory under the system temp dir, removed on scope exit.
class temp_dir {
public:
  temp_dir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("ferro-storage-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

/// "u7" from ("u", 7). (Spelled out because GCC 12 warns, falsely, about
/// `"u" + std::to_string(i)` under -Wrestrict.)
inline std::string numbered(const char* prefix, long long i) {
  std::string s{prefix};
  s += std::to_string(i);
  return s;
}

/// A deterministic embedding: no randomness, so no seed to print.
inline std::vector<float> make_embedding(std::size_t dim, float seed) {
  std::vector<float> v(dim);
  for (std::size_t i = 0; i < dim; ++i)
    v[i] = seed + static_cast<float>(i) * 0.001f;
  return v;
}

inline cache_entry make_entry(const std::string& uuid, std::size_t dim, float seed = 1.0f,
                              std::string response = {}) {
  cache_entry e;
  e.uuid = uuid;
  e.embedding = make_embedding(dim, seed);
  e.response = response.empty() ? "response of " + uuid : std::move(response);
  e.query_text = "query of " + uuid;
  e.created_at_ms = 1700000000000;
  e.expires_at_ms = 0;
  e.access_count = 0;
  e.last_accessed_ms = 0;
  return e;
}

inline log_record insert_of(const namespace_key& ns, const std::string& uuid, std::size_t dim,
                            float seed = 1.0f, std::string response = {}) {
  log_record r;
  r.op = log_op::insert;
  r.ns = ns;
  r.entry = make_entry(uuid, dim, seed, std::move(response));
  return r;
}

inline log_record remove_of(const namespace_key& ns, const std::string& uuid,
                            removal_reason reason = removal_reason::deleted) {
  log_record r;
  r.op = log_op::remove;
  r.ns = ns;
  r.uuid = uuid;
  r.reason = reason;
  return r;
}

inline storage_options options_for(const fs::path& dir, std::shared_ptr<io_faults> faults = {}) {
  storage_options o;
  o.data_dir = dir;
  o.map_size_bytes = std::size_t{16} << 20;
  o.faults = std::move(faults);
  return o;
}

inline std::unique_ptr<wal_store> open_store(const storage_options& o) {
  auto r = wal_store::open(o);
  if (!r)
    FAIL("open failed: " << r.err().message);
  return std::move(*r);
}

inline wal_store::recovery_report recover_all(wal_store& s) {
  auto r = s.recover();
  if (!r)
    FAIL("recover failed: " << r.err().message);
  return std::move(*r);
}

inline const wal_store::recovered_namespace* find_ns(const wal_store::recovery_report& rep,
                                                     const namespace_key& ns) {
  for (const auto& n : rep.namespaces)
    if (n.ns == ns)
      return &n;
  return nullptr;
}

/// What a namespace holds after replay: uuid -> response.
inline std::map<std::string, std::string> replay(const wal_store::recovered_namespace& n) {
  std::map<std::string, std::string> live;
  for (const auto& le : n.snapshot_entries)
    live[std::string(le.uuid)] = std::string(le.response);
  for (const auto& r : n.tail) {
    if (r.op == log_op::insert)
      live[r.entry.uuid] = r.entry.response;
    else
      live.erase(r.uuid);
  }
  return live;
}

inline std::vector<std::uint64_t> tail_seqs(const wal_store::recovered_namespace& n) {
  std::vector<std::uint64_t> out;
  for (const auto& r : n.tail)
    out.push_back(r.ns_seq);
  return out;
}

inline std::vector<std::string> dir_names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& d : fs::directory_iterator(dir))
    out.push_back(d.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

inline void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Flips one bit of every occurrence of `marker` in `file`; returns how many.
inline int flip_marker(const fs::path& file, const std::string& marker) {
  auto bytes = read_text(file);
  int hits = 0;
  for (auto pos = bytes.find(marker); pos != std::string::npos; pos = bytes.find(marker, pos + 1)) {
    bytes[pos] = static_cast<char>(bytes[pos] ^ 0x01);
    ++hits;
  }
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return hits;
}

enum class io_step { commit, sync, file_write, publish, remove };

inline const char* to_string(io_step s) {
  switch (s) {
    case io_step::commit:
      return "commit";
    case io_step::sync:
      return "sync";
    case io_step::file_write:
      return "snapshot file write";
    case io_step::publish:
      return "publish (rename)";
    case io_step::remove:
      return "remove dir";
  }
  return "?";
}

/// Fails the nth call (1-based, counted from arming) of one step. In crash
/// mode every later hook call fails too: nothing else reaches the disk, as if
/// the process had died there.
class scripted_faults : public io_faults {
public:
  void fail_at(io_step step, int nth, bool crash = false) {
    step_ = step;
    nth_ = nth;
    crash_ = crash;
    seen_ = 0;
    armed_ = true;
  }
  void disarm() {
    armed_ = false;
    crashed_ = false;
  }
  int failures() const { return failures_; }

  status before_commit() override { return hit(io_step::commit); }
  status before_sync() override { return hit(io_step::sync); }
  status on_snapshot_file_write(const fs::path&) override { return hit(io_step::file_write); }
  status before_snapshot_publish(const fs::path&, const fs::path&) override { return hit(io_step::publish); }
  status before_remove(const fs::path&) override { return hit(io_step::remove); }

private:
  status hit(io_step s) {
    if (crashed_)
      return injected(s);
    if (armed_ && s == step_ && ++seen_ == nth_) {
      armed_ = false;
      crashed_ = crash_;
      return injected(s);
    }
    return {};
  }
  status injected(io_step s) {
    ++failures_;
    return error{errc::unavailable, std::string{"injected failure at "} + to_string(s)};
  }

  io_step step_ = io_step::commit;
  int nth_ = 0;
  int seen_ = 0;
  bool crash_ = false;
  bool armed_ = false;
  bool crashed_ = false;
  int failures_ = 0;
};

} // namespace ferro::test
