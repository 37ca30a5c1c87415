#include "http/routes.hpp"

#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "http/auth.hpp"
#include "http/metrics_text.hpp"
#include "http/request_parsing.hpp"
#include "http/responses.hpp"
#include "http/target.hpp"

namespace ferro {

namespace {

using steady = std::chrono::steady_clock;

enum class route_id {
  insert,
  query,
  feedback,
  delete_entry,
  invalidate,
  compact,
  entry_stats,
  health,
  stats,
  cluster_status,
  metrics,
};

struct route {
  route_id id;
  std::string_view method; ///< the only method the route accepts
  bool data_route;         ///< honours ?local=true
};

constexpr std::string_view entry_prefix = "/entry/";

std::optional<route> find_route(std::string_view path) {
  if (path == "/insert")
    return route{route_id::insert, "POST", true};
  if (path == "/query")
    return route{route_id::query, "POST", true};
  if (path == "/feedback")
    return route{route_id::feedback, "POST", true};
  if (path.substr(0, entry_prefix.size()) == entry_prefix)
    return route{route_id::delete_entry, "DELETE", true};
  if (path == "/admin/invalidate")
    return route{route_id::invalidate, "POST", true};
  if (path == "/admin/compact")
    return route{route_id::compact, "POST", false};
  if (path == "/admin/entry-stats")
    return route{route_id::entry_stats, "GET", false};
  if (path == "/health")
    return route{route_id::health, "GET", false};
  if (path == "/stats")
    return route{route_id::stats, "GET", false};
  if (path == "/cluster/status")
    return route{route_id::cluster_status, "GET", false};
  if (path == "/metrics")
    return route{route_id::metrics, "GET", false};
  return std::nullopt;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Echoes a client string into a message, cut so errors stay short.
std::string echo(std::string_view s) {
  constexpr std::size_t limit = 200;
  return s.size() <= limit ? std::string{s} : std::string{s.substr(0, limit)} + "...";
}

/// Delivers the response exactly once and counts it.
class responder {
public:
  responder(node_metrics& m, std::function<void(http_response)> done) : metrics_(m), done_(std::move(done)) {}

  void operator()(http_response res) {
    if (sent_.exchange(true))
      return;
    count_response(metrics_, res.status);
    done_(std::move(res));
  }

  node_metrics& metrics() { return metrics_; }

private:
  node_metrics& metrics_;
  std::function<void(http_response)> done_;
  std::atomic<bool> sent_{false};
};

using responder_ptr = std::shared_ptr<responder>;

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

/// Turns a service reply into a response; rendering errors become 500. With
/// `timed`, observes the time from `started` to the response being ready
/// (errors of the service included).
template <class T, class Render>
auto reply_with(responder_ptr out, Render render, latency_histogram* timed = nullptr,
                steady::time_point started = {}) {
  return [out = std::move(out), render = std::move(render), timed, started](result<T> r) mutable {
    http_response res;
    try {
      res = r ? render(*r) : error_response(r.err());
    } catch (const std::exception& e) {
      spdlog::error("http: rendering a reply failed: {}", e.what());
      res = error_response(500, "internal error");
    }
    if (timed)
      timed->observe(seconds_since(started));
    (*out)(std::move(res));
  };
}

void dispatch(const request_view& req, const route& rt, bool local, cache_service& svc,
              const http_options& opts, const responder_ptr& out, steady::time_point started) {
  switch (rt.id) {
    case route_id::insert: {
      auto parsed = parse_insert_request(req.body, opts);
      if (!parsed)
        return (*out)(error_response(parsed.err()));
      parsed->local = local;
      svc.insert(std::move(*parsed), reply_with<insert_reply>(
                                         out, [](const insert_reply& r) { return insert_response(r); },
                                         &out->metrics().insert_duration, started));
      return;
    }
    case route_id::query: {
      auto parsed = parse_query_request(req.body, opts);
      if (!parsed)
        return (*out)(error_response(parsed.err()));
      parsed->local = local;
      const bool with_scope = parsed->ns.has_conversation();
      svc.query(std::move(*parsed),
                reply_with<query_reply>(
                    out, [with_scope](const query_reply& r) { return query_response(r, with_scope); },
                    &out->metrics().query_duration, started));
      return;
    }
    case route_id::feedback: {
      auto parsed = parse_feedback_request(req.body, opts);
      if (!parsed)
        return (*out)(error_response(parsed.err()));
      parsed->local = local;
      svc.feedback(std::move(*parsed), reply_with<feedback_reply>(out, [](const feedback_reply& r) {
                     return feedback_response(r);
                   }));
      return;
    }
    case route_id::delete_entry: {
      auto path = http_detail::split_target(req.target).path;
      auto uuid = http_detail::percent_decode(path.substr(entry_prefix.size()));
      if (!uuid)
        return (*out)(error_response(400, "uuid in the path has a malformed percent escape"));
      if (auto st = validate_uuid(*uuid, opts); !st)
        return (*out)(error_response(st.err()));
      std::string id = *uuid;
      svc.remove(delete_request{std::move(*uuid), local},
                 reply_with<delete_reply>(
                     out, [id = std::move(id)](const delete_reply& r) { return delete_response(r, id); }));
      return;
    }
    case route_id::invalidate: {
      auto parsed = parse_invalidate_request(req.body, opts);
      if (!parsed)
        return (*out)(error_response(parsed.err()));
      parsed->local = local;
      svc.invalidate(std::move(*parsed), reply_with<invalidate_reply>(out, [](const invalidate_reply& r) {
                       return invalidate_response(r);
                     }));
      return;
    }
    case route_id::compact:
      // Takes no body; one that is sent is ignored.
      svc.compact(reply_with<compact_reply>(out, [](const compact_reply& r) { return compact_response(r); }));
      return;
    case route_id::entry_stats:
      svc.entry_stats(reply_with<entry_stats_reply>(
          out, [](const entry_stats_reply& r) { return entry_stats_response(r); }));
      return;
    case route_id::health:
      return (*out)(health_response(svc.health()));
    case route_id::stats: {
      node_metrics* m = &out->metrics();
      svc.stats(reply_with<stats_reply>(out, [m](const stats_reply& r) { return stats_response(r, *m); }));
      return;
    }
    case route_id::cluster_status:
      return (*out)(cluster_status_response(svc.cluster_status()));
    case route_id::metrics: {
      // The synchronous parts are read here, on the calling thread; only the
      // stats travel through the service.
      auto health = svc.health();
      auto cluster = svc.cluster_status();
      node_metrics* m = &out->metrics();
      svc.stats([out, m, health = std::move(health), cluster = std::move(cluster)](result<stats_reply> r) {
        try {
          http_response res;
          res.content_type = std::string{metrics_content_type};
          // Metrics stay available when the stats are not (e.g. while
          // starting): only the per-namespace gauges are left out.
          res.body = render_metrics(*m, health, r ? &*r : nullptr, cluster);
          (*out)(std::move(res));
        } catch (const std::exception& e) {
          spdlog::error("http: rendering metrics failed: {}", e.what());
          (*out)(error_response(500, "internal error"));
        }
      });
      return;
    }
  }
}

} // namespace

bool is_json_content_type(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semi)), "application/json"))
    return false;
  while (semi != std::string_view::npos) {
    content_type.remove_prefix(semi + 1);
    semi = content_type.find(';');
    auto param = content_type.substr(0, semi);
    auto eq = param.find('=');
    if (eq == std::string_view::npos)
      continue;
    if (!iequals(trim(param.substr(0, eq)), "charset"))
      continue;
    auto value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (!iequals(value, "utf-8") && !iequals(value, "utf8"))
      return false;
  }
  return true;
}

void count_response(node_metrics& m, unsigned status) {
  m.http_requests_total.fetch_add(1, std::memory_order_relaxed);
  if (status >= 400)
    m.http_errors_total.fetch_add(1, std::memory_order_relaxed);
  if (status == 429)
    m.http_rejected_overload_total.fetch_add(1, std::memory_order_relaxed);
}

void handle_request(const request_view& req, cache_service& svc, const http_options& opts,
                    std::function<void(http_response)> done) {
  const auto started = steady::now();
  auto out = std::make_shared<responder>(svc.metrics(), std::move(done));
  try {
    if (!request_allowed(opts.auth_token, req.method, req.target, req.authorization))
      return (*out)(error_response(401, "unauthorized"));
    if (req.body.size() > opts.max_body_bytes)
      return (*out)(error_response(413, "request body is larger than " + std::to_string(opts.max_body_bytes) +
                                            " bytes"));
    auto [path, query] = http_detail::split_target(req.target);
    auto rt = find_route(path);
    if (!rt)
      return (*out)(error_response(404, "no route " + echo(path)));
    if (req.method != rt->method) {
      auto res = error_response(405, "method " + echo(req.method) + " is not allowed on " + echo(path) +
                                         "; use " + std::string{rt->method});
      res.headers.emplace_back("Allow", std::string{rt->method});
      return (*out)(std::move(res));
    }
    if (req.method == "POST" && !req.body.empty() && !is_json_content_type(req.content_type))
      return (*out)(error_response(415, "Content-Type must be application/json"));
    bool local = false;
    if (rt->data_route) {
      auto flag = http_detail::parse_local_flag(query);
      if (!flag)
        return (*out)(error_response(flag.err()));
      local = *flag;
    }
    dispatch(req, *rt, local, svc, opts, out, started);
  } catch (const std::exception& e) {
    // A throwing service or allocation failure: answer (unless the service
    // already did) and keep serving.
    spdlog::error("http: request failed: {}", e.what());
    (*out)(error_response(500, "internal error"));
  }
}

} // namespace ferro
