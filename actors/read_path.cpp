#include "actors/read_path.hpp"

#include <algorithm>

#include "actors/namespace_directory.hpp"
#include "quality/hit_gate.hpp"

namespace ferro {

namespace {

error dimension_mismatch(const namespace_key& key, std::size_t got, std::size_t want) {
  return error{errc::bad_request, "embedding has " + std::to_string(got) + " dimensions but namespace '" +
                                      display_name(key) + "' has " + std::to_string(want)};
}

/// A hit and the rule that let it through.
struct gated_hit {
  search_hit hit;
  quality::gate_verdict verdict;
};

// Lookup in one namespace: nullopt on a miss or when it does not exist.
// Without quality options this is the plain threshold lookup; with them the
// gate sees the candidate before it counts as a hit (docs/quality.md).
result<std::optional<gated_hit>> lookup_in(const namespace_directory& dir, const namespace_key& key,
                                           const query_request& req, std::string_view text,
                                           std::int64_t now_ms, quality::hit_gate& gate,
                                           node_metrics& metrics) {
  auto index = dir.index_of(key);
  if (!index)
    return std::optional<gated_hit>{};
  if (index->dimension() != req.embedding.size())
    return dimension_mismatch(key, req.embedding.size(), index->dimension());
  if (!req.strict_check && !req.max_error_rate) {
    auto h = index->lookup(req.embedding, text, req.threshold, now_ms);
    if (!h)
      return std::optional<gated_hit>{};
    quality::gate_verdict v;
    v.serve = true;
    v.decided_by = h->exact_match ? "exact" : "threshold";
    return std::optional<gated_hit>{gated_hit{std::move(*h), v}};
  }
  std::shared_ptr<const quality::calibrated_model> model;
  if (req.max_error_rate)
    if (auto view = dir.decision_model_of(key))
      model = view->current();
  quality::gate_verdict verdict;
  auto h = index->lookup(
      req.embedding, text, gate.search_threshold(model.get()), now_ms, [&](const search_hit& candidate) {
        verdict = gate.judge(candidate.similarity, candidate.exact_match, candidate.query_text, model.get());
        return verdict.serve;
      });
  if (!h) {
    if (std::string_view{verdict.decided_by} == "check")
      metrics.quality_check_refusals_total.fetch_add(1, std::memory_order_relaxed);
    else if (std::string_view{verdict.decided_by} == "error_bound")
      metrics.error_bound_refusals_total.fetch_add(1, std::memory_order_relaxed);
    return std::optional<gated_hit>{};
  }
  if (std::string_view{verdict.decided_by} == "error_bound")
    metrics.error_bound_hits_total.fetch_add(1, std::memory_order_relaxed);
  return std::optional<gated_hit>{gated_hit{std::move(*h), verdict}};
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
  quality::hit_gate gate({req.threshold, req.strict_check, req.max_error_rate}, req.query_text);
  auto found = [&](gated_hit& g, const char* scope) {
    auto& h = g.hit;
    reply.hit = true;
    reply.id = std::move(h.uuid);
    reply.response = std::move(h.response);
    reply.similarity = h.similarity;
    reply.exact_match = h.exact_match;
    reply.matched_query_text = std::move(h.query_text);
    reply.decided_by = g.verdict.decided_by;
    reply.error_estimate = g.verdict.estimate;
    reply.error_bound = g.verdict.bound;
    if (req.ns.has_conversation())
      reply.scope = scope;
  };
  auto r = lookup_in(dir, req.ns, req, text, now_ms, gate, metrics);
  if (!r)
    return r.err();
  if (*r) {
    found(**r, "conversation");
  } else if (req.ns.has_conversation()) {
    auto g = lookup_in(dir, req.ns.base(), req, text, now_ms, gate, metrics);
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
    if (it.quality) {
      auto model = it.quality->current();
      if (model && model->feedback_total() > 0) {
        if (!agg.quality)
          agg.quality.emplace();
        agg.quality->feedback_total += model->feedback_total();
        for (std::size_t c = 0; c < quality::agreement_classes; ++c) {
          auto cls = static_cast<quality::agreement_class>(c);
          auto s = model->summary(cls);
          auto& q = agg.quality->classes[quality::class_name(cls)];
          q.correct += s.correct;
          q.wrong += s.wrong;
          q.active = q.active || s.active;
          q.serving_from_at_5pct = std::min(q.serving_from_at_5pct, s.serving_from_at_5pct);
        }
        // With pooled feedback the pool decides: show where it serves from.
        if (dir.feedback_pooling())
          if (auto pool = dir.decision_model_of(it.key))
            if (auto pm = pool->current())
              for (std::size_t c = 0; c < quality::agreement_classes; ++c) {
                auto cls = static_cast<quality::agreement_class>(c);
                agg.quality->classes[quality::class_name(cls)].serving_from_at_5pct =
                    pm->summary(cls).serving_from_at_5pct;
              }
      }
    }
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
