#include "index/hnsw_graph.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>

#include <sys/mman.h>

// The only include of hnswlib in the program (see hnsw_graph.hpp).
#include <hnswlib.h>

#include "index/graph_file.hpp"
#include "index/vector_codec.hpp"

namespace ferro {

namespace {

using hnsw = hnswlib::HierarchicalNSW<float>;

/// Inner product on unit vectors with our SIMD kernels; hnswlib's own spaces
/// pick their kernel at compile time, which a portable build cannot use.
/// hnswlib copies and compares `get_data_size()` opaque bytes per node, so
/// the stored form may be any of the codec's: the space's distance compares
/// two stored vectors, and searches use the codec's query distance instead.
class ip_space final : public hnswlib::SpaceInterface<float> {
public:
  explicit ip_space(const vector_codec& codec)
      : dimension_(codec.dimension()), bytes_(codec.bytes()), fn_(codec.stored_distance()) {}
  std::size_t get_data_size() override { return bytes_; }
  hnswlib::DISTFUNC<float> get_dist_func() override { return fn_; }
  void* get_dist_func_param() override { return &dimension_; }

private:
  std::size_t dimension_;
  std::size_t bytes_;
  ip_distance_fn fn_;
};

// hnswlib 0.6.2 gives every graph 65536 update mutexes (2.5 MiB, written at
// construction), a heavy price for the many small namespaces a cache has
// (one per conversation). It indexes them by `internal id & 65535`, and
// internal ids stay below the capacity: keep only the mutexes a capacity can
// reach.
void fit_update_locks(hnsw& g, std::size_t capacity) {
  auto n = std::min(capacity, static_cast<std::size_t>(hnsw::max_update_element_locks));
  if (g.link_list_update_locks_.size() != n)
    std::vector<std::mutex>(n).swap(g.link_list_update_locks_);
}

// hnswlib 0.6.2 prefetches "the next link" while scanning a link list, which
// reads one id past a full upper-level list; addPoint allocates those lists
// with a single spare byte. Harmless on glibc (the read stays inside the
// malloc chunk and only feeds a prefetch), but undefined, and ASan stops on
// it. Each node's upper-level block gets room for one more id. A new node's
// lists are never scanned during its own insertion, so padding right after
// addPoint is soon enough.
constexpr std::size_t link_padding = sizeof(hnswlib::tableint);

void pad_upper_links(hnsw& g, hnswlib::tableint id) {
  int level = g.element_levels_[id];
  if (level == 0)
    return;
  // Concurrent inserts may already route through this node; each of them
  // reads its upper-level lists only under the node's link lock.
  std::lock_guard guard(g.link_list_locks_[id]);
  auto* p = std::realloc(g.linkLists_[id], g.size_links_per_element_ * level + link_padding);
  if (!p)
    throw std::bad_alloc();
  g.linkLists_[id] = static_cast<char*>(p);
}

// Every search reads a few hundred vectors scattered over the level-0 block
// (hundreds of MiB for a large namespace); with 4 KiB pages nearly each one
// costs a TLB miss and a page walk. Transparent huge pages cut that, and on
// systems where they are opt-in ("madvise" mode, Debian's default) only
// regions that ask get them. Only whole 2 MiB pages inside the block can be
// huge; the ends stay small. Best effort: refusal changes speed, not results.
void advise_huge_pages(const hnsw& g) {
#ifdef MADV_HUGEPAGE
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  auto begin = reinterpret_cast<std::uintptr_t>(g.data_level0_memory_);
  auto end = begin + g.max_elements_ * g.size_data_per_element_;
  auto first = (begin + huge - 1) & ~(huge - 1);
  auto last = end & ~(huge - 1);
  if (last > first)
    ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
}

// hnswlib keeps a label -> node hash map (label_lookup_) for its own
// by-label calls (markDelete, updates through addPoint), none of which we
// use: labels are in each node's level-0 slot, and the index never reuses
// one. One hash node and bucket per node is ~40 B per entry (2% of a 384-dim
// entry), so the map is emptied as soon as addPoint has filled it, under
// the lock addPoint fills it under (inserts run in parallel).
void forget_label(hnsw& g, std::uint64_t label) {
  std::lock_guard guard(g.cur_element_count_guard_);
  g.label_lookup_.erase(label);
}

/// hnswlib's insertion at `level` plus the link padding above; errors
/// instead of exceptions.
result<hnswlib::tableint> insert_node(hnsw& g, const void* v, std::uint64_t label, int level) {
  try {
    auto id = g.addPoint(v, label, level);
    forget_label(g, label);
    pad_upper_links(g, id);
    return id;
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("cannot add to HNSW graph: ") + e.what()};
  }
}

/// Doubles the capacity until it holds `nodes`; exclusive access only.
void grow_to(hnsw& g, std::size_t nodes) {
  auto capacity = g.max_elements_;
  while (capacity < nodes)
    capacity *= 2;
  if (capacity == g.max_elements_)
    return;
  g.resizeIndex(capacity);
  fit_update_locks(g, capacity);
  advise_huge_pages(g);
}

graph_file::header header_of(const hnsw& g) {
  graph_file::header h;
  h.offset_level0 = g.offsetLevel0_;
  h.max_elements = g.max_elements_;
  h.element_count = g.cur_element_count;
  h.size_data_per_element = g.size_data_per_element_;
  h.label_offset = g.label_offset_;
  h.offset_data = g.offsetData_;
  h.max_level = g.maxlevel_;
  h.enterpoint = g.enterpoint_node_;
  h.max_m = g.maxM_;
  h.max_m0 = g.maxM0_;
  h.m = g.M_;
  h.mult = g.mult_;
  h.ef_construction = g.ef_construction_;
  return h;
}

std::uint32_t upper_link_bytes(const hnsw& g, std::size_t node) {
  return g.element_levels_[node] > 0
             ? static_cast<std::uint32_t>(g.size_links_per_element_ * g.element_levels_[node])
             : 0;
}

error corrupt(const std::string& what) {
  return error{errc::internal, "graph file corrupt: " + what};
}

/// Checks every link of a loaded graph: counts within M, targets existing
/// nodes that have the level. hnswlib follows links unchecked, so a bad one
/// would make searches read out of bounds.
status check_links(const hnsw& g, const graph_file::header& h) {
  auto count = g.cur_element_count;
  for (std::size_t i = 0; i < count; ++i) {
    auto id = static_cast<hnswlib::tableint>(i);
    for (int level = 0; level <= g.element_levels_[i]; ++level) {
      auto* list = g.get_linklist_at_level(id, level);
      std::size_t n = g.getListCount(list);
      if (n > (level == 0 ? g.maxM0_ : g.maxM_))
        return corrupt("too many links at node " + std::to_string(i));
      auto* targets = reinterpret_cast<const hnswlib::tableint*>(list + 1);
      for (std::size_t j = 0; j < n; ++j)
        if (targets[j] >= count || g.element_levels_[targets[j]] < level)
          return corrupt("dangling link at node " + std::to_string(i));
    }
  }
  if (count > 0 && g.element_levels_[h.enterpoint] != h.max_level)
    return corrupt("entry point is not on the top level");
  return {};
}

/// Asks for the whole vector at p (`bytes` long) to be brought into cache.
inline void prefetch_vector(const char* p, std::size_t bytes) {
  for (std::size_t off = 0; off < bytes; off += 64)
    __builtin_prefetch(p + off, 0, 3);
}

/// The best-first search of level 0 (hnswlib's searchBaseLayerST, same
/// visiting order and stopping rule), with deeper prefetching: hnswlib asks
/// for the first cache line of the next neighbour's vector, which leaves the
/// rest of a large vector (24 lines at 384 dimensions, 96 at 1536) to the
/// hardware prefetcher, one stream start at a time. Here the neighbours
/// still to visit are collected first and each one's whole vector is
/// requested while the previous one's distance is computed.
/// Candidates are (distance, node); `top` ends as a max-heap of the best ef.
template <bool has_deletions>
void search_level0(const hnsw& g, ip_distance_fn dist, const float* q, hnswlib::tableint entry,
                   std::size_t ef, std::vector<std::pair<float, hnswlib::tableint>>& top) {
  using item = std::pair<float, hnswlib::tableint>;
  thread_local std::vector<item> frontier; // min-heap by distance (greater)
  frontier.clear();
  top.clear();
  auto* param = g.dist_func_param_;
  const std::size_t vector_bytes = g.data_size_;
  auto* visited_list = g.visited_list_pool_->getFreeVisitedList();
  auto* visited = visited_list->mass;
  const auto tag = visited_list->curV;

  float bound = std::numeric_limits<float>::max();
  if (!has_deletions || !g.isMarkedDeleted(entry)) {
    bound = dist(q, g.getDataByInternalId(entry), param);
    top.emplace_back(bound, entry);
  }
  frontier.emplace_back(bound, entry);
  visited[entry] = tag;

  hnswlib::tableint fresh[2048]; // a level-0 list holds up to 2 M ids; sanitize caps M at 1024
  while (!frontier.empty()) {
    auto [d_cur, cur] = frontier.front();
    if (d_cur > bound && (top.size() == ef || !has_deletions))
      break;
    std::pop_heap(frontier.begin(), frontier.end(), std::greater<>());
    frontier.pop_back();

    auto* list = g.get_linklist0(cur);
    std::size_t n = g.getListCount(list);
    auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
    std::size_t count = 0;
    for (std::size_t j = 0; j < n; ++j) {
      auto id = links[j];
      if (visited[id] != tag) {
        visited[id] = tag;
        fresh[count++] = id;
      }
    }
    if (count > 0)
      prefetch_vector(g.getDataByInternalId(fresh[0]), vector_bytes);
    for (std::size_t j = 0; j < count; ++j) {
      if (j + 1 < count)
        prefetch_vector(g.getDataByInternalId(fresh[j + 1]), vector_bytes);
      auto id = fresh[j];
      float d = dist(q, g.getDataByInternalId(id), param);
      if (top.size() < ef || d < bound) {
        frontier.emplace_back(d, id);
        std::push_heap(frontier.begin(), frontier.end(), std::greater<>());
        if (!has_deletions || !g.isMarkedDeleted(id)) {
          top.emplace_back(d, id);
          std::push_heap(top.begin(), top.end());
          if (top.size() > ef) {
            std::pop_heap(top.begin(), top.end());
            top.pop_back();
          }
        }
        if (!top.empty())
          bound = top.front().first;
      }
    }
  }
  g.visited_list_pool_->releaseVisitedList(visited_list);
}

} // namespace

struct hnsw_graph::impl {
  impl(std::size_t dimension, vector_type type) : codec(type, dimension), space(codec) {}
  vector_codec codec;
  ip_space space; // the graph keeps pointers into it: impl never moves
  std::unique_ptr<hnsw> g;

  const void* stored(node_id n) const { return g->getDataByInternalId(n); }
};

hnsw_graph::hnsw_graph(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

hnsw_graph::~hnsw_graph() = default;

hnsw_params hnsw_graph::sanitize(hnsw_params p) {
  // M = 1 makes hnswlib's level multiplier 1/ln(1); link counts are 16-bit.
  p.max_nb_connection = std::clamp<std::size_t>(p.max_nb_connection, 2, 1024);
  p.ef_construction = std::max<std::size_t>(p.ef_construction, 1);
  p.ef_search = std::max<std::size_t>(p.ef_search, 1);
  p.initial_capacity = std::max<std::size_t>(p.initial_capacity, 1);
  return p;
}

result<std::unique_ptr<hnsw_graph>> hnsw_graph::create(std::size_t dimension, const hnsw_params& params,
                                                       std::size_t capacity) {
  try {
    auto p = sanitize(params);
    capacity = std::max<std::size_t>(capacity, 1);
    auto i = std::make_unique<impl>(dimension, p.stored_type);
    i->g = std::make_unique<hnsw>(&i->space, capacity, p.max_nb_connection, p.ef_construction, p.seed);
    fit_update_locks(*i->g, capacity);
    advise_huge_pages(*i->g);
    i->g->setEf(p.ef_search);
    return std::unique_ptr<hnsw_graph>(new hnsw_graph(std::move(i)));
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("cannot allocate HNSW graph: ") + e.what()};
  }
}

result<std::unique_ptr<hnsw_graph>> hnsw_graph::load(const std::filesystem::path& file, std::size_t dimension,
                                                     const hnsw_params& params,
                                                     std::function<void(const void*, std::size_t)> watch) {
  try {
    auto p = sanitize(params);
    graph_file::reader r;
    if (auto s = r.open(file, std::move(watch)); !s)
      return s.err();
    auto type = vector_type::float32; // version 1
    if (r.version() == 2) {
      unsigned char prefix[graph_file::prefix_size];
      if (!r.bytes(prefix, sizeof(prefix)))
        return corrupt("truncated prefix");
      auto t = graph_file::decode_prefix(prefix);
      if (!t)
        return t.err();
      type = *t;
    }
    // Not corruption: the node was started with another hnsw.vector_type.
    // Callers rebuild the graph from the snapshot's float32 entries then.
    if (type != p.stored_type)
      return error{errc::internal, "graph file holds " + std::string(name_of(type)) +
                                       " vectors, hnsw.vector_type is " +
                                       std::string(name_of(p.stored_type))};
    unsigned char raw[graph_file::header_size];
    if (!r.bytes(raw, sizeof(raw)))
      return corrupt("truncated header");
    auto h = graph_file::decode_header(raw);
    auto payload = r.payload_size() - (r.version() == 2 ? graph_file::prefix_size : 0);
    if (auto s = graph_file::check_header(h, {dimension, p.max_nb_connection, type}, payload); !s)
      return s.err();
    // Same capacity as a graph grown by doubling to this size.
    auto count = static_cast<std::size_t>(h.element_count);
    std::size_t capacity = p.initial_capacity;
    while (capacity < count)
      capacity *= 2;
    auto made = create(dimension, p, capacity);
    if (!made)
      return made.err();
    auto& g = *made.value()->impl_->g;
    if (!r.bytes(g.data_level0_memory_, count * g.size_data_per_element_))
      return corrupt("truncated level-0 block");
    for (std::size_t i = 0; i < count; ++i) {
      std::uint32_t bytes = 0;
      if (!r.bytes(&bytes, sizeof(bytes)))
        return corrupt("truncated link lists");
      auto level = bytes / g.size_links_per_element_;
      if (bytes % g.size_links_per_element_ != 0 || level > static_cast<std::size_t>(h.max_level) ||
          bytes > r.remaining())
        return corrupt("bad link list size at node " + std::to_string(i));
      char* links = nullptr;
      if (level > 0) {
        links = static_cast<char*>(std::malloc(bytes + link_padding));
        if (!links)
          return error{errc::internal, "out of memory loading graph"};
      }
      // Publish node i before reading into it, so the destructor frees it
      // if anything below fails.
      g.linkLists_[i] = links;
      g.element_levels_[i] = static_cast<int>(level);
      g.cur_element_count = i + 1;
      if (links && !r.bytes(links, bytes))
        return corrupt("truncated link lists");
    }
    if (!r.verify())
      return corrupt("checksum mismatch");
    if (auto s = check_links(g, h); !s)
      return s.err();
    for (std::size_t i = 0; i < count; ++i)
      if (g.isMarkedDeleted(static_cast<hnswlib::tableint>(i)))
        ++g.num_deleted_;
    // Labels are not put in hnswlib's label map (forget_label); a sorted
    // copy finds duplicates for less than the map would cost to build.
    auto by_label = made.value()->nodes_by_label();
    for (std::size_t i = 1; i < by_label.size(); ++i)
      if (by_label[i].first == by_label[i - 1].first)
        return corrupt("duplicate label");
    g.enterpoint_node_ = h.enterpoint;
    g.maxlevel_ = h.max_level;
    g.setEf(p.ef_search);
    return made;
  } catch (const std::exception& e) {
    return error{errc::internal, std::string("cannot load graph: ") + e.what()};
  }
}

std::size_t hnsw_graph::dimension() const {
  return impl_->codec.dimension();
}
vector_type hnsw_graph::stored_type() const {
  return impl_->codec.type();
}
std::size_t hnsw_graph::capacity() const {
  return impl_->g->max_elements_;
}
std::size_t hnsw_graph::node_count() const {
  return impl_->g->cur_element_count;
}
std::size_t hnsw_graph::deleted_count() const {
  return impl_->g->num_deleted_;
}

void hnsw_graph::add_memory_usage(memory_usage& m) const {
  namespace est = memory_estimate;
  const auto& g = *impl_->g;
  const std::size_t used = g.cur_element_count;
  // The level-0 block is one allocation of capacity slots: links, vector,
  // label per slot. Slots past cur_element_count are allocated but only
  // resident once touched (or where a huge page covers them).
  m.graph_vectors += used * g.data_size_;
  m.graph_level0 += used * (g.size_data_per_element_ - g.data_size_);
  m.graph_free_slots +=
      est::chunk(g.max_elements_ * g.size_data_per_element_) - used * g.size_data_per_element_;
  for (std::size_t i = 0; i < used; ++i)
    if (g.element_levels_[i] > 0)
      m.graph_upper_links +=
          est::chunk(g.size_links_per_element_ * static_cast<std::size_t>(g.element_levels_[i]));
  // Per slot: its level (int), its upper-list pointer, its link lock; per
  // node: a label map entry; one visited list (2 bytes a slot) per thread
  // searching at once, at least one.
  m.graph_node_tables +=
      est::chunk(g.element_levels_.capacity() * sizeof(int)) + est::chunk(g.max_elements_ * sizeof(void*)) +
      est::chunk(g.link_list_locks_.capacity() * sizeof(std::mutex)) +
      est::chunk(g.link_list_update_locks_.capacity() * sizeof(std::mutex)) +
      est::hash_table(g.label_lookup_.size(), g.label_lookup_.bucket_count(),
                      sizeof(std::pair<const hnswlib::labeltype, hnswlib::tableint>), false) +
      est::chunk(g.max_elements_ * sizeof(hnswlib::vl_type));
}

result<hnsw_graph::node_id> hnsw_graph::add(const float* v, std::uint64_t label) {
  // One job on one thread: the same checks, growth and level draw as a batch.
  return std::move(add_many({v}, {label}, 1).front());
}

result<hnsw_graph::node_id> hnsw_graph::add_copy(const hnsw_graph& from, node_id n, std::uint64_t label) {
  if (from.stored_type() != stored_type() || from.dimension() != dimension())
    return error{errc::internal, "cannot copy a node between graphs of different vector layouts"};
  // The stored bytes as they are: decoding and encoding again could move an
  // int8 scale by an ulp on every rebuild.
  return std::move(add_stored({from.impl_->stored(n)}, {label}, 1).front());
}

// Parallel insertion. hnswlib's addPoint holds its new node's link lock for
// the whole insertion and locks other nodes one at a time meanwhile; a node
// becomes reachable only through links its insertion writes. Level-0 nodes
// search, then link, so a thread only waits for a node whose insertion is
// already linking, which started linking before the waiter's own search
// ended: along any chain of waits, linking starts strictly earlier, and no
// chain closes into a cycle. A node on upper levels searches and links level
// by level; two of those at once can wait for each other (each reachable on
// a higher level while it searches a lower one). One of them among level-0
// inserts cannot: a level-0 node is never on its upper-level paths, and a
// level-0 insert can only wait for it while it links level 0, its last
// phase, which the argument above covers. So upper-level nodes take turns
// under a mutex while level-0 nodes go in freely.
//
// Levels are drawn up front from the graph's generator, one thread, input
// order. addPoint draws again internally and cannot be told "level 0", so
// its multiplier is 0 meanwhile, which makes that draw 0 whatever the
// generator holds (its unguarded state is shared by the threads, as in
// hnswlib's own parallel insertion); upper levels are passed in.
std::vector<result<hnsw_graph::node_id>> hnsw_graph::add_many(const std::vector<const float*>& vectors,
                                                              const std::vector<std::uint64_t>& labels,
                                                              std::size_t threads) {
  const auto& codec = impl_->codec;
  if (codec.type() == vector_type::float32)
    return add_stored(std::vector<const void*>(vectors.begin(), vectors.end()), labels, threads);
  // Encoded once up front: hnswlib copies the stored form into the node and
  // compares stored forms while linking.
  std::vector<unsigned char> encoded(vectors.size() * codec.bytes());
  std::vector<const void*> stored(vectors.size());
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    stored[i] = encoded.data() + i * codec.bytes();
    codec.encode(vectors[i], encoded.data() + i * codec.bytes());
  }
  return add_stored(stored, labels, threads);
}

std::vector<result<hnsw_graph::node_id>> hnsw_graph::add_stored(const std::vector<const void*>& vectors,
                                                                const std::vector<std::uint64_t>& labels,
                                                                std::size_t threads) {
  auto& g = *impl_->g;
  const auto n = labels.size();
  std::vector<result<node_id>> out(n, error{errc::internal, "not inserted"});
  try {
    grow_to(g, g.cur_element_count + n);
  } catch (const std::exception& e) {
    out.assign(n, error{errc::internal, std::string("cannot grow HNSW graph: ") + e.what()});
    return out;
  }
  // Labels are checked against the batch before any insert. Against the
  // graph they are the caller's promise (add_many's contract): hnswlib's
  // label map is kept empty (forget_label), so a reused label would make a
  // second node rather than an update.
  struct job {
    std::size_t input;
    int level;
  };
  std::vector<job> jobs;
  jobs.reserve(n);
  std::unordered_set<std::uint64_t> batch_labels;
  for (std::size_t i = 0; i < n; ++i) {
    if (!batch_labels.insert(labels[i]).second) {
      out[i] = error{errc::internal, "label " + std::to_string(labels[i]) + " twice in one batch"};
      continue;
    }
    jobs.push_back(job{i, g.getRandomLevel(g.mult_)});
  }

  std::mutex upper_turn;
  auto insert = [&](const job& j) {
    std::unique_lock turn(upper_turn, std::defer_lock);
    if (j.level > 0)
      turn.lock();
    auto id = insert_node(g, vectors[j.input], labels[j.input], j.level);
    out[j.input] = id ? result<node_id>(static_cast<node_id>(*id)) : result<node_id>(id.err());
  };
  const double mult = g.mult_;
  g.mult_ = 0;
  std::size_t first = 0;
  if (g.cur_element_count == 0 && !jobs.empty()) // hnswlib's first node goes in alone
    insert(jobs[first++]);
  if (g.cur_element_count == 0)
    threads = 1; // the first insert failed: never in parallel into an empty graph
  // A thread costs tens of microseconds to start; each should get a few
  // inserts (hundreds of microseconds each) to be worth it.
  constexpr std::size_t min_per_thread = 2;
  threads =
      std::clamp<std::size_t>(threads, 1, std::max<std::size_t>(1, (jobs.size() - first) / min_per_thread));
  std::atomic<std::size_t> next{first};
  auto work = [&] {
    for (std::size_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < jobs.size();)
      insert(jobs[k]);
  };
  {
    std::vector<std::jthread> helpers;
    try {
      for (std::size_t t = 1; t < threads; ++t)
        helpers.emplace_back(work);
    } catch (const std::system_error&) {
      // No more threads to be had: those that started and this one do it all.
    }
    work();
  }
  g.mult_ = mult;
  return out;
}

void hnsw_graph::mark_deleted(node_id n) {
  if (!impl_->g->isMarkedDeleted(n))
    impl_->g->markDeletedInternal(n);
}

void hnsw_graph::unmark_deleted(node_id n) {
  if (impl_->g->isMarkedDeleted(n))
    impl_->g->unmarkDeletedInternal(n);
}

bool hnsw_graph::is_deleted(node_id n) const {
  return impl_->g->isMarkedDeleted(n);
}

void hnsw_graph::vector(node_id n, float* out) const {
  impl_->codec.decode(impl_->stored(n), out);
}

float hnsw_graph::distance(const float* q, node_id n) const {
  auto dimension = impl_->codec.dimension();
  return impl_->codec.query_distance()(q, impl_->stored(n), &dimension);
}

bool hnsw_graph::holds(node_id n, const float* v) const {
  return impl_->codec.encodes_to(v, impl_->stored(n));
}

void hnsw_graph::round_trip(std::vector<float>& v) const {
  impl_->codec.round_trip(v);
}

std::uint64_t hnsw_graph::label(node_id n) const {
  return impl_->g->getExternalLabel(n);
}

std::vector<std::pair<std::uint64_t, hnsw_graph::node_id>> hnsw_graph::nodes_by_label() const {
  const auto& g = *impl_->g;
  std::vector<std::pair<std::uint64_t, node_id>> out(g.cur_element_count);
  for (std::size_t i = 0; i < out.size(); ++i) {
    auto n = static_cast<node_id>(i);
    out[i] = {g.getExternalLabel(n), n};
  }
  // Nodes are mostly in label order already (labels grow with inserts).
  if (!std::is_sorted(out.begin(), out.end()))
    std::sort(out.begin(), out.end());
  return out;
}

void hnsw_graph::search(const float* q, std::size_t ef, std::vector<candidate>& out) const {
  out.clear();
  const auto& g = *impl_->g;
  if (g.cur_element_count == 0)
    return;
  // The same greedy descent as hnswlib's searchKnn, minus its shared
  // statistics counters (atomics every search thread would fight over) and
  // its label translation: callers want node ids.
  try {
    auto dist = impl_->codec.query_distance(); // the query stays float32
    auto* param = g.dist_func_param_;
    hnswlib::tableint cur = g.enterpoint_node_;
    float cur_dist = dist(q, g.getDataByInternalId(cur), param);
    for (int level = g.maxlevel_; level > 0; --level) {
      for (bool moved = true; moved;) {
        moved = false;
        auto* list = g.get_linklist(cur, level);
        std::size_t n = g.getListCount(list);
        auto* targets = reinterpret_cast<const hnswlib::tableint*>(list + 1);
        for (std::size_t j = 0; j < n; ++j) {
          float d = dist(q, g.getDataByInternalId(targets[j]), param);
          if (d < cur_dist) {
            cur_dist = d;
            cur = targets[j];
            moved = true;
          }
        }
      }
    }
    thread_local std::vector<std::pair<float, hnswlib::tableint>> top;
    if (g.num_deleted_)
      search_level0<true>(g, dist, q, cur, ef, top);
    else
      search_level0<false>(g, dist, q, cur, ef, top);
    std::sort_heap(top.begin(), top.end()); // closest first
    out.resize(top.size());
    for (std::size_t i = 0; i < top.size(); ++i)
      out[i] = candidate{top[i].first, top[i].second};
  } catch (const std::exception&) {
    out.clear();
  }
}

graph_image hnsw_graph::image() const {
  // Only plain copies: the level-0 block is one allocation in hnswlib, and
  // upper-level link lists exist for about one node in M. The padding after
  // each upper-level block (pad_upper_links) is not part of the file.
  const auto& g = *impl_->g;
  graph_image img;
  img.header = header_of(g);
  img.type = impl_->codec.type();
  const std::size_t count = g.cur_element_count;
  img.level0_bytes = count * g.size_data_per_element_;
  img.level0.reset(new char[img.level0_bytes]); // default-initialised: no memset before the copy
  std::memcpy(img.level0.get(), g.data_level0_memory_, img.level0_bytes);
  img.link_bytes.resize(count);
  std::size_t total = 0;
  for (std::size_t i = 0; i < count; ++i)
    total += img.link_bytes[i] = upper_link_bytes(g, i);
  img.links.resize(total);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (img.link_bytes[i] == 0)
      continue;
    std::memcpy(img.links.data() + offset, g.linkLists_[i], img.link_bytes[i]);
    offset += img.link_bytes[i];
  }
  return img;
}

status hnsw_graph::save(const std::filesystem::path& file) const {
  const auto& g = *impl_->g;
  unsigned char raw[graph_file::header_size];
  graph_file::encode_header(header_of(g), raw);

  auto tmp = file;
  tmp += ".tmp";
  graph_file::writer w(tmp);
  if (impl_->codec.type() != vector_type::float32) {
    unsigned char prefix[graph_file::prefix_size];
    graph_file::encode_prefix(impl_->codec.type(), prefix);
    w.bytes(prefix, sizeof(prefix));
  }
  w.bytes(raw, sizeof(raw));
  w.bytes(g.data_level0_memory_, g.cur_element_count * g.size_data_per_element_);
  for (std::size_t i = 0; i < g.cur_element_count; ++i) {
    std::uint32_t bytes = upper_link_bytes(g, i);
    w.pod(bytes);
    w.bytes(g.linkLists_[i], bytes);
  }
  if (auto s = w.finish(graph_file::magic_for(impl_->codec.type())); !s) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    return s;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec)
    return error{errc::internal, "cannot rename graph file to " + file.string() + ": " + ec.message()};
  return {};
}

} // namespace ferro
