#include "http/responses.hpp"

#include "common/metrics.hpp"
#include "http/json_writer.hpp"

namespace ferro {

namespace {

http_response json_ok(std::string body, unsigned status = 200) {
  http_response res;
  res.status = status;
  res.body = std::move(body);
  return res;
}

void timestamp(json_writer& w, std::int64_t ms) {
  if (ms == 0)
    w.null();
  else
    w.number(static_cast<double>(ms) / 1000.0);
}

std::uint64_t load(const std::atomic<std::uint64_t>& c) {
  return c.load(std::memory_order_relaxed);
}

} // namespace

unsigned status_for(errc code) {
  switch (code) {
    case errc::bad_request:
      return 400;
    case errc::unprocessable:
      return 422;
    case errc::not_found:
      return 404;
    case errc::overloaded:
      return 429;
    case errc::unavailable:
    case errc::not_owner:
    case errc::fenced:
    case errc::stale_replica:
      return 503;
    case errc::timeout:
      return 504;
    case errc::internal:
      return 500;
  }
  return 500;
}

http_response error_response(unsigned status, std::string_view message) {
  http_response res;
  res.status = status;
  res.body.reserve(message.size() + 12);
  res.body += "{\"error\":";
  append_json_string(res.body, message);
  res.body += '}';
  return res;
}

http_response error_response(const error& e) {
  unsigned status = status_for(e.code);
  if (!e.message.empty())
    return error_response(status, e.message);
  switch (e.code) {
    case errc::bad_request:
      return error_response(status, "bad request");
    case errc::unprocessable:
      return error_response(status, "unprocessable request");
    case errc::not_found:
      return error_response(status, "not found");
    case errc::overloaded:
      return error_response(status, "overloaded; retry later");
    case errc::unavailable:
    case errc::not_owner:
    case errc::fenced:
    case errc::stale_replica:
      return error_response(status, "service unavailable");
    case errc::timeout:
      return error_response(status, "timed out");
    case errc::internal:
      break;
  }
  return error_response(status, "internal error");
}

void append_timestamp(std::string& out, std::int64_t ms) {
  if (ms == 0)
    out += "null";
  else
    append_json_number(out, static_cast<double>(ms) / 1000.0);
}

http_response insert_response(const insert_reply& r) {
  json_writer w;
  w.begin_object().key("id").string(r.id).key("status").string("ok").end_object();
  return json_ok(w.take());
}

http_response query_response(const query_reply& r, bool with_scope) {
  if (!r.hit)
    return json_ok("{\"hit\":false}");
  json_writer w;
  w.begin_object()
      .key("hit")
      .boolean(true)
      .key("id")
      .string(r.id)
      .key("response")
      .string(r.response)
      .key("similarity")
      .number(r.similarity)
      .key("exact_match")
      .boolean(r.exact_match)
      .key("matched_query_text")
      .string(r.matched_query_text)
      .key("decided_by")
      .string(!r.decided_by.empty() ? std::string_view{r.decided_by}
              : r.exact_match       ? std::string_view{"exact"}
                                    : std::string_view{"threshold"});
  if (r.error_estimate)
    w.key("error_estimate").number(*r.error_estimate);
  if (r.error_bound)
    w.key("error_bound").number(*r.error_bound);
  if (with_scope)
    w.key("scope").string(r.scope);
  w.end_object();
  return json_ok(w.take());
}

http_response feedback_response(const feedback_reply&) {
  return json_ok("{\"status\":\"ok\"}");
}

http_response delete_response(const delete_reply& r, std::string_view uuid) {
  if (!r.deleted) {
    std::string msg = "no entry with uuid ";
    append_json_string(msg, uuid);
    return error_response(404, msg);
  }
  return json_ok("{\"deleted\":true}");
}

http_response invalidate_response(const invalidate_reply& r) {
  json_writer w;
  w.begin_object().key("invalidated_count").number(std::uint64_t{r.uuids.size()}).key("uuids").begin_array();
  for (const auto& id : r.uuids)
    w.string(id);
  w.end_array().end_object();
  return json_ok(w.take());
}

http_response compact_response(const compact_reply& r) {
  json_writer w;
  w.begin_object()
      .key("status")
      .string("ok")
      .key("entries_snapshotted")
      .number(std::uint64_t{r.entries_snapshotted})
      .key("wal_sequence")
      .number(std::uint64_t{r.wal_sequence})
      .end_object();
  return json_ok(w.take());
}

http_response entry_stats_response(const entry_stats_reply& r) {
  json_writer w;
  w.begin_object().key("namespaces").begin_object();
  for (const auto& [name, entries] : r.namespaces) {
    w.key(name).begin_object().key("top_entries").begin_array();
    for (const auto& e : entries) {
      w.begin_object()
          .key("uuid")
          .string(e.uuid)
          .key("access_count")
          .number(std::uint64_t{e.access_count})
          .key("last_accessed_at");
      timestamp(w, e.last_accessed_ms);
      w.key("query_text_preview").string(e.query_text_preview).end_object();
    }
    w.end_array().end_object();
  }
  w.end_object().end_object();
  return json_ok(w.take());
}

http_response health_response(const health_reply& r) {
  json_writer w;
  w.begin_object().key("status").string(r.ready ? "ok" : "starting");
  // API.md: every error body has "error"; the 503 keeps "status" as well.
  if (!r.ready)
    w.key("error").string("node is starting (recovering its data)");
  w.key("node_id").string(r.node_id).key("entry_count").number(std::uint64_t{r.entry_count});
  w.end_object();
  return json_ok(w.take(), r.ready ? 200 : 503);
}

http_response stats_response(const stats_reply& r, const node_metrics& m) {
  json_writer w;
  w.begin_object()
      .key("entry_count")
      .number(std::uint64_t{r.entry_count})
      .key("hnsw")
      .begin_object()
      .key("max_nb_connection")
      .number(std::uint64_t{r.max_nb_connection})
      .key("ef_construction")
      .number(std::uint64_t{r.ef_construction})
      .key("ef_search")
      .number(std::uint64_t{r.ef_search})
      .end_object();
  w.key("namespaces").begin_object();
  for (const auto& [name, ns] : r.namespaces) {
    w.key(name)
        .begin_object()
        .key("entry_count")
        .number(std::uint64_t{ns.entry_count})
        .key("dimension")
        .number(std::uint64_t{ns.dimension})
        .key("oldest_entry_ts");
    timestamp(w, ns.oldest_entry_ms);
    w.key("newest_entry_ts");
    timestamp(w, ns.newest_entry_ms);
    w.key("total_accesses").number(std::uint64_t{ns.total_accesses});
    if (ns.quality) {
      w.key("quality").begin_object().key("feedback_total").number(std::uint64_t{ns.quality->feedback_total});
      w.key("classes").begin_object();
      for (const auto& [cls, q] : ns.quality->classes) {
        w.key(cls)
            .begin_object()
            .key("correct")
            .number(std::uint64_t{q.correct})
            .key("wrong")
            .number(std::uint64_t{q.wrong})
            .key("active")
            .boolean(q.active);
        if (q.serving_from_at_5pct <= 1.0)
          w.key("serving_from_at_5pct").number(q.serving_from_at_5pct);
        w.end_object();
      }
      w.end_object().end_object();
    }
    w.end_object();
  }
  w.end_object();
  const std::uint64_t total = load(m.queries_total);
  const std::uint64_t hits = load(m.queries_hit);
  const double hit_rate = total == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(total);
  w.key("counters")
      .begin_object()
      .key("queries_total")
      .number(total)
      .key("queries_hit")
      .number(hits)
      .key("queries_miss")
      .number(load(m.queries_miss))
      .key("hit_rate")
      .number(hit_rate)
      .key("inserts_total")
      .number(load(m.inserts_total))
      .key("evictions_total")
      .number(load(m.evictions_total))
      .key("expirations_total")
      .number(load(m.expirations_total))
      .key("deletions_total")
      .number(load(m.deletions_total))
      .key("invalidations_total")
      .number(load(m.invalidations_total))
      .key("exact_match_hits_total")
      .number(load(m.exact_match_hits_total))
      .key("feedback_total")
      .number(load(m.feedback_total))
      .key("feedback_wrong_total")
      .number(load(m.feedback_wrong_total))
      .key("quality_check_refusals_total")
      .number(load(m.quality_check_refusals_total))
      .key("error_bound_hits_total")
      .number(load(m.error_bound_hits_total))
      .key("error_bound_refusals_total")
      .number(load(m.error_bound_refusals_total))
      .key("compactions")
      .number(load(m.compactions))
      // Always present (zero in single mode) so the shape does not change
      // with the mode.
      .key("replication_writes_total")
      .number(load(m.replication_writes_total))
      .key("replication_failures_total")
      .number(load(m.replication_failures_total))
      .key("read_repairs_total")
      .number(load(m.read_repairs_total))
      .end_object();
  w.end_object();
  return json_ok(w.take());
}

http_response cluster_status_response(const cluster_status_reply& r) {
  json_writer w;
  std::vector<std::string> nodes = r.nodes;
  if (nodes.empty() && !r.self_node_id.empty())
    nodes.push_back(r.self_node_id); // single mode: the ring is just this node
  w.begin_object()
      .key("mode")
      .string(r.mode.empty() ? "single" : r.mode)
      .key("self_node_id")
      .string(r.self_node_id)
      .key("nodes")
      .begin_array();
  for (const auto& n : nodes)
    w.string(n);
  w.end_array()
      .key("node_count")
      .number(std::uint64_t{nodes.size()})
      .key("replication_factor")
      .number(std::uint64_t{r.replication_factor})
      .key("read_repair_enabled")
      .boolean(r.read_repair_enabled)
      .key("peer_health")
      .begin_object();
  for (const auto& [id, p] : r.peers)
    w.key(id)
        .begin_object()
        .key("status")
        .string(p.status)
        .key("phi")
        .number(p.phi)
        .key("generation")
        .string(p.generation)
        .key("address")
        .string(p.address)
        .end_object();
  w.end_object().key("dead_nodes").begin_array();
  for (const auto& n : r.dead_nodes)
    w.string(n);
  w.end_array()
      .key("read_lease")
      .boolean(r.mode != "clustered" || r.read_lease)
      .key("placement_epoch")
      .number(r.placement_epoch)
      .key("under_replicated_namespaces")
      .number(r.under_replicated_namespaces)
      .key("primary_namespaces")
      .number(r.primary_namespaces)
      .key("namespaces")
      .begin_object();
  for (const auto& [name, ns] : r.namespaces) {
    w.key(name)
        .begin_object()
        .key("role")
        .string(ns.role)
        .key("epoch")
        .number(ns.epoch)
        .key("primary")
        .string(ns.primary)
        .key("serving")
        .boolean(ns.serving)
        .key("replicas")
        .begin_array();
    for (const auto& id : ns.replicas)
      w.string(id);
    w.end_array().key("in_sync").begin_array();
    for (const auto& id : ns.in_sync)
      w.string(id);
    w.end_array().end_object();
  }
  w.end_object().end_object();
  return json_ok(w.take());
}

} // namespace ferro
