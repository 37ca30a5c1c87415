#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string_view>

#include <boost/intrusive/set.hpp>

namespace ferro {

/// One entry as the index holds it. Its vector lives only in the graph (at
/// `node`), so each embedding is stored once; an entry still waiting for its
/// graph node (the index's backlog, see namespace_index::index_backlog)
/// holds it in `unindexed_vector` instead.
///
/// Packed: uuid, response and query text follow the fixed fields in the
/// same heap block (one allocation per entry instead of four, no string
/// headers; index/README.md, "Where the memory goes"). Make one with
/// entry_slot::make.
///
/// Immutable while in the tables, except: `node` (changed under the
/// exclusive lock when the graph is rebuilt), `unindexed_vector` (freed when
/// the entry is linked, under the exclusive lock), the access counters
/// (atomics, bumped by readers), the LRU links (guarded by the LRU mutex),
/// `exact_next` (the exact-text map's chain, changed by writers) and
/// `created_hook` (the created-at order, changed by writers).
struct entry_slot {
  static constexpr std::uint32_t no_node = std::numeric_limits<std::uint32_t>::max();
  using created_hook_type =
      boost::intrusive::set_member_hook<boost::intrusive::optimize_size<true>,
                                        boost::intrusive::link_mode<boost::intrusive::normal_link>>;

  struct deleter {
    void operator()(entry_slot* s) const noexcept;
  };
  using ptr = std::unique_ptr<entry_slot, deleter>;

  /// A slot holding copies of the three texts (each at most 4 GiB).
  static ptr make(std::string_view uuid, std::string_view response, std::string_view query_text);
  /// Bytes of the heap block of a slot with these text sizes.
  static std::size_t block_bytes(std::size_t text_bytes) { return sizeof(entry_slot) + text_bytes; }

  std::uint64_t label = 0;                   ///< never reused; larger = inserted later
  std::unique_ptr<float[]> unindexed_vector; ///< the embedding (dimension values) while node == no_node
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0; ///< 0 = never

  std::atomic<std::uint64_t> access_count{0};
  std::atomic<std::int64_t> last_accessed_ms{0};

  // LRU list links: see lru_list.
  entry_slot* lru_prev = nullptr;
  entry_slot* lru_next = nullptr;
  std::int64_t lru_key = 0; ///< max(created_at_ms, last_accessed_ms)

  entry_slot* exact_next = nullptr; ///< next older entry in the exact-text map's chain
  /// The namespace's created-at order (namespace_index::created_order): an
  /// intrusive tree node, three pointers with the colour packed into one,
  /// instead of a 48-byte std::multiset node per entry.
  created_hook_type created_hook;
  std::uint32_t node = no_node; ///< graph node id; no_node while in the backlog (packs with the sizes)

  std::string_view uuid() const { return {texts(), uuid_size_}; }
  std::string_view response() const { return {texts() + uuid_size_, response_size_}; }
  std::string_view query_text() const {
    return {texts() + uuid_size_ + response_size_, query_size_};
  } ///< as sent
  std::size_t text_bytes() const { return std::size_t{uuid_size_} + response_size_ + query_size_; }

  bool indexed() const { return node != no_node; }
  bool expired_at(std::int64_t now_ms) const { return expires_at_ms != 0 && expires_at_ms <= now_ms; }

  /// Raises last_accessed_ms to at least now_ms (concurrent hits may arrive
  /// out of order) and returns the value it holds afterwards.
  std::int64_t touch(std::int64_t now_ms) {
    auto seen = last_accessed_ms.load(std::memory_order_relaxed);
    while (seen < now_ms && !last_accessed_ms.compare_exchange_weak(seen, now_ms, std::memory_order_relaxed))
      ;
    return seen < now_ms ? now_ms : seen;
  }

  entry_slot(const entry_slot&) = delete;
  entry_slot& operator=(const entry_slot&) = delete;

private:
  entry_slot() = default;
  ~entry_slot() = default;
  const char* texts() const { return reinterpret_cast<const char*>(this + 1); }
  char* texts() { return reinterpret_cast<char*>(this + 1); }

  std::uint32_t uuid_size_ = 0;
  std::uint32_t response_size_ = 0;
  std::uint32_t query_size_ = 0;
};

inline entry_slot::ptr entry_slot::make(std::string_view uuid, std::string_view response,
                                        std::string_view query_text) {
  const std::size_t text = uuid.size() + response.size() + query_text.size();
  void* block = ::operator new(block_bytes(text));
  ptr s(new (block) entry_slot);
  s->uuid_size_ = static_cast<std::uint32_t>(uuid.size());
  s->response_size_ = static_cast<std::uint32_t>(response.size());
  s->query_size_ = static_cast<std::uint32_t>(query_text.size());
  char* out = s->texts();
  // Empty views may carry a null pointer, which memcpy must not see.
  if (!uuid.empty())
    std::memcpy(out, uuid.data(), uuid.size());
  if (!response.empty())
    std::memcpy(out + uuid.size(), response.data(), response.size());
  if (!query_text.empty())
    std::memcpy(out + uuid.size() + response.size(), query_text.data(), query_text.size());
  return s;
}

inline void entry_slot::deleter::operator()(entry_slot* s) const noexcept {
  s->~entry_slot();
  ::operator delete(static_cast<void*>(s));
}

} // namespace ferro
