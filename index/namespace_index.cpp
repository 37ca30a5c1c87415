#include "index/namespace_index.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <new>
#include <thread>
#include <unordered_set>

#include "common/namespace_key.hpp"
#include "index/hnsw_graph.hpp"

namespace ferro {

namespace {

// Reused across lookups on one thread: no allocation per query for it.
thread_local std::vector<hnsw_graph::candidate> search_buffer;

std::size_t capacity_for(std::size_t nodes, const hnsw_params& p) {
  std::size_t capacity = p.initial_capacity;
  while (capacity < nodes)
    capacity *= 2;
  return capacity;
}

entry_slot::ptr make_slot(const cache_entry& e, std::uint64_t label) {
  auto s = entry_slot::make(e.uuid, e.response, e.query_text);
  s->label = label;
  s->created_at_ms = e.created_at_ms;
  s->expires_at_ms = e.expires_at_ms;
  s->access_count.store(e.access_count, std::memory_order_relaxed);
  s->last_accessed_ms.store(e.last_accessed_ms, std::memory_order_relaxed);
  return s;
}

entry_slot::ptr make_slot(const entry_ref& e) {
  auto s = entry_slot::make(e.uuid, e.response, e.query_text);
  s->label = e.label;
  s->created_at_ms = e.created_at_ms;
  s->expires_at_ms = e.expires_at_ms;
  s->access_count.store(e.access_count, std::memory_order_relaxed);
  s->last_accessed_ms.store(e.last_accessed_ms, std::memory_order_relaxed);
  return s;
}

std::unique_ptr<float[]> copy_of(const std::vector<float>& v) {
  auto out = std::make_unique_for_overwrite<float[]>(v.size());
  std::copy(v.begin(), v.end(), out.get());
  return out;
}

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

/// An entry's recency: its last access, or its creation if later (or never
/// accessed). Monotonic per entry, so a hit never moves an entry backwards,
/// even with a clock behind created_at: the LRU insertion walk stays short.
std::int64_t lru_key_of(const entry_slot& s) {
  return std::max(s.created_at_ms, s.last_accessed_ms.load(std::memory_order_relaxed));
}

/// Sorts by label (then position) and keeps, for each uuid, only the entry
/// that comes last in that order.
void sort_and_dedupe(std::vector<labelled_entry>& entries) {
  std::stable_sort(entries.begin(), entries.end(),
                   [](const labelled_entry& a, const labelled_entry& b) { return a.label < b.label; });
  std::unordered_set<std::string_view> seen;
  std::vector<bool> keep(entries.size());
  for (std::size_t i = entries.size(); i-- > 0;)
    keep[i] = seen.insert(entries[i].entry.uuid).second;
  std::size_t out = 0;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (keep[i]) {
      if (out != i)
        entries[out] = std::move(entries[i]);
      ++out;
    }
  entries.resize(out);
}

bool labels_distinct(const std::vector<labelled_entry>& sorted) {
  for (std::size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].label == sorted[i - 1].label)
      return false;
  return true;
}

// restore() found a uuid twice: a snapshot holds each once (it is written
// from the uuid table), so only a damaged or foreign one gets here. Keeps
// the larger label, as rebuild does: entries come in label order, so the
// slot `fresh` (not moved from: the insert failed) replaces the one at
// `at`, whose place in `slots` is cleared (found by its label in `sorted`,
// which is parallel to `slots`). The uuid table's insert finds the
// duplicate; a separate set of 1M uuids did before (~7% of a restart).
// False if the table moved `fresh` although it did not insert it (the
// standard allows that; libstdc++ does not do it).
template <class Table>
bool replace_older(Table& table, typename Table::iterator at, entry_slot::ptr fresh,
                   const std::vector<const entry_ref*>& sorted, std::vector<entry_slot*>& slots) {
  if (!fresh)
    return false;
  auto old_label = (*at)->label;
  auto pos = std::lower_bound(sorted.begin(), sorted.end(), old_label,
                              [](const entry_ref* e, std::uint64_t label) { return e->label < label; });
  slots[static_cast<std::size_t>(pos - sorted.begin())] = nullptr;
  auto old = table.extract(at); // frees the older slot when it goes out of scope
  table.insert(std::move(fresh));
  return true;
}

} // namespace

namespace_index::namespace_index(std::size_t dimension, hnsw_params params)
    : dimension_(dimension), params_(hnsw_graph::sanitize(params)) {
  auto g = hnsw_graph::create(dimension_, params_, params_.initial_capacity);
  if (!g)
    throw std::bad_alloc();
  graph_ = std::move(g.value());
}

namespace_index::namespace_index(std::size_t dimension, const hnsw_params& params,
                                 std::unique_ptr<hnsw_graph> graph)
    : dimension_(dimension), params_(hnsw_graph::sanitize(params)), graph_(std::move(graph)) {
  if (graph_) // restore() sets its graph later
    by_node_.assign(graph_->node_count(), nullptr);
}

namespace_index::~namespace_index() = default;

std::size_t namespace_index::size() const {
  std::shared_lock lock(mutex_);
  return by_uuid_.size();
}

// ---- reads

std::optional<search_hit> namespace_index::lookup(std::span<const float> unit_query,
                                                  std::string_view normalized_text, double threshold,
                                                  std::int64_t now_ms) {
  return lookup(unit_query, normalized_text, threshold, now_ms, {});
}

std::optional<search_hit> namespace_index::lookup(std::span<const float> unit_query,
                                                  std::string_view normalized_text, double threshold,
                                                  std::int64_t now_ms,
                                                  const std::function<bool(const search_hit&)>& accept) {
  if (unit_query.size() != dimension_)
    return std::nullopt;
  std::shared_lock lock(mutex_);
  auto accepted = [&](const entry_slot& s, double similarity, bool exact) {
    return !accept || accept(search_hit{std::string(s.uuid()),
                                        {},
                                        similarity,
                                        exact,
                                        std::string(s.query_text())}); // no response copy
  };
  if (auto* s = exact_.find_live(normalized_text, now_ms)) {
    if (accepted(*s, 1.0, true))
      return record_hit(*s, 1.0, true, now_ms);
    return std::nullopt;
  }
  if (by_uuid_.empty())
    return std::nullopt;
  auto best = nearest_in_backlog(unit_query, threshold, now_ms);
  // The graph's answer has to reach the backlog's best to win.
  auto in_graph = nearest_in_graph(unit_query, best.slot ? best.similarity : threshold, now_ms);
  if (in_graph.slot && (!best.slot || in_graph.similarity > best.similarity))
    best = in_graph;
  if (!best.slot || !accepted(*best.slot, best.similarity, false))
    return std::nullopt;
  return record_hit(*best.slot, best.similarity, false, now_ms);
}

namespace_index::match namespace_index::nearest_in_graph(std::span<const float> unit_query, double threshold,
                                                         std::int64_t now_ms) const {
  auto& found = search_buffer;
  for (std::size_t ef = params_.ef_search;; ef *= 8) {
    graph_->search(unit_query.data(), ef, found);
    for (const auto& c : found) {
      double similarity = similarity_from_distance(c.distance);
      // Candidates come closest first: the rest are below the threshold too.
      if (!(similarity >= threshold))
        return {};
      auto* s = by_node_[c.node];
      if (s && !s->expired_at(now_ms))
        return {s, similarity};
    }
    // All candidates were expired. A short answer means the search already
    // saw every node it can reach; otherwise widen it.
    if (found.size() < ef || ef >= graph_->node_count())
      return {};
  }
}

namespace_index::match namespace_index::nearest_in_backlog(std::span<const float> unit_query,
                                                           double threshold, std::int64_t now_ms) const {
  match best;
  if (backlog_.empty())
    return best;
  // The distance the graph uses, so both halves of a lookup agree to the bit.
  auto distance = best_ip_distance();
  std::size_t dim = dimension_;
  for (auto* s : backlog_) {
    if (s->expired_at(now_ms))
      continue;
    double similarity =
        similarity_from_distance(distance(unit_query.data(), s->unindexed_vector.get(), &dim));
    if (similarity >= threshold && (!best.slot || similarity > best.similarity))
      best = {s, similarity};
  }
  return best;
}

void namespace_index::copy_vector(const entry_slot& s, float* out) const {
  if (s.indexed())
    graph_->vector(s.node, out);
  else
    std::copy_n(s.unindexed_vector.get(), dimension_, out);
}

search_hit namespace_index::record_hit(entry_slot& s, double similarity, bool exact, std::int64_t now_ms) {
  s.access_count.fetch_add(1, std::memory_order_relaxed);
  total_accesses_.fetch_add(1, std::memory_order_relaxed);
  auto at = std::max(s.created_at_ms, s.touch(now_ms));
  {
    std::lock_guard lru_lock(lru_mutex_);
    lru_.update(s, at);
  }
  return search_hit{std::string(s.uuid()), std::string(s.response()), similarity, exact,
                    std::string(s.query_text())};
}

std::vector<std::string> namespace_index::within_radius(std::span<const float> unit_probe, double threshold,
                                                        std::int64_t now_ms) const {
  if (unit_probe.size() != dimension_)
    return {};
  // The distances lookups use (the graph's query kernel, the backlog's), so
  // radius and lookup agree to the bit.
  auto backlog_distance = best_ip_distance();
  std::size_t dim = dimension_;
  std::vector<std::pair<double, const entry_slot*>> hits;
  std::shared_lock lock(mutex_);
  auto consider = [&](const entry_slot* s) {
    if (!s || s->expired_at(now_ms))
      return;
    float d = s->indexed() ? graph_->distance(unit_probe.data(), s->node)
                           : backlog_distance(unit_probe.data(), s->unindexed_vector.get(), &dim);
    double similarity = similarity_from_distance(d);
    if (similarity >= threshold)
      hits.emplace_back(similarity, s);
  };
  for (const auto* s : by_node_)
    consider(s);
  for (const auto* s : backlog_)
    consider(s);
  std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second->label < b.second->label;
  });
  std::vector<std::string> out;
  out.reserve(hits.size());
  for (const auto& h : hits)
    out.emplace_back(h.second->uuid());
  return out;
}

bool namespace_index::contains(std::string_view uuid) const {
  std::shared_lock lock(mutex_);
  return by_uuid_.count(uuid) != 0;
}

std::optional<cache_entry> namespace_index::get(std::string_view uuid) const {
  std::shared_lock lock(mutex_);
  auto it = by_uuid_.find(uuid);
  if (it == by_uuid_.end())
    return std::nullopt;
  const auto& s = **it;
  std::vector<float> v(dimension_);
  copy_vector(s, v.data());
  return cache_entry{std::string(s.uuid()),
                     std::move(v),
                     std::string(s.response()),
                     std::string(s.query_text()),
                     s.created_at_ms,
                     s.expires_at_ms,
                     s.access_count.load(std::memory_order_relaxed),
                     s.last_accessed_ms.load(std::memory_order_relaxed)};
}

index_stats namespace_index::stats() const {
  std::shared_lock lock(mutex_);
  index_stats st;
  st.entry_count = by_uuid_.size();
  st.dimension = dimension_;
  if (!created_.empty()) {
    st.oldest_entry_ms = created_.begin()->created_at_ms;
    st.newest_entry_ms = created_.rbegin()->created_at_ms;
  }
  st.total_accesses = total_accesses_.load(std::memory_order_relaxed);
  return st;
}

std::vector<entry_usage> namespace_index::top_entries(std::size_t n) const {
  struct row {
    std::uint64_t count;
    std::int64_t last;
    const entry_slot* slot;
  };
  std::shared_lock lock(mutex_);
  std::vector<row> rows;
  rows.reserve(by_uuid_.size());
  for (const auto& s : by_uuid_)
    rows.push_back({s->access_count.load(std::memory_order_relaxed),
                    s->last_accessed_ms.load(std::memory_order_relaxed), s.get()});
  n = std::min(n, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(n), rows.end(),
                    [](const row& a, const row& b) {
                      if (a.count != b.count)
                        return a.count > b.count;
                      if (a.last != b.last)
                        return a.last > b.last;
                      return a.slot->label > b.slot->label;
                    });
  std::vector<entry_usage> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({std::string(rows[i].slot->uuid()), rows[i].count, rows[i].last,
                   std::string(rows[i].slot->query_text())});
  return out;
}

// ---- writes

status namespace_index::check_insertable(const cache_entry& e) const {
  if (e.embedding.size() != dimension_)
    return error{errc::bad_request, "embedding has " + std::to_string(e.embedding.size()) +
                                        " values, the namespace has dimension " + std::to_string(dimension_)};
  if (!all_finite(e.embedding))
    return error{errc::bad_request, "embedding has a non-finite value"};
  return {};
}

status namespace_index::upsert(cache_entry e) {
  if (auto ok = check_insertable(e); !ok)
    return ok;
  std::lock_guard write_lock(write_mutex_);
  {
    std::unique_lock lock(mutex_);
    // Consumed even on failure: a half-added node may hold it.
    auto label = next_label_++;
    auto node = graph_->add(e.embedding.data(), label);
    if (!node)
      return node.err();
    if (auto old = by_uuid_.find(e.uuid); old != by_uuid_.end())
      detach(old);
    attach(make_slot(e, label), *node);
  }
  maybe_rebuild_graph();
  return {};
}

std::vector<std::size_t> namespace_index::plan_upserts(const std::vector<cache_entry>& entries,
                                                       std::vector<status>& out,
                                                       std::vector<std::uint64_t>& labels) {
  // Labels go out in entry order, as one upsert after another would hand
  // them out. An entry replaced by a later one of the same batch never
  // takes effect: sequential upserts would add it and delete it again.
  labels.assign(entries.size(), 0);
  std::unordered_map<std::string_view, std::size_t> last_of_uuid;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    out[i] = check_insertable(entries[i]);
    if (!out[i])
      continue;
    labels[i] = next_label_++;
    last_of_uuid[entries[i].uuid] = i;
  }
  std::vector<std::size_t> chosen;
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (out[i] && last_of_uuid[entries[i].uuid] == i)
      chosen.push_back(i);
  return chosen;
}

std::vector<status> namespace_index::upsert_many(std::vector<cache_entry> entries, std::size_t threads) {
  std::vector<status> out(entries.size());
  std::lock_guard write_lock(write_mutex_);
  std::unique_lock lock(mutex_);
  std::vector<std::uint64_t> labels;
  auto chosen = plan_upserts(entries, out, labels);
  std::vector<const float*> vectors;
  std::vector<std::uint64_t> chosen_labels;
  for (auto i : chosen) {
    vectors.push_back(entries[i].embedding.data());
    chosen_labels.push_back(labels[i]);
  }
  auto nodes = graph_->add_many(vectors, chosen_labels, threads);
  for (std::size_t k = 0; k < chosen.size(); ++k) {
    auto i = chosen[k];
    if (!nodes[k]) {
      out[i] = nodes[k].err();
      continue;
    }
    if (auto old = by_uuid_.find(entries[i].uuid); old != by_uuid_.end())
      detach(old);
    attach(make_slot(entries[i], labels[i]), *nodes[k]);
  }
  lock.unlock();
  maybe_rebuild_graph();
  return out;
}

std::vector<status> namespace_index::upsert_unindexed(std::vector<cache_entry> entries) {
  std::vector<status> out(entries.size());
  std::lock_guard write_lock(write_mutex_);
  {
    std::unique_lock lock(mutex_);
    std::vector<std::uint64_t> labels;
    for (auto i : plan_upserts(entries, out, labels)) {
      if (auto old = by_uuid_.find(entries[i].uuid); old != by_uuid_.end())
        detach(old);
      auto s = make_slot(entries[i], labels[i]);
      // Reduced now, as the graph will hold it: get() and snapshots return
      // the same values before and after the entry is linked.
      graph_->round_trip(entries[i].embedding);
      s->unindexed_vector = copy_of(entries[i].embedding);
      attach(std::move(s), entry_slot::no_node);
    }
  }
  maybe_rebuild_graph(); // replaced entries left deleted graph nodes behind
  return out;
}

result<std::size_t> namespace_index::index_backlog(std::size_t max_entries, std::size_t threads) {
  std::lock_guard write_lock(write_mutex_);
  std::unique_lock lock(mutex_);
  auto n = std::min(max_entries, backlog_.size());
  std::vector<const float*> vectors;
  std::vector<std::uint64_t> labels;
  vectors.reserve(n);
  labels.reserve(n);
  for (std::size_t k = 0; k < n; ++k) {
    vectors.push_back(backlog_[k]->unindexed_vector.get());
    labels.push_back(backlog_[k]->label);
  }
  auto nodes = graph_->add_many(vectors, labels, threads);
  std::vector<entry_slot*> left;
  std::optional<error> failure;
  for (std::size_t k = 0; k < n; ++k) {
    auto* s = backlog_[k];
    if (!nodes[k]) {
      failure = nodes[k].err();
      left.push_back(s);
      continue;
    }
    place(s, *nodes[k]);
    s->unindexed_vector.reset(); // the graph holds it now
  }
  auto first_kept = backlog_.begin() + static_cast<std::ptrdiff_t>(n);
  backlog_.erase(backlog_.begin(), first_kept);
  backlog_.insert(backlog_.begin(), left.begin(), left.end());
  if (failure)
    return *failure;
  return backlog_.size();
}

std::size_t namespace_index::backlog_size() const {
  std::shared_lock lock(mutex_);
  return backlog_.size();
}

bool namespace_index::remove(std::string_view uuid) {
  std::lock_guard write_lock(write_mutex_);
  {
    std::unique_lock lock(mutex_);
    auto it = by_uuid_.find(uuid);
    if (it == by_uuid_.end())
      return false;
    detach(it);
  }
  maybe_rebuild_graph();
  return true;
}

void namespace_index::place(entry_slot* s, std::uint32_t node) {
  s->node = node;
  if (by_node_.size() <= node) {
    by_node_.reserve(graph_->capacity());
    by_node_.resize(node + std::size_t{1}, nullptr);
  }
  by_node_[node] = s;
}

void namespace_index::attach(entry_slot::ptr s, std::uint32_t node, bool link_lru) {
  if (node == entry_slot::no_node)
    backlog_.push_back(s.get()); // labels only grow: the backlog stays in label order
  else
    place(s.get(), node);
  exact_.add(normalize_text(s->query_text()), s.get());
  if (link_lru) {
    std::lock_guard lru_lock(lru_mutex_);
    lru_.insert(*s, lru_key_of(*s));
  }
  if (s->expires_at_ms != 0)
    expiry_.insert(s.get());
  created_.insert(created_.end(), *s); // new entries are mostly the newest: the hint makes that O(1)
  total_accesses_.fetch_add(s->access_count.load(std::memory_order_relaxed), std::memory_order_relaxed);
  by_uuid_.insert(std::move(s));
}

void namespace_index::detach(slot_table::iterator it) {
  auto& s = **it;
  if (s.indexed()) {
    graph_->mark_deleted(s.node);
    by_node_[s.node] = nullptr;
  } else {
    backlog_.erase(std::find(backlog_.begin(), backlog_.end(), &s));
  }
  exact_.erase(normalize_text(s.query_text()), &s);
  {
    std::lock_guard lru_lock(lru_mutex_);
    lru_.erase(s);
  }
  if (s.expires_at_ms != 0)
    expiry_.erase(&s);
  created_.erase(created_.iterator_to(s));
  total_accesses_.fetch_sub(s.access_count.load(std::memory_order_relaxed), std::memory_order_relaxed);
  by_uuid_.erase(it);
}

std::vector<entry_slot*> namespace_index::slots_by_label() const {
  std::vector<entry_slot*> slots;
  slots.reserve(by_uuid_.size());
  for (const auto& s : by_uuid_)
    slots.push_back(s.get());
  std::sort(slots.begin(), slots.end(),
            [](const entry_slot* a, const entry_slot* b) { return a->label < b->label; });
  return slots;
}

void namespace_index::link_lru_sorted() {
  // One sort instead of n sorted insertions, which go quadratic when entries
  // arrive in label order but not in recency order.
  auto slots = slots_by_label();
  std::stable_sort(slots.begin(), slots.end(),
                   [](const entry_slot* a, const entry_slot* b) { return lru_key_of(*a) < lru_key_of(*b); });
  std::lock_guard lru_lock(lru_mutex_);
  for (auto* s : slots)
    lru_.insert(*s, lru_key_of(*s));
}

void namespace_index::maybe_rebuild_graph() {
  // Called by a writer holding write_mutex_, so nothing changes between the
  // phases. The new graph is built under the shared lock, so lookups go on
  // against the old one; only the swap is exclusive.
  std::unique_ptr<hnsw_graph> fresh;
  std::vector<std::pair<entry_slot*, hnsw_graph::node_id>> placed;
  {
    std::shared_lock lock(mutex_);
    auto deleted = graph_->deleted_count();
    if (deleted <= by_uuid_.size() || deleted < params_.min_deleted_for_rebuild)
      return;
    auto slots = slots_by_label();
    auto made = hnsw_graph::create(dimension_, params_, capacity_for(slots.size(), params_));
    if (!made)
      return; // keep the old graph: deleted nodes cost memory and time, not results
    fresh = std::move(made.value());
    placed.reserve(slots.size());
    for (auto* s : slots) {
      if (!s->indexed())
        continue; // backlog entries stay there
      auto node = fresh->add_copy(*graph_, s->node, s->label);
      if (!node)
        return;
      placed.emplace_back(s, *node);
    }
  }
  std::unique_lock lock(mutex_);
  std::swap(graph_, fresh); // the old graph is freed after the lock is released
  by_node_.assign(graph_->node_count(), nullptr);
  for (auto [s, node] : placed) {
    s->node = node;
    by_node_[node] = s;
  }
  ++graph_rebuilds_;
  lock.unlock();
  fresh.reset();
}

std::vector<std::string> namespace_index::expired(std::int64_t now_ms) const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  for (const auto* s : expiry_) {
    if (s->expires_at_ms > now_ms)
      break;
    out.emplace_back(s->uuid());
  }
  return out;
}

std::vector<std::string> namespace_index::lru_victims(std::size_t max_entries) const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> out;
  if (by_uuid_.size() <= max_entries)
    return out;
  auto n = by_uuid_.size() - max_entries;
  out.reserve(n);
  std::lock_guard lru_lock(lru_mutex_);
  for (auto* s = lru_.oldest(); s && out.size() < n; s = s->lru_next)
    out.emplace_back(s->uuid());
  return out;
}

// ---- snapshots

std::vector<labelled_entry> namespace_index::export_entries() const {
  std::shared_lock lock(mutex_);
  return export_entries_locked();
}

result<namespace_image> namespace_index::snapshot_image() const {
  try {
    std::shared_lock lock(mutex_);
    namespace_image img;
    img.dimension = dimension_;
    img.graph = graph_->image();
    // The embeddings are in the graph copy already; a second copy of every
    // vector would double the image's largest part.
    img.entries = export_entries_locked(false, &img.entry_nodes);
    return img;
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("cannot copy the index for a snapshot: ") + e.what()};
  }
}

std::vector<labelled_entry> namespace_index::export_entries_locked(bool with_embeddings,
                                                                   std::vector<std::uint32_t>* nodes) const {
  std::vector<labelled_entry> out;
  out.reserve(by_uuid_.size());
  if (nodes)
    nodes->reserve(by_uuid_.size());
  for (const auto* s : slots_by_label()) {
    std::vector<float> embedding;
    // A backlog entry's embedding is in no graph (nor graph copy).
    if (with_embeddings || !s->indexed()) {
      embedding.resize(dimension_);
      copy_vector(*s, embedding.data());
    }
    if (nodes)
      nodes->push_back(s->node);
    out.push_back(
        {s->label, cache_entry{std::string(s->uuid()), std::move(embedding), std::string(s->response()),
                               std::string(s->query_text()), s->created_at_ms, s->expires_at_ms,
                               s->access_count.load(std::memory_order_relaxed),
                               s->last_accessed_ms.load(std::memory_order_relaxed)}});
  }
  return out;
}

status namespace_index::save_graph(const std::filesystem::path& file) const {
  std::shared_lock lock(mutex_);
  try {
    return graph_->save(file);
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("cannot save graph: ") + e.what()};
  }
}

result<std::unique_ptr<namespace_index>>
namespace_index::restore(std::size_t dimension, hnsw_params params, const std::filesystem::path& graph_file,
                         const std::vector<labelled_entry>& entries) {
  auto load = [&]() -> result<std::unique_ptr<hnsw_graph>> {
    try {
      return hnsw_graph::load(graph_file, dimension, hnsw_graph::sanitize(params));
    } catch (const std::exception& e) {
      return error{errc::internal, std::string("cannot restore index: ") + e.what()};
    }
  };
  return restore(dimension, params, load, snapshot_entries::borrow(entries));
}

result<std::unique_ptr<namespace_index>>
namespace_index::restore(std::size_t dimension, hnsw_params params, std::unique_ptr<hnsw_graph> loaded,
                         const std::vector<labelled_entry>& entries) {
  auto take = [&]() -> result<std::unique_ptr<hnsw_graph>> { return std::move(loaded); };
  return restore(dimension, params, take, snapshot_entries::borrow(entries));
}

result<std::unique_ptr<namespace_index>> namespace_index::restore(std::size_t dimension, hnsw_params params,
                                                                  const graph_source& take_graph,
                                                                  const snapshot_entries& entries,
                                                                  restore_timings* timings) {
  using clock = std::chrono::steady_clock;
  auto phase_start = clock::now();
  auto end_phase = [&](double restore_timings::*field) {
    auto now = clock::now();
    if (timings)
      timings->*field = std::chrono::duration<double>(now - phase_start).count();
    phase_start = now;
  };
  try {
    params = hnsw_graph::sanitize(params);
    for (const auto& e : entries)
      if (e.embedding_values != dimension)
        return error{errc::bad_request, "entry " + std::string(e.uuid) + " does not have dimension " +
                                            std::to_string(dimension)};
    // Label order; a snapshot is written in it, so the sort is only a
    // fallback for entries from elsewhere.
    std::vector<const entry_ref*> sorted;
    sorted.reserve(entries.size());
    for (const auto& e : entries)
      sorted.push_back(&e);
    auto by_label = [](const entry_ref* a, const entry_ref* b) { return a->label < b->label; };
    if (!std::is_sorted(sorted.begin(), sorted.end(), by_label))
      std::stable_sort(sorted.begin(), sorted.end(), by_label);
    for (std::size_t i = 1; i < sorted.size(); ++i)
      if (sorted[i]->label == sorted[i - 1]->label)
        return error{errc::internal, "entries share a label"};

    // Everything that needs no graph first, while recovery's graph thread
    // is still loading it: the slots, the uuid table on this thread, the
    // exact-text map, time orders and LRU list on a second one (disjoint
    // structures; both only read the slots' fixed fields).
    std::unique_ptr<namespace_index> idx(new namespace_index(dimension, params, nullptr));
    std::vector<entry_slot*> slots;
    slots.reserve(sorted.size());
    idx->by_uuid_.reserve(sorted.size());
    bool replaced = false;
    for (const auto* e : sorted) {
      auto slot = make_slot(*e);
      slots.push_back(slot.get());
      auto [at, fresh] = idx->by_uuid_.insert(std::move(slot));
      if (!fresh && !replace_older(idx->by_uuid_, at, std::move(slot), sorted, slots))
        return error{errc::internal, "entries hold uuid " + std::string(e->uuid) + " twice"};
      replaced = replaced || !fresh;
    }
    if (replaced) { // drop the replaced entries' places (rare: only a damaged snapshot has them)
      std::size_t n = 0;
      for (std::size_t i = 0; i < slots.size(); ++i)
        if (slots[i]) {
          slots[n] = slots[i];
          sorted[n++] = sorted[i];
        }
      slots.resize(n);
      sorted.resize(n);
    }
    std::uint64_t accesses = 0;
    for (const auto* e : sorted)
      accesses += e->access_count;
    idx->total_accesses_.fetch_add(accesses, std::memory_order_relaxed);
    std::exception_ptr side_failed;
    std::thread side([&] {
      try {
        idx->exact_.reserve(slots.size());
        for (auto* s : slots) {
          idx->exact_.add(normalize_text(s->query_text()), s);
          if (s->expires_at_ms != 0)
            idx->expiry_.insert(s);
          idx->created_.insert(idx->created_.end(), *s);
        }
        // link_lru_sorted() without sorting by label first: slots are.
        auto by_recency = slots;
        std::stable_sort(by_recency.begin(), by_recency.end(), [](const entry_slot* a, const entry_slot* b) {
          return lru_key_of(*a) < lru_key_of(*b);
        });
        std::lock_guard lru_lock(idx->lru_mutex_);
        for (auto* s : by_recency)
          idx->lru_.insert(*s, lru_key_of(*s));
      } catch (...) {
        side_failed = std::current_exception();
      }
    });
    struct join_side {
      std::thread& t;
      ~join_side() {
        if (t.joinable())
          t.join();
      }
    } joiner{side};

    end_phase(&restore_timings::before_graph);
    auto loaded = take_graph();
    end_phase(&restore_timings::graph_wait);
    if (!loaded)
      return loaded.err();
    if (!loaded.value() || loaded.value()->dimension() != dimension)
      return error{errc::internal, "graph does not have dimension " + std::to_string(dimension)};
    idx->graph_ = std::move(loaded.value());
    auto& graph = *idx->graph_;
    idx->by_node_.assign(graph.node_count(), nullptr);
    std::uint64_t next_label = 0;
    for (std::size_t node = 0; node < graph.node_count(); ++node)
      next_label = std::max(next_label, graph.label(static_cast<hnsw_graph::node_id>(node)) + 1);
    // Match every entry with its node. The embedding is copied out of the
    // file only to compare it (the file's bytes are not aligned for float)
    // or, for an entry without a node, to keep it in the backlog.
    // Both sides in label order (labels are distinct on each): one merge
    // walk, as the graph keeps no label map.
    const auto nodes = graph.nodes_by_label();
    auto next_node = nodes.begin();
    std::vector<float> v(dimension);
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      const auto& e = *sorted[i];
      auto* slot = slots[i];
      copy_embedding(e, v.data());
      next_label = std::max(next_label, e.label + 1);
      while (next_node != nodes.end() && next_node->first < e.label)
        ++next_node;
      if (next_node != nodes.end() && next_node->first == e.label) {
        auto found = next_node->second;
        if (!graph.holds(found, v.data()))
          return error{errc::internal, "graph node of label " + std::to_string(e.label) +
                                           " differs from entry " + std::string(e.uuid)};
        graph.unmark_deleted(found); // the entries are the truth
        idx->place(slot, found);
      } else {
        if (!all_finite(v))
          return error{errc::bad_request, "entry " + std::string(e.uuid) + " has a non-finite value"};
        graph.round_trip(v); // to the backlog: restoring stays a load, not a build
        slot->unindexed_vector = copy_of(v);
        idx->backlog_.push_back(slot); // label order, as attach() keeps it
      }
    }
    side.join();
    if (side_failed)
      std::rethrow_exception(side_failed);
    for (std::size_t node = 0; node < idx->by_node_.size(); ++node)
      if (!idx->by_node_[node])
        graph.mark_deleted(static_cast<hnsw_graph::node_id>(node));
    idx->next_label_ = next_label;
    idx->maybe_rebuild_graph();
    end_phase(&restore_timings::after_graph);
    return idx;
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("cannot restore index: ") + e.what()};
  }
}

std::unique_ptr<namespace_index> namespace_index::rebuild(std::size_t dimension, hnsw_params params,
                                                          std::vector<labelled_entry> entries) {
  params = hnsw_graph::sanitize(params);
  std::erase_if(entries, [&](const labelled_entry& le) {
    return le.entry.embedding.size() != dimension || !all_finite(le.entry.embedding);
  });
  std::stable_sort(entries.begin(), entries.end(),
                   [](const labelled_entry& a, const labelled_entry& b) { return a.label < b.label; });
  if (!labels_distinct(entries))
    for (std::size_t i = 0; i < entries.size(); ++i)
      entries[i].label = i;
  sort_and_dedupe(entries);
  auto graph = hnsw_graph::create(dimension, params, capacity_for(entries.size(), params));
  if (!graph)
    throw std::bad_alloc();
  std::unique_ptr<namespace_index> idx(new namespace_index(dimension, params, std::move(graph.value())));
  for (auto& le : entries) {
    auto node = idx->graph_->add(le.entry.embedding.data(), le.label);
    if (!node)
      continue;
    idx->next_label_ = std::max(idx->next_label_, le.label + 1);
    idx->attach(make_slot(le.entry, le.label), *node, false);
  }
  idx->link_lru_sorted();
  return idx;
}

// ---- introspection

std::size_t namespace_index::graph_capacity() const {
  std::shared_lock lock(mutex_);
  return graph_->capacity();
}

std::size_t namespace_index::graph_deleted() const {
  std::shared_lock lock(mutex_);
  return graph_->deleted_count();
}

std::uint64_t namespace_index::graph_rebuilds() const {
  std::shared_lock lock(mutex_);
  return graph_rebuilds_;
}

memory_usage namespace_index::memory() const {
  namespace est = memory_estimate;
  std::shared_lock lock(mutex_);
  memory_usage m;
  if (graph_)
    graph_->add_memory_usage(m);
  for (const auto& slot : by_uuid_) {
    // One block per entry: the fixed fields, then the texts.
    auto block = est::chunk(entry_slot::block_bytes(slot->text_bytes()));
    m.entry_slots += sizeof(entry_slot);
    m.entry_texts += block - sizeof(entry_slot);
    if (slot->unindexed_vector)
      m.backlog_vectors += est::chunk(dimension_ * sizeof(float));
  }
  m.entry_index += est::chunk(by_uuid_.bucket_count() * sizeof(entry_slot::ptr)); // one bucket array
  m.entry_index += est::chunk(by_node_.capacity() * sizeof(entry_slot*));
  if (backlog_.capacity())
    m.entry_index += est::chunk(backlog_.capacity() * sizeof(entry_slot*));
  m.exact_map += exact_.memory_bytes();
  // Red-black tree nodes: three pointers and a colour, then the value.
  // The created-at order's links are in the slots (entry_slots above).
  m.time_orders += expiry_.size() * est::chunk(32 + sizeof(const entry_slot*));
  return m;
}

} // namespace ferro
