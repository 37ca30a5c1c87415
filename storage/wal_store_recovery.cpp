#include <algorithm>

#include "storage/crc32c.hpp"
#include "storage/snapshot_files.hpp"
#include "storage/wal_store_internal.hpp"

namespace ferro {

namespace codec = storage::codec;
using storage::lmdb_cursor;
using storage::lmdb_error;
using storage::lmdb_txn;
using namespace storage::detail;

// ---------------------------------------------------------------- recovery

struct wal_store::recovery_work {
  std::uint64_t id = 0;
  recovered_namespace rn;
  std::uint64_t last_ns_seq = 0;
  std::uint64_t floor = 0;    ///< records <= floor are covered by the snapshot
  std::uint64_t expected = 0; ///< next ns_seq the scan should see
  bool gap_check = true;      ///< off when the snapshot's coverage is unknown
  std::uint64_t bad_seq = 0;  ///< highest unverifiable ns_seq (0: none)
  std::uint64_t max_seen = 0;
  std::size_t problems = 0;
  std::uint64_t covered_left = 0; ///< records <= floor still in the log (a trim cut short)
};

// A snapshot's files as the disk returns them: through the fault seam when
// one is set (a damaged read must fail the checks below, as bad bytes on a
// real disk would), straight from the file otherwise.
result<storage::entries_file_contents> wal_store::read_snapshot_entries(const std::filesystem::path& file) {
  if (!opts_.faults)
    return storage::read_entries_file(file);
  auto bytes = storage::read_whole_file(file);
  if (!bytes)
    return bytes.err();
  opts_.faults->after_read(file.string(), *bytes);
  auto owner = std::make_shared<const std::string>(std::move(bytes.value()));
  return storage::parse_entries_file(file, *owner, owner);
}

result<storage::file_digest> wal_store::digest_snapshot_graph(const std::filesystem::path& file) {
  if (!opts_.faults)
    return storage::digest_file(file, false);
  auto bytes = storage::read_whole_file(file);
  if (!bytes)
    return bytes.err();
  opts_.faults->after_read(file.string(), *bytes);
  return storage::file_digest{bytes->size(), storage::crc32c(bytes->data(), bytes->size())};
}

void wal_store::load_snapshot(recovery_work& w, recovery_report& rep, bool check_graph) {
  auto note = [&](std::string msg) {
    if (w.problems++ < messages_per_namespace)
      rep.messages.push_back(ns_label(w.rn.ns, w.id) + ": " + std::move(msg));
  };
  auto slot = manifests_.find(w.id);
  if (slot == manifests_.end())
    return;
  if (!slot->second.manifest) {
    note("snapshot manifest unreadable (" + slot->second.problem +
         "); its entries are lost, replaying the remaining log");
    w.rn.snapshot_lost = true;
    w.gap_check = false;
    return;
  }
  const auto& m = *slot->second.manifest;
  w.rn.snapshot_ns_seq = m.covered_ns_seq;
  w.floor = std::max(w.floor, m.covered_ns_seq);
  auto dir = snapshots_dir() / m.dir_name;
  auto contents = read_snapshot_entries(dir / storage::entries_file_name);
  std::string problem;
  if (!contents)
    problem = contents.err().message;
  else if (contents->info.bytes != m.entries_bytes || contents->info.crc != m.entries_crc)
    problem = "entries file does not match its manifest (size or checksum)";
  else if (contents->ns != w.rn.ns || contents->covered_ns_seq != m.covered_ns_seq ||
           contents->dimension != m.dimension || contents->entries.size() != m.entry_count)
    problem = "entries file describes another snapshot";
  if (!problem.empty()) {
    note("snapshot " + m.dir_name + " is corrupt (" + problem +
         "); its entries are lost, replaying the remaining log");
    w.rn.snapshot_lost = true;
    return;
  }
  w.rn.snapshot_entries = std::move(contents->entries);
  w.rn.quality_state = m.quality_state;
  w.rn.snapshot_epoch = m.epoch;
  w.rn.snapshot_whole = m.whole;
  w.rn.snapshot_lineage_from = m.lineage_from;
  if (m.dimension != 0)
    w.rn.dimension = m.dimension;
  if (m.has_graph && !check_graph) {
    w.rn.graph_file = dir / storage::graph_file_name; // the caller checks it
  } else if (m.has_graph) {
    auto graph = dir / storage::graph_file_name;
    auto d = digest_snapshot_graph(graph);
    if (d && d->bytes == m.graph_bytes && d->crc == m.graph_crc)
      w.rn.graph_file = graph;
    else
      note("snapshot graph " + graph.string() + " does not verify (" +
           (d ? std::string{"size or checksum mismatch"} : d.err().message) +
           "); rebuild it from the snapshot entries");
  }
}

std::vector<wal_store::snapshot_graph> wal_store::snapshot_graphs() const {
  std::vector<snapshot_graph> out;
  for (const auto& [enc, st] : by_key_) {
    auto slot = manifests_.find(st.id);
    if (slot == manifests_.end() || !slot->second.manifest || !slot->second.manifest->has_graph)
      continue;
    const auto& m = *slot->second.manifest;
    out.push_back({st.meta.key, static_cast<std::size_t>(m.dimension),
                   snapshots_dir() / m.dir_name / storage::graph_file_name, m.graph_bytes, m.graph_crc});
  }
  return out;
}

result<wal_store::recovery_report> wal_store::recover(bool check_graphs) {
  recovery_report rep;
  rep.messages = open_messages_;
  std::map<std::uint64_t, recovery_work> work;
  for (const auto& [enc, st] : by_key_) {
    auto& w = work[st.id];
    w.id = st.id;
    w.rn.ns = st.meta.key;
    w.rn.dimension = st.meta.dimension;
    w.last_ns_seq = st.meta.last_ns_seq;
    w.rn.last_ns_seq = st.meta.last_ns_seq;
    w.floor = st.meta.base_ns_seq;
    load_snapshot(w, rep, check_graphs);
    w.expected = w.floor + 1;
  }
  for (const auto& [id, why] : unreadable_ids_)
    rep.messages.push_back("namespace record of id " + std::to_string(id) + " is corrupt (" + why +
                           "); its snapshot and log records cannot be attributed and are not replayed");

  auto note = [&](recovery_work& w, std::string msg) {
    if (w.problems++ < messages_per_namespace)
      rep.messages.push_back(ns_label(w.rn.ns, w.id) + ": " + std::move(msg));
  };
  auto mark_bad = [](recovery_work& w, std::uint64_t seq) { w.bad_seq = std::max(w.bad_seq, seq); };

  lmdb_txn t;
  if (int rc = t.begin(env_->get(), true); rc != 0)
    return lmdb_error(rc, "recover");
  std::map<std::uint64_t, std::uint64_t> unattributed; // id -> records
  std::uint64_t bad_keys = 0;
  int scan_rc = 0;
  std::uint64_t scan_failed_id = 0;
  {
    lmdb_cursor c;
    if (int rc = c.open(t, db_wal_); rc != 0)
      return lmdb_error(rc, "recover");
    std::string_view k, v;
    std::string scratch; // a record's bytes as the fault seam returns them
    recovery_work* w = nullptr;
    int rc = c.get(k, v, MDB_FIRST);
    for (; rc == 0; rc = c.get(k, v, MDB_NEXT)) {
      std::uint64_t id = 0, seq = 0;
      if (!codec::parse_wal_key(k, id, seq)) {
        ++bad_keys;
        continue;
      }
      scan_failed_id = id;
      if (w == nullptr || w->id != id) {
        auto found = work.find(id);
        w = found == work.end() ? nullptr : &found->second;
      }
      if (w == nullptr) {
        ++unattributed[id];
        continue;
      }
      if (seq <= w->floor) {
        // Covered by the snapshot: the log is trimmed in steps after a
        // snapshot (publish_snapshot), and a stop between two steps leaves
        // these behind. Not a problem; the next snapshot deletes them.
        ++w->covered_left;
        continue;
      }
      if (!w->gap_check) {
        w->expected = seq; // unknown snapshot coverage: start at the first record
        w->gap_check = true;
      }
      if (seq > w->expected) {
        auto missing = seq - w->expected;
        rep.corrupt_records += missing;
        note(*w, "records " + std::to_string(w->expected) + ".." + std::to_string(seq - 1) +
                     " are missing from the log");
        mark_bad(*w, seq - 1);
      }
      w->expected = seq + 1;
      w->max_seen = std::max(w->max_seen, seq);
      log_record rec;
      bool is_void = false;
      auto payload = codec::unseal(k, as_read(opts_.faults.get(), id, seq, v, scratch));
      auto decoded = payload ? codec::decode_wal_payload(*payload, rec, is_void) : status{payload.err()};
      if (!decoded) {
        ++rep.corrupt_records;
        note(*w, "record " + std::to_string(seq) + " does not verify (" + decoded.err().message + ")");
        mark_bad(*w, seq);
        continue;
      }
      if (is_void)
        continue; // its batch failed; nothing to apply
      if (rec.op == log_op::insert && w->rn.dimension != 0 && rec.entry.embedding.size() != w->rn.dimension) {
        // It verified as an insert, so skipping it loses one write and
        // cannot resurrect anything.
        ++rep.corrupt_records;
        note(*w, "insert " + std::to_string(seq) + " has dimension " +
                     std::to_string(rec.entry.embedding.size()) + ", expected " +
                     std::to_string(w->rn.dimension) + "; skipped");
        continue;
      }
      rec.ns = w->rn.ns;
      rec.ns_seq = seq;
      w->rn.tail.push_back(std::move(rec));
    }
    if (rc != MDB_NOTFOUND)
      scan_rc = rc;
  }
  t.abort();

  if (bad_keys > 0) {
    rep.corrupt_records += bad_keys;
    rep.messages.push_back(std::to_string(bad_keys) + " WAL keys are malformed; ignored");
  }
  for (const auto& [id, n] : unattributed) {
    rep.corrupt_records += n;
    rep.messages.push_back(std::to_string(n) + " WAL records of unknown namespace id " + std::to_string(id) +
                           " are not replayed");
  }
  if (scan_rc != 0)
    rep.messages.push_back("the WAL scan stopped early: " + std::string{mdb_strerror(scan_rc)} +
                           "; namespaces from id " + std::to_string(scan_failed_id) +
                           " on recover nothing from the log");

  for (auto& [id, w] : work) {
    if (scan_rc != 0 && id >= scan_failed_id) {
      ++rep.corrupt_records;
      mark_bad(w, std::max(w.last_ns_seq, w.max_seen) + 1);
    }
    if (w.gap_check && w.expected <= w.last_ns_seq) {
      rep.corrupt_records += w.last_ns_seq - w.expected + 1;
      note(w, "records " + std::to_string(w.expected) + ".." + std::to_string(w.last_ns_seq) +
                  " are missing from the end of the log");
      mark_bad(w, w.last_ns_seq);
    }
    if (w.max_seen > w.last_ns_seq) {
      // Cannot happen with LMDB's atomic commits; keep the counter ahead of
      // the log anyway so that no number is handed out twice.
      note(w, "log holds records up to " + std::to_string(w.max_seen) +
                  " beyond the namespace's last sequence number " + std::to_string(w.last_ns_seq));
      by_key_[encode_key(w.rn.ns)].meta.last_ns_seq = w.max_seen;
      w.rn.last_ns_seq = w.max_seen;
    }
    if (w.bad_seq != 0) {
      auto keep_from = std::find_if(w.rn.tail.begin(), w.rn.tail.end(),
                                    [&](const log_record& r) { return r.ns_seq > w.bad_seq; });
      auto withheld = static_cast<std::uint64_t>(keep_from - w.rn.tail.begin());
      rep.discarded_records += withheld;
      rep.discarded_snapshot_entries += w.rn.snapshot_entries.size();
      note(w, "withholding " + std::to_string(w.rn.snapshot_entries.size()) + " snapshot entries and " +
                  std::to_string(withheld) + " log records older than the unverifiable record " +
                  std::to_string(w.bad_seq) + " (it may have removed them)");
      w.rn.tail.erase(w.rn.tail.begin(), keep_from);
      w.rn.snapshot_entries.clear();
      w.rn.graph_file.reset();
      w.rn.quality_state.clear();
      w.rn.snapshot_epoch = 0; // what remains is of unknown lineage
      w.rn.damaged = true;
    }
    if (w.covered_left > 0)
      rep.messages.push_back(ns_label(w.rn.ns, w.id) + ": " + std::to_string(w.covered_left) +
                             " log records already covered by the snapshot were skipped (left by a log "
                             "trim that was cut short)");
    if (w.problems > messages_per_namespace)
      rep.messages.push_back(ns_label(w.rn.ns, w.id) + ": " +
                             std::to_string(w.problems - messages_per_namespace) +
                             " more problems not listed");
    if (w.rn.dimension == 0)
      for (const auto& r : w.rn.tail)
        if (r.op == log_op::insert) {
          w.rn.dimension = r.entry.embedding.size();
          break;
        }
    rep.replayable_records += w.rn.tail.size();
    rep.namespaces.push_back(std::move(w.rn));
  }
  env_->drop_mapped_pages(); // the scan read the whole log through the map
  return rep;
}

} // namespace ferro
