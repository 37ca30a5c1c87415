#include "actors/read_path.hpp"

#include <algorithm>

#include "actors/namespace_directory.hpp"

namespace ferro {

namespace {

error dimension_mismatch(const namespace_key& key, std::size_t got, std::size_t want) {
  return error{errc::bad_request, "embedding has " + std::to_string(got) + " dimensions but namespace '" +
                                      display_name(key) + "' has " + std::to_string(want)};
}

// Lookup in one namespace: nullopt on a miss or when it does not exist.
result<std::optional<search_hit>> lookup_in(const namespace_directory& dir, const namespace_key& key,
                                            const query_request& req, std::string_view text,
                                            std::int64_t now_ms) {
  auto index = dir.index_of(key);
  if (!index)
    return std::optional<search_hit>{};
  if (index->dimension() != req.embedding.size())
    return dimension_mismatch(key, req.embedding.size(), index->dimension());
  return index->lookup(req.embedding, text, req.threshold, now_ms);
}

bool is_continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

} // namespace

result<query_reply> answer_query(const namespace_directory& dir, query_request req, std::int64_t now_ms,
                                 node_metrics& metrics) {
  if (!normalize(req.embedding))
    return error{errc::bad_request, "embedding must be finite and not all zero"};
  auto text = normalize_text(req.query_text);
  query_reply reply;
  auto found = [&](const search_hit& h, const char* scope) {
    reply.hit = true;
    reply.id = h.uuid;
    reply.response = h.response;
    reply.similarity = h.similarity;
    reply.exact_match = h.exact_match;
    if (req.ns.has_conversation())
      reply.scope = scope;
  };
  auto r = lookup_in(dir, req.ns, req, text, now_ms);
  if (!r)
    return r.err();
  if (*r) {
    found(**r, "conversation");
  } else if (req.ns.has_conversation()) {
    auto g = lookup_in(dir, req.ns.base(), req, text, now_ms);
    if (!g)
      return g.err();
    if (*g)
      found(**g, "global");
  }
  metrics.queries_total.fetch_add(1, std::memory_order_relaxed);
  if (reply.hit) {
    metrics.queries_hit.fetch_add(1, std::memory_order_relaxed);
    if (reply.exact_match)
      metrics.exact_match_hits_total.fetch_add(1, std::memory_order_relaxed);
  } else {
    metrics.queries_miss.fetch_add(1, std::memory_order_relaxed);
  }
  return reply;
}

stats_reply collect_stats(const namespace_directory& dir) {
  stats_reply out;
  for (auto& it : dir.all()) {
    if (!it.index)
      continue;
    auto s = it.index->stats();
    // A conversation namespace disappears with its last entry (API.md).
    if (it.key.has_conversation() && s.entry_count == 0)
      continue;
    auto& agg = out.namespaces[display_name(it.key)];
    agg.entry_count += s.entry_count;
    agg.dimension = agg.dimension ? agg.dimension : s.dimension;
    if (s.oldest_entry_ms && (!agg.oldest_entry_ms || s.oldest_entry_ms < agg.oldest_entry_ms))
      agg.oldest_entry_ms = s.oldest_entry_ms;
    agg.newest_entry_ms = std::max(agg.newest_entry_ms, s.newest_entry_ms);
    agg.total_accesses += s.total_accesses;
    out.entry_count += s.entry_count;
  }
  return out;
}

entry_stats_reply collect_entry_stats(const namespace_directory& dir) {
  entry_stats_reply out;
  for (auto& it : dir.all()) {
    if (!it.index || it.index->size() == 0)
      continue;
    auto& list = out.namespaces[display_name(it.key)];
    for (auto& u : it.index->top_entries(defaults::entry_stats_top))
      list.push_back(top_entry{u.uuid, u.access_count, u.last_accessed_ms,
                               preview(u.query_text, defaults::preview_code_points)});
  }
  for (auto& [_, list] : out.namespaces) {
    std::stable_sort(list.begin(), list.end(), [](const top_entry& a, const top_entry& b) {
      if (a.access_count != b.access_count)
        return a.access_count > b.access_count;
      return a.last_accessed_ms > b.last_accessed_ms;
    });
    if (list.size() > defaults::entry_stats_top)
      list.resize(defaults::entry_stats_top);
  }
  return out;
}

std::string preview(std::string_view text, std::size_t max_code_points) {
  std::size_t points = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (is_continuation(static_cast<unsigned char>(text[i])))
      continue;
    if (points == max_code_points)
      return std::string{text.substr(0, i)} + "...";
    ++points;
  }
  return std::string{text};
}

} // namespace ferro
